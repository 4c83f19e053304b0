"""Skin detail of synthetic hands, drawn per pixel on the template at rest: nails, joint creases,
knuckle wrinkles, palm lines and fine texture.

Each hand pixel knows where it lies on the template at rest (its face's rest vertices blended by
its barycentrics; metres, the palm faces +z, the fingers point +y) and which joint owns it (the
dominant skinning weight of its nearest corner). The details are functions of that point, so they
stay sharp at any image size and move with the skin as the hand poses. Colours are linear RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmr.hand.conventions import TIP_PARENTS
from cmr.hand.rest_layout import smoothstep
from cmr.hand.skeleton import DIGIT_JOINTS

#: Linear albedo of a nail bed (pink) and of a nail's free edge (off-white) before the skin mix.
NAIL_BED = np.array([0.80, 0.50, 0.47]) ** 2.2
NAIL_EDGE = np.array([0.93, 0.88, 0.80]) ** 2.2
#: Highlight strength of a nail relative to skin (nails are glossy).
NAIL_GLOSS = 5.0


@dataclass(frozen=True)
class HandAnatomy:
    """Rest-frame landmarks of the template (metres), one segment per articulated joint.

    Attributes:
        starts, ends: (16, 3) each joint and the next joint (or fingertip) of its digit; row 0
            is the wrist joint at both ends (its palm pixels get along = 0; ``starts[0]`` places
            the wrist creases).
        dorsal: (16, 3) unit direction from the segment's axis towards the back of the hand,
            perpendicular to the axis.
        kind: (16,) int: 0 palm, 1 proximal, 2 middle, 3 distal segment (the thumb's CMC, MCP
            and IP segments count as 1, 2 and 3).
        palm: (3, 3, 2) the palm lines' Bezier control points (x, y) at rest: distal transverse
            (heart), proximal transverse (head), thenar (life).
        vertex_owner: (778,) int joint of each vertex's largest skinning weight.
    """

    starts: np.ndarray
    ends: np.ndarray
    dorsal: np.ndarray
    kind: np.ndarray
    palm: np.ndarray
    vertex_owner: np.ndarray


def hand_anatomy(rest_joints: np.ndarray, tips: np.ndarray, skin_weights: np.ndarray) -> HandAnatomy:
    """Landmarks from the template: (16, 3) rest joints and (5, 3) fingertips in MANO21 tip order
    (metres), (778, 16) skinning weights."""
    starts, ends = rest_joints.copy(), rest_joints.copy()
    kind = np.zeros(16, dtype=np.int64)
    for joints in DIGIT_JOINTS.values():
        tip = tips[list(TIP_PARENTS).index(joints[-1])]
        for position, joint in enumerate(joints):
            ends[joint] = rest_joints[joints[position + 1]] if position < 2 else tip
            kind[joint] = position + 1
    axis = _unit(ends - starts + (kind == 0)[:, None] * np.array([0.0, 1.0, 0.0]))
    back = np.tile(np.array([0.0, 0.0, -1.0]), (16, 1))
    back[list(DIGIT_JOINTS["thumb"])] = _unit(np.array([0.5, 0.0, -1.0]))  # the thumb's nail turns out
    dorsal = _unit(back - np.sum(back * axis, axis=1, keepdims=True) * axis)
    index, middle, little = (rest_joints[DIGIT_JOINTS[name][0], :2] for name in ("index", "middle", "little"))
    thumb_web = 0.5 * (rest_joints[DIGIT_JOINTS["thumb"][1], :2] + index) - np.array([0.0, 0.02])
    wrist = rest_joints[0, :2]
    palm = np.stack([
        [little + np.array([-0.008, -0.018]), 0.5 * (little + middle) + np.array([0.0, -0.022]),
         0.5 * (index + middle) + np.array([0.0, -0.006])],
        [thumb_web, 0.5 * (thumb_web + little) + np.array([0.0, -0.01]), little + np.array([-0.004, -0.045])],
        [thumb_web, 0.5 * (thumb_web + wrist) + np.array([-0.012, 0.0]), wrist + np.array([0.004, 0.012])],
    ])
    return HandAnatomy(starts, ends, dorsal, kind, palm, skin_weights.argmax(axis=1))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _lines(distance: np.ndarray, offsets: np.ndarray, width: float) -> np.ndarray:
    """(P,) sum of Gaussian lines of ``width`` (metres) at ``offsets`` along a signed distance."""
    return np.exp(-(((distance[:, None] - offsets[None]) / width) ** 2)).sum(axis=1)


def _bezier_distance(points: np.ndarray, controls: np.ndarray, pieces: int = 12) -> np.ndarray:
    """(P,) distance (metres) from (P, 2) points to a quadratic Bezier curve of (3, 2) controls,
    the curve taken as a polyline of ``pieces`` straight pieces."""
    t = np.linspace(0.0, 1.0, pieces + 1)[:, None]
    curve = (1 - t) ** 2 * controls[0] + 2 * t * (1 - t) * controls[1] + t**2 * controls[2]
    start, step = curve[:-1], np.diff(curve, axis=0)  # (S, 2)
    offset = points[:, None] - start[None]  # (P, S, 2)
    along = np.clip((offset * step).sum(-1) / np.maximum((step**2).sum(-1), 1e-12), 0.0, 1.0)
    return np.sqrt(((offset - along[..., None] * step) ** 2).sum(-1).min(axis=1))


@dataclass(frozen=True)
class PixelSkin:
    """Where each hand pixel lies on the template at rest.

    Attributes:
        points: (P, 3) rest positions, metres; normals: (P, 3) rest unit normals.
        owner: (P,) owning joint; along: (P,) distance from the owning segment's start along
            its axis and length: (P,) the segment's length, metres; side: (P,) cosine between
            the direction off the axis and the segment's dorsal direction.
    """

    points: np.ndarray
    normals: np.ndarray
    owner: np.ndarray
    along: np.ndarray
    length: np.ndarray
    side: np.ndarray

    @property
    def fraction(self) -> np.ndarray:
        """(P,) position along the owning segment, 0 at its joint, 1 at the next."""
        return self.along / self.length


def locate_pixels(anatomy: HandAnatomy, rest_vertices: np.ndarray, rest_normals: np.ndarray,
                  corners: np.ndarray, weights: np.ndarray) -> PixelSkin:
    """Rest-frame location of (P, 3) pixel corners (vertex ids) with (P, 3) barycentrics."""
    points = np.einsum("pkc,pk->pc", rest_vertices[corners], weights)
    normals = _unit(np.einsum("pkc,pk->pc", rest_normals[corners], weights))
    owner = anatomy.vertex_owner[corners[np.arange(len(corners)), weights.argmax(axis=1)]]
    start, end = anatomy.starts[owner], anatomy.ends[owner]
    length = np.maximum(np.linalg.norm(end - start, axis=1), 1e-6)
    axis = (end - start) / length[:, None]
    along = np.sum((points - start) * axis, axis=1)
    lateral = _unit(points - start - along[:, None] * axis)
    side = np.sum(lateral * anatomy.dorsal[owner], axis=1)
    return PixelSkin(points, normals, owner, along, length, side)


def nail_weight(rng: np.random.Generator, anatomy: HandAnatomy, skin: PixelSkin) -> tuple[np.ndarray, np.ndarray]:
    """(P,) nail coverage in [0, 1] and (P,) its free edge's share, for one hand's nail length."""
    distal = anatomy.kind[skin.owner] == 3
    base, tip = rng.uniform(0.32, 0.42), rng.uniform(0.9, 0.99)
    edge = rng.uniform(0.0, 0.08)  # trimmed nails show no free edge
    across = smoothstep(0.35, 0.6, skin.side)
    coverage = distal * across * smoothstep(base, base + 0.08, skin.fraction) * (1.0 - smoothstep(tip, tip + 0.04, skin.fraction))
    return coverage, smoothstep(tip - edge, tip - edge + 0.01, skin.fraction) if edge > 0.01 else np.zeros_like(coverage)


def crease_darkening(rng: np.random.Generator, anatomy: HandAnatomy, skin: PixelSkin) -> np.ndarray:
    """(P,) darkening in [0, 1): flexion creases on the palm side of the finger joints and at the
    fingers' base, wrinkles and darker skin over the knuckles on the back."""
    kind, fraction = anatomy.kind[skin.owner], skin.fraction
    thumb = np.isin(skin.owner, DIGIT_JOINTS["thumb"])
    near_start = fraction < 0.5
    joint_distance = np.where(near_start, skin.along, skin.along - skin.length)  # to the nearer joint
    at_joint = np.where(near_start, kind >= 2, (kind == 1) | (kind == 2))  # PIP, DIP (thumb: MCP, IP)
    width = rng.uniform(0.3, 0.5) * 1e-3
    creases = at_joint * _lines(joint_distance, np.array([-0.9e-3, 0.9e-3]), width)
    finger_base = (kind == 1) & ~thumb
    creases = creases + finger_base * _lines(skin.along - rng.uniform(0.35, 0.45) * skin.length, np.zeros(1), width)
    wrinkles = at_joint * _lines(joint_distance, np.linspace(-2.4e-3, 2.4e-3, 5), 0.5 * width)
    knuckle = (at_joint | (finger_base & near_start)) * np.exp(-((joint_distance / 4e-3) ** 2))
    palmar = smoothstep(-0.2, -0.5, skin.side)
    dorsal = smoothstep(0.1, 0.45, skin.side)
    amount = (rng.uniform(0.25, 0.45) * palmar * np.minimum(creases, 1.0)
              + dorsal * (rng.uniform(0.06, 0.16) * np.minimum(wrinkles, 1.0) + rng.uniform(0.05, 0.2) * knuckle))
    return np.clip(amount, 0.0, 0.9)


