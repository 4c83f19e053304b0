"""The palm of the procedural rest hand: finger base rings, palm rings and the thumb hole.

The palm is a tube of rounded-box cross-sections from the wrist opening (the only boundary
loop of the mesh, :data:`WRIST_COLUMNS` vertices) to the knuckles, with
:data:`PALM_COLUMNS` vertices per ring. Its top ring is the outline of the four finger base
rings, neighbouring fingers sharing one web vertex. The thumb roots in a hole cut in the
palm's radial side: a 4 x 3 patch of palm vertices loses its 2 interior vertices. Metres
and the frame of :mod:`cmr.hand.rest_layout`.
"""

from __future__ import annotations

import numpy as np

from cmr.hand.mesh_building import ellipse_ring
from cmr.hand.rest_digits import FINGER_BASE_OFFSET, FINGER_JOINTS, FINGER_RING, FINGERS, Digit, finger_radius
from cmr.hand.rest_layout import PALM_NORMAL, HandProportions, Layout, smoothstep

PALM_COLUMNS = 26
PALM_RINGS = 13  # including the wrist ring
WRIST_COLUMNS = 21
#: Palm rows/columns whose patch boundary roots the thumb (rows from the wrist, columns from +x).
THUMB_PATCH_ROWS = (3, 4, 5)
THUMB_PATCH_COLUMNS = (-1, 0, 1, 2)
#: Superellipse exponent of the palm cross-section (< 1 gives a rounded box).
PALM_BOXINESS = 0.6
#: Distance (metres) from a finger's MCP along its bone to the nominal web line.
WEB_OFFSET = 0.006


def _rounded_box(half_width: float, half_thickness: float, fractions: np.ndarray) -> np.ndarray:
    """Points (n, 3) with y = 0 on a superellipse cross-section at arc-length fractions (n,).

    The outline starts at +x and runs toward +z (the palm side); metres.
    """
    angles = np.linspace(0.0, 2.0 * np.pi, 721)
    cos, sin = np.cos(angles), np.sin(angles)
    outline = np.stack(
        [half_width * np.sign(cos) * np.abs(cos) ** PALM_BOXINESS, half_thickness * np.sign(sin) * np.abs(sin) ** PALM_BOXINESS],
        axis=1,
    )
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(outline, axis=0), axis=1))])
    arc /= arc[-1]
    x, z = np.interp(fractions, arc, outline[:, 0]), np.interp(fractions, arc, outline[:, 1])
    return np.stack([x, np.zeros_like(x), z], axis=1)


def _add_webs(layout: Layout, fingers: dict[str, Digit], props: HandProportions) -> list[int]:
    """Add the 3 web (crotch) vertices between neighbouring fingers; returns their ids."""
    nominal_lateral = {}
    for name, digit in fingers.items():
        centre = digit.joints[0] + WEB_OFFSET * digit.directions[0]
        half_width = finger_radius(name, 0.0, props) * 1.05
        nominal_lateral[name] = (centre + half_width * digit.lateral, centre - half_width * digit.lateral)
    webs = [0.5 * (nominal_lateral[a][1] + nominal_lateral[b][0]) for a, b in zip(FINGERS[:-1], FINGERS[1:])]
    return [layout.add(point)[0] for point in webs]


