"""Appearance of synthetic samples: skin, light, backgrounds, forearm colours, occluders, camera effects.

Images are float32 (H, W, 3) RGB in [0, 1] (display, i.e. sRGB, values) until
:func:`finish_image` turns them into uint8. Shading happens in linear RGB. Every function takes
the numpy ``Generator`` of one image version, so all draws are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Display gamma between linear shading and sRGB-like values.
GAMMA = 2.2
#: Skin tones (sRGB, 0-255) from very light to very dark; a sample blends two neighbours.
SKIN_TONES = np.array([
    (250, 220, 200), (241, 198, 172), (228, 180, 150), (214, 160, 126), (196, 140, 106),
    (172, 116, 86), (142, 92, 66), (112, 72, 52), (84, 56, 42), (62, 42, 32),
], dtype=np.float32) / 255.0
#: Probability of a forearm (and maybe a sleeve) behind the hand, and of an occluder over it.
FOREARM_PROBABILITY = 0.75
OCCLUDER_PROBABILITY = 0.25


@dataclass(frozen=True)
class Light:
    """Light of one image (linear RGB, camera space, y pointing down).

    Attributes:
        directions: (K, 3) unit vectors from the surface towards each light, the key light first
            (K = 1 to 3: key, fill, rim).
        colours: (K, 3) diffuse colour of each light.
        sky, ground: (3,) ambient light from above (-y) and from below (+y, light bounced off
            the floor or a table); a normal between them gets a blend (hemisphere lighting).
        wrap: diffuse wrap in [0, 0.5): light reaching past the terminator, as it does through
            skin, so shading falls off softly.
        specular: strength of the key light's Blinn-Phong highlight; shininess: its exponent.
    """

    directions: np.ndarray
    colours: np.ndarray
    sky: np.ndarray
    ground: np.ndarray
    wrap: float
    specular: float
    shininess: float


def sample_skin_tone(rng: np.random.Generator) -> np.ndarray:
    """(3,) base skin colour, sRGB in [0, 1]: a blend of neighbouring tones with a small tint."""
    position = rng.uniform(0.0, len(SKIN_TONES) - 1.0)
    low = int(position)
    high = min(low + 1, len(SKIN_TONES) - 1)
    tone = SKIN_TONES[low] + (position - low) * (SKIN_TONES[high] - SKIN_TONES[low])
    tint = 1.0 + rng.normal(0.0, [0.03, 0.025, 0.035])
    return np.clip(tone * tint * rng.uniform(0.92, 1.06), 0.0, 1.0).astype(np.float32)


def skin_albedo(rng: np.random.Generator, tone: np.ndarray, rest_vertices: np.ndarray,
                rest_normals: np.ndarray) -> np.ndarray:
    """(N, 3) per-vertex linear albedo around a skin tone.

    Args:
        tone: (3,) sRGB base colour in [0, 1].
        rest_vertices: (N, 3) rest-frame vertices, metres (palm faces +z).
        rest_normals: (N, 3) rest-frame unit normals.

    Variation: lighter, pinker palms; smooth blotches (random plane waves 2-8 cm long);
    fine per-vertex noise.
    """
    palm = np.clip(rest_normals[:, 2], 0.0, 1.0)[:, None]
    colour = tone * (1.0 + palm * np.array([0.10, 0.06, 0.05]) * rng.uniform(0.3, 1.5))
    waves = np.zeros(len(rest_vertices), dtype=np.float64)
    for _ in range(3):
        direction = rng.normal(size=3)
        direction *= 2.0 * np.pi / (rng.uniform(0.02, 0.08) * np.linalg.norm(direction))
        waves += np.cos(rest_vertices @ direction + rng.uniform(0.0, 2.0 * np.pi))
    redness = np.array([0.04, -0.02, -0.03]) * rng.uniform(0.0, 1.0)
    colour = colour * (1.0 + 0.025 * waves[:, None] + redness * waves[:, None] / 3.0)
    colour = colour * (1.0 + rng.normal(0.0, 0.012, (len(colour), 1)))
    return np.clip(colour, 0.0, 1.0).astype(np.float32) ** GAMMA


def _tint(rng: np.random.Generator, spread: float) -> np.ndarray:
    """(3,) warm-to-cool colour-temperature factor, red up when blue goes down."""
    warmth = rng.uniform(-spread, spread)
    return np.array([1.0 + warmth, 1.0, 1.0 - warmth])


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def sample_light(rng: np.random.Generator) -> Light:
    """A key light from the camera's side (mostly from above), often a fill light from elsewhere
    on that side and sometimes a rim light from behind, each with its own colour temperature;
    hemisphere ambient from a sky and a ground colour; soft, skin-like wrap."""
    directions = [_unit(np.array([rng.normal(0.0, 0.7), rng.normal(-0.3, 0.6), -1.0]))]
    colours = [rng.uniform(0.45, 0.95) * _tint(rng, 0.08)]
    if rng.random() < 0.7:  # fill: dimmer, from anywhere on the camera's side
        directions.append(_unit(np.array([rng.normal(0.0, 1.0), rng.normal(0.0, 1.0), -abs(rng.normal(0.5, 0.5))])))
        colours.append(rng.uniform(0.1, 0.4) * _tint(rng, 0.15))
    if rng.random() < 0.25:  # rim: from behind the hand, lighting its edges
        directions.append(_unit(np.array([rng.normal(0.0, 1.0), rng.normal(-0.5, 0.7), rng.uniform(0.3, 1.0)])))
        colours.append(rng.uniform(0.2, 0.6) * _tint(rng, 0.15))
    sky = rng.uniform(0.15, 0.45) * _tint(rng, 0.1) * (1.0 + rng.normal(0.0, 0.04, 3))
    ground = sky * rng.uniform(0.3, 1.0) * (1.0 + rng.normal(0.0, 0.12, 3))  # bounce, tinted by the floor
    return Light(np.stack(directions), np.stack(colours), sky, np.clip(ground, 0.0, None),
                 float(rng.uniform(0.0, 0.5)), float(rng.uniform(0.0, 0.12)), float(rng.uniform(8.0, 30.0)))


def shade(albedo: np.ndarray, normals: np.ndarray, light: Light, gloss: np.ndarray | None = None) -> np.ndarray:
    """Wrapped Lambert from every light, hemisphere ambient, a Blinn-Phong highlight from the
    key light; sRGB in [0, 1].

    Args:
        albedo: (P, 3) linear albedo; normals: (P, 3) unit normals, camera space.
        gloss: (P,) multiplier of the highlight (nails are glossier than skin); None: 1.
    Returns:
        (P, 3) float32 display colour.
    """
    cosines = np.clip((normals @ light.directions.T + light.wrap) / (1.0 + light.wrap), 0.0, None)  # (P, K)
    diffuse = cosines @ light.colours
    upward = np.clip(0.5 - 0.5 * normals[:, 1:2], 0.0, 1.0)  # 1 facing up (-y), 0 facing down
    ambient = light.ground + upward * (light.sky - light.ground)
    halfway = _unit(light.directions[0] + np.array([0.0, 0.0, -1.0]))
    highlight = light.specular * np.clip(normals @ halfway, 0.0, None)[:, None] ** light.shininess
    if gloss is not None:
        highlight = highlight * gloss[:, None]
    linear = albedo * (ambient + diffuse) + highlight * light.colours[0]
    return np.clip(linear, 0.0, 1.0).astype(np.float32) ** (1.0 / GAMMA)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """(3,) float32 colour: mostly muted, sometimes saturated."""
    grey = rng.uniform(0.05, 0.95)
    saturation = rng.uniform(0.0, 0.6) if rng.random() < 0.7 else rng.uniform(0.5, 1.0)
    return np.clip(grey + saturation * (rng.random(3) - 0.5), 0.0, 1.0).astype(np.float32)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (H, W) u and v of a square image."""
    axis = np.arange(size, dtype=np.float32)
    return np.meshgrid(axis, axis)


