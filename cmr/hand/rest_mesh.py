"""Procedural rest mesh and rig of the open right hand (778 vertices, disk topology).

Frame (MANO's flat hand): metres, wrist joint at the origin, fingers along +y, palm facing
+z, back of the hand toward -z, thumb on the +x side (a right hand).

Construction (all deterministic, driven by a :class:`HandProportions`):

* the palm is a tube of rounded-box cross-sections from the wrist opening (the only
  boundary loop) to the knuckles, with ``PALM_COLUMNS`` vertices per ring;
* each finger is a tube of ``FINGER_RING`` -vertex elliptic rings along its straight bone,
  with rings exactly at PIP and DIP and a rounded cap ending in one tip vertex; the finger
  base rings form the palm's top ring, neighbouring fingers sharing one web vertex;
* the thumb is a tube of ``THUMB_RING`` -vertex rings rooted in a hole cut in the palm's
  radial side (a 4 x 3 patch of palm vertices loses its 2 interior vertices).

The vertex positions depend on the proportions; the connectivity does not (it is built once
from the mean hand), so any proportions give the same faces and vertex order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cmr.hand.mesh_building import cap_ring, ellipse_ring, stitch_rings

NUM_VERTICES = 778
FINGER_RING = 8
THUMB_RING = 10
PALM_COLUMNS = 26
PALM_RINGS = 13  # including the wrist ring
WRIST_COLUMNS = 21
#: Palm rows/columns whose patch boundary roots the thumb (rows from the wrist, columns from +x).
THUMB_PATCH_ROWS = (3, 4, 5)
THUMB_PATCH_COLUMNS = (-1, 0, 1, 2)
#: Superellipse exponent of the palm cross-section (< 1 gives a rounded box).
PALM_BOXINESS = 0.6
#: Tube rings per bone segment of each digit (to the middle joint, to the distal joint, to
#: the cap), about 8 mm apart on the mean hand; fixed so every hand shares the topology.
RING_COUNTS = {"index": (4, 3, 2), "middle": (5, 3, 2), "ring": (5, 3, 2), "little": (4, 2, 2), "thumb": (2, 4, 2)}

#: Fingers from the radial side (+x) to the ulnar side.
FINGERS = ("index", "middle", "ring", "little")
#: MANO joint ids of each finger's MCP, PIP and DIP.
FINGER_JOINTS = {"index": (1, 2, 3), "middle": (4, 5, 6), "ring": (10, 11, 12), "little": (7, 8, 9)}
#: Position of each tip in MANO21 tip order [index, middle, little, ring, thumb].
TIP_ORDER = ("index", "middle", "little", "ring", "thumb")


@dataclass(frozen=True)
class FingerSpec:
    """Mean geometry of one finger; lengths and radii in metres, angles in degrees."""

    mcp_x: float  # MCP x as a fraction of the palm width
    mcp_y: float  # MCP y as a fraction of the palm length
    splay: float  # rotation of the finger direction from +y toward -x (ulnar), degrees
    phalanges: tuple[float, float, float]  # proximal, middle, distal (DIP to tip)
    radius: float  # half-width of the proximal phalanx


FINGER_SPECS = {
    "index": FingerSpec(0.330, 0.955, -5.0, (0.040, 0.024, 0.021), 0.0090),
    "middle": FingerSpec(0.090, 1.000, -1.0, (0.045, 0.028, 0.022), 0.0093),
    "ring": FingerSpec(-0.155, 0.965, 3.5, (0.042, 0.027, 0.022), 0.0088),
    "little": FingerSpec(-0.385, 0.860, 9.0, (0.033, 0.020, 0.020), 0.0078),
}


@dataclass(frozen=True)
class HandProportions:
    """Physical proportions of a hand; the mean hand is the default.

    Attributes:
        scale: overall size factor applied last.
        palm_width: knuckle-line palm width, metres.
        palm_length: wrist to middle MCP, metres.
        palm_thickness: mid-palm thickness (front to back), metres.
        finger_length: factor on every phalanx of the four fingers.
        radial_finger_length: extra factor on index and middle (ring/little get the inverse).
        little_length: extra factor on the little finger.
        finger_thickness: factor on the radii of the four fingers.
        thumb_length: factor on the thumb's bones.
        thumb_thickness: factor on the thumb's radii.
    """

    scale: float = 1.0
    palm_width: float = 0.084
    palm_length: float = 0.092
    palm_thickness: float = 0.028
    finger_length: float = 1.0
    radial_finger_length: float = 1.0
    little_length: float = 1.0
    finger_thickness: float = 1.0
    thumb_length: float = 1.0
    thumb_thickness: float = 1.0


@dataclass(frozen=True)
class _Digit:
    """Rest geometry of one digit: joints along a bone polyline and ring placement."""

    joints: np.ndarray  # (3, 3) root, middle and distal joint centres
    tip: np.ndarray  # (3,) fingertip surface point
    directions: np.ndarray  # (3, 3) unit bone directions of the three segments
    lateral: np.ndarray  # (3,) the axis e1 of the rings (x-like for fingers)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rounded_box(half_width: float, half_thickness: float, fractions: np.ndarray) -> np.ndarray:
    """Points (n, 3) with y = 0 on a superellipse cross-section at arc-length fractions.

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