def add_finger_bases(layout: Layout, fingers: dict[str, Digit], props: HandProportions
                     ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Add the finger base rings and their webs: the palm's top outline.

    Returns:
        base_rings: finger name -> (8,) int64 vertex ids of its base ring.
        top_outline: (26,) int64 ids of the outline, palm side first, from +x.
    """
    web_ids = _add_webs(layout, fingers, props)
    base_rings = {}
    for index, (name, digit) in enumerate(fingers.items()):
        radius = finger_radius(name, 0.0, props)
        thickness = 0.5 * props.palm_thickness * 0.75
        centre = digit.joints[0] + FINGER_BASE_OFFSET * digit.directions[0]
        ring = ellipse_ring(centre, digit.lateral, PALM_NORMAL, radius * 1.05, thickness, FINGER_RING)
        ids = np.empty(FINGER_RING, dtype=np.int64)
        own = [k for k in range(FINGER_RING) if not (k == 0 and index > 0) and not (k == 4 and index < 3)]
        ids[own] = layout.add(ring[own])
        if index > 0:
            ids[0] = web_ids[index - 1]
        if index < 3:
            ids[4] = web_ids[index]
        base_rings[name] = ids
        layout.label(ids[own], {0: 0.5, FINGER_JOINTS[name][0]: 0.5})
    layout.label(np.array(web_ids), {0: 1.0})
    front = [base_rings["index"][0]]
    for name in FINGERS:
        front += list(base_rings[name][1:5])
    back = []
    for name in reversed(FINGERS):
        back += list(base_rings[name][5:8]) + ([base_rings[name][0]] if name != "index" else [])
    return base_rings, np.array(front + back)


def _palm_section(row: int, top_closed: np.ndarray, top_arc: np.ndarray, props: HandProportions) -> np.ndarray:
    """Points (count, 3) of palm ring ``row`` (0 = wrist), blending a rounded box into the top.

    ``top_closed`` (T + 1, 3) is the top outline with its first point repeated and
    ``top_arc`` (T + 1,) its normalised arc length.
    """
    count = WRIST_COLUMNS if row == 0 else PALM_COLUMNS
    t = row / PALM_RINGS
    fractions = np.arange(count) / count
    half_width = props.palm_width / 0.084 * (0.029 + 0.013 * smoothstep(0.0, 0.55, t))
    half_thickness = 0.5 * props.palm_thickness * (1.25 - 0.25 * smoothstep(0.0, 0.45, t))
    section = _rounded_box(half_width, half_thickness, fractions)
    # Thenar and hypothenar pads: the palm front bulges near its radial and ulnar edges.
    pad = 0.004 * props.palm_thickness / 0.028 * np.exp(-(((t - 0.35) / 0.25) ** 2))
    section[:, 2] += pad * np.clip(section[:, 2] / half_thickness, 0.0, None) * (section[:, 0] / half_width) ** 2
    top = np.stack([np.interp(fractions, top_arc, top_closed[:, c]) for c in range(3)], axis=1)
    blend = t**3
    points = (1.0 - blend) * section + blend * top
    wrist_y = -0.012 * props.palm_length / 0.092
    points[:, 1] = wrist_y + t * (top[:, 1] - wrist_y)
    return points


def add_palm(layout: Layout, top_outline: np.ndarray, props: HandProportions) -> list[np.ndarray]:
    """Add the palm rings from the wrist up to ``top_outline`` (ids) and their faces.

    Returns the :data:`PALM_RINGS` rings' int64 vertex ids, wrist first; the two vertices
    inside the thumb patch are left out and hold -1.
    """
    top_points = layout.all_positions()[top_outline]
    top_closed = np.concatenate([top_points, top_points[:1]])
    top_arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(top_closed, axis=0), axis=1))])
    top_arc /= top_arc[-1]
    palm_rings = []
    interior = {(row, c % PALM_COLUMNS) for row in THUMB_PATCH_ROWS[1:-1] for c in THUMB_PATCH_COLUMNS[1:-1]}
    for row in range(PALM_RINGS):
        points = _palm_section(row, top_closed, top_arc, props)
        keep = [c for c in range(len(points)) if (row, c) not in interior]
        ids = np.full(len(points), -1, dtype=np.int64)
        ids[keep] = layout.add(points[keep])
        palm_rings.append(ids)
        layout.label(ids[keep], {0: 1.0})
    layout.strips.append((palm_rings[0], palm_rings[1]))
    for lower, upper in zip(palm_rings[1:-1], palm_rings[2:]):
        for c in range(PALM_COLUMNS):
            quad = (lower[c], lower[(c + 1) % PALM_COLUMNS], upper[c], upper[(c + 1) % PALM_COLUMNS])
            if min(quad) >= 0:  # quads touching the removed thumb-patch interior are left out
                layout.quads.append(quad)
    layout.strips.append((palm_rings[-1], top_outline))
    return palm_rings


def thumb_root_ring(palm_rings: list[np.ndarray]) -> np.ndarray:
    """(10,) int64 vertex ids around the thumb hole, in ring order from the patch's first corner."""
    rows = THUMB_PATCH_ROWS
    columns = [c % PALM_COLUMNS for c in THUMB_PATCH_COLUMNS]
    boundary = (
        [palm_rings[rows[0]][c] for c in columns]
        + [palm_rings[r][columns[-1]] for r in rows[1:]]
        + [palm_rings[rows[-1]][c] for c in reversed(columns[:-1])]
        + [palm_rings[r][columns[0]] for r in reversed(rows[1:-1])]
    )
    return np.array(boundary)