def _smooth_noise(rng: np.random.Generator, size: int, octaves: int = 4) -> np.ndarray:
    """(size, size) fractal value noise in [0, 1]."""
    noise = np.zeros((size, size), dtype=np.float32)
    cells = int(rng.integers(2, 6))
    for octave in range(octaves):
        grid = rng.random((cells << octave, cells << octave), dtype=np.float32)
        noise += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC) * 0.5**octave
    noise -= noise.min()
    return noise / max(float(noise.max()), 1e-6)


def _blend(weight: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 mix of two colours or images by an (H, W) weight in [0, 1]."""
    first, second = np.asarray(first, dtype=np.float32), np.asarray(second, dtype=np.float32)
    return first + weight[..., None] * (second - first)


def gradient_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) linear or radial two-colour gradient."""
    u, v = _grid(size)
    if rng.random() < 0.6:
        angle = rng.uniform(0.0, 2.0 * np.pi)
        ramp = u * np.cos(angle) + v * np.sin(angle)
    else:
        centre = rng.uniform(-0.2, 1.2, 2) * size
        ramp = np.hypot(u - centre[0], v - centre[1])
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return _blend(ramp, _random_colour(rng), _random_colour(rng))


def noise_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) fractal noise between two colours, sometimes per channel."""
    if rng.random() < 0.3:
        return np.stack([_smooth_noise(rng, size) for _ in range(3)], axis=-1) * rng.uniform(0.4, 1.0)
    return _blend(_smooth_noise(rng, size, octaves=int(rng.integers(2, 6))),
                  _random_colour(rng), _random_colour(rng))


def pattern_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) rotated stripes or checkers, sharp or soft, sometimes warped."""
    u, v = _grid(size)
    angle = rng.uniform(0.0, np.pi)
    a = u * np.cos(angle) + v * np.sin(angle)
    b = -u * np.sin(angle) + v * np.cos(angle)
    if rng.random() < 0.4:
        warp = (_smooth_noise(rng, size, octaves=2) - 0.5) * rng.uniform(0.0, 30.0)
        a = a + warp
    period = rng.uniform(5.0, 40.0)
    wave = np.sin(2.0 * np.pi * a / period)
    if rng.random() < 0.5:
        wave = wave * np.sin(2.0 * np.pi * b / rng.uniform(5.0, 40.0))
    sharpness = rng.uniform(1.0, 20.0)
    weight = 0.5 + 0.5 * np.tanh(sharpness * wave)
    return _blend(weight.astype(np.float32), _random_colour(rng), _random_colour(rng))