def palm_lines(rng: np.random.Generator, anatomy: HandAnatomy, skin: PixelSkin) -> np.ndarray:
    """(P,) darkening of the three main palm lines and the wrist creases, each hand's own."""
    on_palm = (anatomy.kind[skin.owner] <= 1) * smoothstep(0.2, 0.5, skin.normals[:, 2])
    darkness = np.zeros(len(skin.points))
    for controls in anatomy.palm:
        jittered = controls + rng.normal(0.0, 0.003, controls.shape)
        width = rng.uniform(0.4, 0.8) * 1e-3
        darkness += rng.uniform(0.15, 0.35) * np.exp(-((_bezier_distance(skin.points[:, :2], jittered) / width) ** 2))
    wrist = anatomy.starts[0, 1] + rng.uniform(0.0, 0.006)
    darkness += rng.uniform(0.0, 0.25) * _lines(skin.points[:, 1], np.array([wrist, wrist - 0.004]), 0.6e-3)
    return np.clip(on_palm * darkness, 0.0, 0.8)


def fine_texture(rng: np.random.Generator, points: np.ndarray, waves: int = 16) -> np.ndarray:
    """(P,) relative albedo variation of pores and fine lines: plane waves 1-4 mm long."""
    total = np.zeros(len(points))
    for _ in range(waves):
        direction = rng.normal(size=3)
        direction *= 2.0 * np.pi / (rng.uniform(1e-3, 4e-3) * np.linalg.norm(direction))
        total += np.cos(points @ direction + rng.uniform(0.0, 2.0 * np.pi))
    return rng.uniform(0.015, 0.045) * total / np.sqrt(waves)


def detailed_albedo(rng: np.random.Generator, anatomy: HandAnatomy, skin: PixelSkin, albedo: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(P, 3) linear pixel albedo with nails, creases, palm lines and texture, and (P,) gloss
    (a multiplier of the light's highlight)."""
    shade = (1.0 - crease_darkening(rng, anatomy, skin)) * (1.0 - palm_lines(rng, anatomy, skin))
    albedo = albedo * (shade * (1.0 + fine_texture(rng, skin.points)))[:, None]
    nail, free_edge = nail_weight(rng, anatomy, skin)
    bed = albedo * rng.uniform(0.35, 0.6) + NAIL_BED * rng.uniform(0.4, 0.6) * rng.uniform(0.8, 1.1)
    nail_colour = bed + free_edge[:, None] * (NAIL_EDGE - bed)
    albedo = albedo + nail[:, None] * (nail_colour - albedo)
    return np.clip(albedo, 0.0, 1.0).astype(np.float32), 1.0 + (NAIL_GLOSS - 1.0) * nail