def _finger_digit(name: str, props: HandProportions) -> _Digit:
    spec = FINGER_SPECS[name]
    length_factor = props.finger_length
    if name in ("index", "middle"):
        length_factor *= props.radial_finger_length
    else:
        length_factor /= props.radial_finger_length
    if name == "little":
        length_factor *= props.little_length
    mcp = np.array([spec.mcp_x * props.palm_width, spec.mcp_y * props.palm_length, 0.0])
    angle = np.radians(spec.splay)
    direction = np.array([-np.sin(angle), np.cos(angle), 0.0])
    lengths = np.array(spec.phalanges) * length_factor
    pip = mcp + lengths[0] * direction
    dip = pip + lengths[1] * direction
    tip = dip + lengths[2] * direction
    return _Digit(np.stack([mcp, pip, dip]), tip, np.tile(direction, (3, 1)), _unit(np.cross(direction, [0, 0, 1])))


#: Thumb flexion direction at rest (toward the palm and the little finger).
THUMB_FLEXION_DIRECTION = _unit(np.array([-0.80, 0.0, 0.60]))


def _thumb_digit(props: HandProportions) -> _Digit:
    # CMC low on the radial side near the wrist; metacarpal ~4.5 cm, proximal ~3.1 cm, distal
    # ~2.6 cm: at rest the tip reaches the index MCP level, ~35 degrees away from the index.
    cmc = np.array([0.019 * props.palm_width / 0.084, 0.008 * props.palm_length / 0.092, 0.006])
    directions = np.stack([_unit(np.array(d)) for d in ([0.70, 0.68, 0.22], [0.45, 0.885, 0.12], [0.33, 0.94, 0.06])])
    lengths = np.array([0.045, 0.031, 0.026]) * props.thumb_length
    mcp = cmc + lengths[0] * directions[0]
    ip = mcp + lengths[1] * directions[1]
    tip = ip + lengths[2] * directions[2]
    return _Digit(np.stack([cmc, mcp, ip]), tip, directions, _unit(np.cross(directions[0], THUMB_FLEXION_DIRECTION)))


def _finger_radius(name: str, fraction: np.ndarray, props: HandProportions) -> np.ndarray:
    """Finger half-width (metres) at ``fraction`` of the way from MCP to tip."""
    return FINGER_SPECS[name].radius * props.finger_thickness * (1.0 - 0.24 * fraction)


def _thumb_radius(fraction: np.ndarray, props: HandProportions) -> np.ndarray:
    """Thumb half-width (metres) at ``fraction`` of the way from CMC to tip."""
    return 0.0118 * props.thumb_thickness * (1.0 - 0.28 * fraction)


def _segment_stations(digit: _Digit, start: float, counts: tuple[int, int, int], cap_radius: float) -> np.ndarray:
    """Arc lengths (metres from the digit root) of the tube rings, ending at the cap start.

    Rings fall exactly on the middle and distal joints; ``counts`` rings per segment.
    """
    lengths = np.array(
        [np.linalg.norm(digit.joints[1] - digit.joints[0]), np.linalg.norm(digit.joints[2] - digit.joints[1]),
         np.linalg.norm(digit.tip - digit.joints[2])]
    )
    ends = np.array([lengths[0], lengths[0] + lengths[1], lengths.sum() - cap_radius])
    starts = np.array([start, ends[0], ends[1]])
    return np.concatenate([s + (e - s) * np.arange(1, n + 1) / n for s, e, n in zip(starts, ends, counts)])