def _random_polygon(rng: np.random.Generator, centre: np.ndarray, radius: float) -> np.ndarray:
    """(n, 2) int32 star-shaped polygon around ``centre`` (pixels)."""
    count = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, count))
    radii = radius * rng.uniform(0.4, 1.0, count)
    points = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return np.round(points).astype(np.int32)


def draw_shape(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, radius: float,
               colour: np.ndarray) -> None:
    """Draw one filled ellipse, rectangle, polygon or thick line on ``canvas`` (H, W, 3) in place."""
    kind = int(rng.integers(4))
    colour = tuple(float(c) for c in colour)
    centre_int = tuple(int(round(c)) for c in centre)
    if kind == 0:
        axes = (max(1, int(radius)), max(1, int(radius * rng.uniform(0.2, 1.0))))
        cv2.ellipse(canvas, centre_int, axes, rng.uniform(0.0, 180.0), 0.0, 360.0, colour, -1)
    elif kind == 1:
        box = cv2.boxPoints((centre_int, (2.0 * radius, 2.0 * radius * rng.uniform(0.1, 1.0)), rng.uniform(0.0, 180.0)))
        cv2.fillConvexPoly(canvas, np.round(box).astype(np.int32), colour)
    elif kind == 2:
        cv2.fillPoly(canvas, [_random_polygon(rng, centre, radius)], colour)
    else:
        angle = rng.uniform(0.0, np.pi)
        offset = radius * np.array([np.cos(angle), np.sin(angle)])
        start, end = (tuple(int(round(x)) for x in centre + s * offset) for s in (-1.5, 1.5))
        cv2.line(canvas, start, end, colour, int(rng.integers(1, max(2, int(radius / 3)))))