def _point_on_digit(digit: _Digit, arc: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit direction at ``arc`` metres along the digit's bone polyline."""
    lengths = [np.linalg.norm(digit.joints[1] - digit.joints[0]), np.linalg.norm(digit.joints[2] - digit.joints[1])]
    if arc <= lengths[0]:
        return digit.joints[0] + arc * digit.directions[0], digit.directions[0]
    if arc <= lengths[0] + lengths[1]:
        return digit.joints[1] + (arc - lengths[0]) * digit.directions[1], digit.directions[1]
    return digit.joints[2] + (arc - lengths[0] - lengths[1]) * digit.directions[2], digit.directions[2]


@dataclass
class _Layout:
    """Vertex positions in their final order plus the (mean-hand) connectivity recipe."""

    positions: list
    strips: list  # (lower ids, upper ids)
    quads: list  # (lower0, lower1, upper0, upper1) ids
    caps: list  # (ring ids, apex id)
    joints: np.ndarray  # (16, 3)
    tip_ids: np.ndarray  # (5,) MANO21 tip order
    flexion_directions: np.ndarray  # (16, 3)
    bone_labels: list  # (vertex ids, {joint: weight}) initial skinning labels

    def add(self, points: np.ndarray) -> np.ndarray:
        start = sum(len(p) for p in self.positions)
        self.positions.append(np.atleast_2d(points))
        return np.arange(start, start + len(np.atleast_2d(points)))

    def label(self, ids: np.ndarray, weights: dict[int, float]) -> None:
        self.bone_labels.append((np.atleast_1d(ids), weights))


def _joint_split(stations: np.ndarray, joint_arcs: tuple[float, float], joint_ids: tuple[int, int, int]) -> list:
    """Initial bone weights per ring station: the bone it lies on, half-half at a joint ring."""
    labels = []
    for arc in stations:
        if np.isclose(arc, joint_arcs[0]):
            labels.append({joint_ids[0]: 0.5, joint_ids[1]: 0.5})
        elif np.isclose(arc, joint_arcs[1]):
            labels.append({joint_ids[1]: 0.5, joint_ids[2]: 0.5})
        elif arc < joint_arcs[0]:
            labels.append({joint_ids[0]: 1.0})
        elif arc < joint_arcs[1]:
            labels.append({joint_ids[1]: 1.0})
        else:
            labels.append({joint_ids[2]: 1.0})
    return labels


def _layout(props: HandProportions) -> _Layout:
    """Place every vertex of a hand with the given proportions (metres, before ``scale``)."""
    layout = _Layout([], [], [], [], np.zeros((16, 3)), np.zeros(5, dtype=np.int64), np.zeros((16, 3)), [])
    palm_z = np.array([0.0, 0.0, 1.0])
    fingers = {name: _finger_digit(name, props) for name in FINGERS}
    thumb = _thumb_digit(props)
    for name, digit in fingers.items():
        layout.joints[list(FINGER_JOINTS[name])] = digit.joints
        layout.flexion_directions[list(FINGER_JOINTS[name])] = palm_z
    layout.joints[[13, 14, 15]] = thumb.joints
    layout.flexion_directions[[13, 14, 15]] = THUMB_FLEXION_DIRECTION
    layout.flexion_directions[0] = palm_z

    # --- finger base rings and web (crotch) points: the palm's top outline -------------------
    base_offset = 0.004
    web_offset = 0.006
    nominal_lateral = {}
    for name, digit in fingers.items():
        centre = digit.joints[0] + web_offset * digit.directions[0]
        half_width = _finger_radius(name, 0.0, props) * 1.05
        nominal_lateral[name] = (centre + half_width * digit.lateral, centre - half_width * digit.lateral)
    webs = [0.5 * (nominal_lateral[a][1] + nominal_lateral[b][0]) for a, b in zip(FINGERS[:-1], FINGERS[1:])]
    web_ids = [layout.add(point)[0] for point in webs]
    base_rings = {}
    for index, (name, digit) in enumerate(fingers.items()):
        radius = _finger_radius(name, 0.0, props)
        thickness = 0.5 * props.palm_thickness * 0.75
        centre = digit.joints[0] + base_offset * digit.directions[0]
        ring = ellipse_ring(centre, digit.lateral, palm_z, radius * 1.05, thickness, FINGER_RING)
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
    top_outline = np.array(front + back)

    # --- palm rings -------------------------------------------------------------------------
    positions_so_far = np.concatenate(layout.positions)
    top_points = positions_so_far[top_outline]
    closed = np.concatenate([top_points, top_points[:1]])
    top_arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    top_arc /= top_arc[-1]

    def top_at(fraction: np.ndarray) -> np.ndarray:
        """Palm top outline at arc-length fractions (periodic, linear), (n, 3)."""
        return np.stack([np.interp(fraction, top_arc, closed[:, c]) for c in range(3)], axis=1)

    wrist_y = -0.012 * props.palm_length / 0.092
    width_ratio = props.palm_width / 0.084
    palm_rings = []
    interior = {(row, c % PALM_COLUMNS) for row in THUMB_PATCH_ROWS[1:-1] for c in THUMB_PATCH_COLUMNS[1:-1]}
    for row in range(PALM_RINGS):
        count = WRIST_COLUMNS if row == 0 else PALM_COLUMNS
        t = row / PALM_RINGS
        fractions = np.arange(count) / count
        half_width = width_ratio * (0.029 + 0.013 * _smoothstep(0.0, 0.55, t))
        half_thickness = 0.5 * props.palm_thickness * (1.25 - 0.25 * _smoothstep(0.0, 0.45, t))
        section = _rounded_box(half_width, half_thickness, fractions)
        # Thenar and hypothenar pads: the palm front bulges near its radial and ulnar edges.
        pad = 0.004 * props.palm_thickness / 0.028 * np.exp(-(((t - 0.35) / 0.25) ** 2))
        section[:, 2] += pad * np.clip(section[:, 2] / half_thickness, 0.0, None) * (section[:, 0] / half_width) ** 2
        top = top_at(fractions)
        blend = t**3
        points = (1.0 - blend) * section + blend * top
        points[:, 1] = wrist_y + t * (top[:, 1] - wrist_y)
        keep = [c for c in range(count) if (row, c) not in interior]
        ids = np.full(count, -1, dtype=np.int64)
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

    # --- fingers ------------------------------------------------------------------------------
    for name, digit in fingers.items():
        total = np.linalg.norm(digit.tip - digit.joints[0])
        cap_radius = 0.85 * _finger_radius(name, 1.0, props)
        counts = RING_COUNTS[name]
        stations = _segment_stations(digit, base_offset, counts, cap_radius)
        previous = base_rings[name]
        joint_arcs = (np.linalg.norm(digit.joints[1] - digit.joints[0]), np.linalg.norm(digit.joints[2] - digit.joints[0]))
        labels = _joint_split(stations, joint_arcs, FINGER_JOINTS[name])
        for arc, label in zip(stations, labels):
            radius = _finger_radius(name, arc / total, props)
            centre, _ = _point_on_digit(digit, arc)
            ids = layout.add(ellipse_ring(centre, digit.lateral, palm_z, radius, 0.88 * radius, FINGER_RING))
            layout.label(ids, label)
            layout.strips.append((previous, ids))
            previous = ids
        end_radius = _finger_radius(name, stations[-1] / total, props)
        cap_angle = np.radians(50.0)
        centre, _ = _point_on_digit(digit, stations[-1] + cap_radius * np.sin(cap_angle))
        ids = layout.add(
            ellipse_ring(centre, digit.lateral, palm_z, end_radius * np.cos(cap_angle), 0.88 * end_radius * np.cos(cap_angle), FINGER_RING)
        )
        layout.strips.append((previous, ids))
        tip = layout.add(digit.tip)[0]
        layout.caps.append((ids, tip))
        layout.label(np.append(ids, tip), {FINGER_JOINTS[name][2]: 1.0})
        layout.tip_ids[TIP_ORDER.index(name)] = tip

    # --- thumb ----------------------------------------------------------------------------------
    rows = THUMB_PATCH_ROWS
    columns = [c % PALM_COLUMNS for c in THUMB_PATCH_COLUMNS]
    boundary = (
        [palm_rings[rows[0]][c] for c in columns]
        + [palm_rings[r][columns[-1]] for r in rows[1:]]
        + [palm_rings[rows[-1]][c] for c in reversed(columns[:-1])]
        + [palm_rings[r][columns[0]] for r in reversed(rows[1:-1])]
    )
    boundary = np.array(boundary)
    layout.label(boundary, {0: 0.5, 13: 0.5})
    positions_so_far = np.concatenate(layout.positions)
    total = np.linalg.norm(thumb.joints[1] - thumb.joints[0]) + np.linalg.norm(thumb.joints[2] - thumb.joints[1]) + np.linalg.norm(thumb.tip - thumb.joints[2])
    patch_centre = positions_so_far[boundary].mean(axis=0)
    start = float((patch_centre - thumb.joints[0]) @ thumb.directions[0]) + 0.002
    cap_radius = 0.8 * _thumb_radius(1.0, props)
    counts = RING_COUNTS["thumb"]
    stations = _segment_stations(thumb, start, counts, cap_radius)
    joint_arcs = (np.linalg.norm(thumb.joints[1] - thumb.joints[0]), np.linalg.norm(thumb.joints[1] - thumb.joints[0]) + np.linalg.norm(thumb.joints[2] - thumb.joints[1]))
    labels = _joint_split(stations, joint_arcs, (13, 14, 15))
    def thumb_frame(arc: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre and ring axes (e1, e2 with e1 x e2 = -direction) at ``arc`` along the thumb."""
        centre, direction = _point_on_digit(thumb, arc)
        e1 = _unit(np.cross(direction, THUMB_FLEXION_DIRECTION))
        return centre, e1, np.cross(e1, direction)

    # Start the rings' angle at the patch's first corner so the root band does not twist.
    centre, e1, e2 = thumb_frame(stations[0])
    offset = positions_so_far[boundary[0]] - centre
    phase = float(np.arctan2(offset @ e2, offset @ e1))
    previous = boundary
    for arc, label in zip(stations, labels):
        radius = _thumb_radius(arc / total, props)
        centre, e1, e2 = thumb_frame(arc)
        ids = layout.add(ellipse_ring(centre, e1, e2, radius, 0.85 * radius, THUMB_RING, phase=phase))
        layout.label(ids, label)
        layout.strips.append((previous, ids))
        previous = ids
    end_radius = _thumb_radius(stations[-1] / total, props) * np.cos(np.radians(50.0))
    centre, e1, e2 = thumb_frame(stations[-1] + cap_radius * np.sin(np.radians(50.0)))
    ids = layout.add(ellipse_ring(centre, e1, e2, end_radius, 0.85 * end_radius, THUMB_RING // 2, phase=phase))
    layout.strips.append((previous, ids))
    tip = layout.add(thumb.tip)[0]
    layout.caps.append((ids, tip))
    layout.label(np.append(ids, tip), {15: 1.0})
    layout.tip_ids[TIP_ORDER.index("thumb")] = tip
    return layout


def _quad_triangles(quad: tuple[int, int, int, int], positions: np.ndarray) -> list[tuple[int, int, int]]:
    """Split a quad (lower0, lower1, upper0, upper1) along its shorter diagonal, outward."""
    a0, a1, b0, b1 = (int(v) for v in quad)
    if np.linalg.norm(positions[a1] - positions[b0]) < np.linalg.norm(positions[a0] - positions[b1]):
        return [(a0, b0, a1), (a1, b0, b1)]
    return [(a0, b0, b1), (a0, b1, a1)]


@dataclass(frozen=True)
class RestHand:
    """A generated hand: positions for given proportions plus the shared topology.

    Attributes:
        vertices: (778, 3) rest vertex positions, metres.
        joints: (16, 3) rest joint centres (MANO order), metres.
        faces: (F, 3) int64 triangles, outward oriented.
        tip_vertex_ids: (5,) int64 fingertip vertex ids in MANO21 tip order.
        flexion_directions: (16, 3) direction each joint's child moves under positive flexion.
        bone_labels: (778, 16) initial (unsmoothed) skinning weights, rows sum to 1.
    """

    vertices: np.ndarray
    joints: np.ndarray
    faces: np.ndarray
    tip_vertex_ids: np.ndarray
    flexion_directions: np.ndarray
    bone_labels: np.ndarray


@functools.lru_cache(maxsize=1)
def _mean_topology() -> tuple[np.ndarray, np.ndarray]:
    """Faces (F, 3) and initial bone labels (V, 16) of the mean hand; shared by all hands."""
    layout = _layout(HandProportions())
    positions = np.concatenate(layout.positions)
    triangles = []
    for lower, upper in layout.strips:
        triangles += stitch_rings(lower, upper, positions)
    for quad in layout.quads:
        triangles += _quad_triangles(quad, positions)
    for ring, apex in layout.caps:
        triangles += cap_ring(ring, apex)
    labels = np.zeros((len(positions), 16))
    for ids, weights in layout.bone_labels:
        labels[ids] = 0.0
        for joint, weight in weights.items():
            labels[ids, joint] = weight
    faces = np.array(triangles, dtype=np.int64)
    faces.setflags(write=False)
    labels.setflags(write=False)
    return faces, labels


def generate_rest_hand(props: HandProportions = HandProportions()) -> RestHand:
    """Generate the rest hand with the given proportions (see the module docstring)."""
    layout = _layout(props)
    vertices = np.concatenate(layout.positions) * props.scale
    if len(vertices) != NUM_VERTICES:
        raise AssertionError(f"the hand generator produced {len(vertices)} vertices, expected {NUM_VERTICES}")
    faces, labels = _mean_topology()
    return RestHand(
        vertices=vertices,
        joints=layout.joints * props.scale,
        faces=faces,
        tip_vertex_ids=layout.tip_ids.copy(),
        flexion_directions=layout.flexion_directions.copy(),
        bone_labels=labels,
    )