def add_clutter(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """Scatter 3-20 random shapes (some skin-coloured) over ``canvas`` (H, W, 3) in place."""
    size = canvas.shape[0]
    for _ in range(int(rng.integers(3, 21))):
        colour = sample_skin_tone(rng) if rng.random() < 0.08 else _random_colour(rng)
        draw_shape(rng, canvas, rng.uniform(-0.1, 1.1, 2) * size, rng.uniform(0.03, 0.35) * size, colour)


def sample_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32 procedural background in [0, 1]: a texture, clutter, blur."""
    texture = (gradient_texture, noise_texture, pattern_texture)[int(rng.choice(3, p=[0.3, 0.35, 0.35]))]
    background = np.ascontiguousarray(texture(rng, size), dtype=np.float32)
    if rng.random() < 0.3:  # a second texture over part of the frame, e.g. a wall and a table
        other = (gradient_texture, noise_texture, pattern_texture)[int(rng.integers(3))](rng, size)
        split = np.zeros((size, size), dtype=np.float32)
        draw_shape(rng, split, rng.uniform(0.0, 1.0, 2) * size, rng.uniform(0.3, 0.8) * size, np.ones(3))
        background = _blend(split, background, other.astype(np.float32))
    if rng.random() < 0.65:
        add_clutter(rng, background)
    sigma = rng.uniform(0.0, 2.5)
    if sigma > 0.3:
        background = cv2.GaussianBlur(background, (0, 0), sigma)
    return np.clip(background, 0.0, 1.0)


def arm_colours(rng: np.random.Generator, normals: np.ndarray, along: np.ndarray, skin: np.ndarray,
                light: Light) -> np.ndarray:
    """(P, 3) display colours of a forearm's pixels: skin near the wrist, sometimes a sleeve
    from some distance along the arm, shaded by the hand's lights.

    Args:
        normals: (P, 3) unit camera-space normals; along: (P,) distance from the wrist, metres.
        skin: (3,) linear albedo typical of the hand (the whole arm a little darker than it).
    """
    albedo = np.tile(skin * rng.uniform(0.88, 1.0), (len(normals), 1))
    if rng.random() < 0.5:  # a sleeve
        cloth = _random_colour(rng).astype(np.float64) ** GAMMA
        albedo[along > rng.uniform(0.03, 0.2)] = cloth
    return shade(albedo, normals, light)


def draw_occluder(rng: np.random.Generator, image: np.ndarray, hand_mask: np.ndarray) -> None:
    """Paint an object over part of the hand, in place.

    Args:
        image: (H, W, 3) composited image.
        hand_mask: (H, W) bool hand silhouette (unchanged: occluders are drawn in the RGB only).
    """
    rows, columns = np.nonzero(hand_mask)
    if len(rows) == 0:
        return
    pick = int(rng.integers(len(rows)))
    extent = max(np.ptp(rows), np.ptp(columns), 1)
    layer = np.zeros(hand_mask.shape, dtype=np.float32)
    draw_shape(rng, layer, np.array([columns[pick], rows[pick]], dtype=np.float64),
               rng.uniform(0.12, 0.35) * extent, np.ones(3))
    size = image.shape[0]
    fill = gradient_texture(rng, size) if rng.random() < 0.5 else noise_texture(rng, size)
    image[:] = _blend(layer, image, fill.astype(np.float32))


def _motion_blur(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A straight camera or hand shake: a line kernel 3-9 px long at a random angle."""
    length = int(rng.integers(3, 10))
    kernel = np.zeros((length, length), dtype=np.float32)
    centre = (length - 1) / 2.0
    angle = rng.uniform(0.0, np.pi)
    offset = centre * np.array([np.cos(angle), np.sin(angle)])
    start, end = (tuple(int(round(c)) for c in centre + sign * offset) for sign in (-1, 1))
    cv2.line(kernel, start, end, 1.0, 1)
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def _vignette(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Darker corners: a radial fall-off of 10-40 % at the frame's corners."""
    u, v = _grid(image.shape[0])
    centre = (image.shape[0] - 1) / 2.0
    radius2 = ((u - centre) ** 2 + (v - centre) ** 2) / (2.0 * centre**2)
    return image * (1.0 - rng.uniform(0.1, 0.4) * radius2)[..., None]


def _jpeg(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB through JPEG at quality 30-90 (blocks and chroma loss of phone photos)."""
    quality = int(rng.integers(30, 91))
    _, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def finish_image(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera effects: defocus, sometimes motion blur, white balance and exposure, sometimes
    vignetting, sensor noise (read and shot), sometimes JPEG; (H, W, 3) float in [0, 1] -> uint8."""
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.35, 1.1))
    if rng.random() < 0.2:
        image = _motion_blur(rng, image)
    gain = rng.uniform(0.85, 1.15) * _tint(rng, 0.08) * (1.0 + rng.normal(0.0, 0.03, 3))
    contrast = rng.uniform(0.85, 1.15)
    image = (image * gain.astype(np.float32) - 0.5) * contrast + 0.5
    if rng.random() < 0.3:
        image = _vignette(rng, image)
    variance = rng.uniform(0.003, 0.02) ** 2 + rng.uniform(0.0, 0.0004) * np.clip(image, 0.0, 1.0)
    image = image + np.sqrt(variance).astype(np.float32) * rng.standard_normal(image.shape, dtype=np.float32)
    pixels = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    return _jpeg(rng, pixels) if rng.random() < 0.5 else pixels
