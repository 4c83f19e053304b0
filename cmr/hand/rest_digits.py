"""The digits of the procedural rest hand: bone geometry and the tubes of rings around it.

Each finger is a tube of :data:`FINGER_RING` -vertex elliptic rings along its straight bone,
with rings exactly at PIP and DIP and a rounded cap ending in one tip vertex; it starts from
its base ring on the palm's top outline (:mod:`cmr.hand.rest_palm`). The thumb is a tube of
:data:`THUMB_RING` -vertex rings rooted in the ring of palm vertices around the thumb hole.
Metres and the frame of :mod:`cmr.hand.rest_layout`; angles in degrees where stated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmr.hand.mesh_building import ellipse_ring
from cmr.hand.rest_layout import PALM_NORMAL, HandProportions, Layout, unit

FINGER_RING = 8
THUMB_RING = 10
#: Tube rings per bone segment of each digit (to the middle joint, to the distal joint, to
#: the cap), about 8 mm apart on the mean hand; fixed so every hand shares the topology.
RING_COUNTS = {"index": (4, 3, 2), "middle": (5, 3, 2), "ring": (5, 3, 2), "little": (4, 2, 2), "thumb": (2, 4, 2)}
#: Fingers from the radial side (+x) to the ulnar side.
FINGERS = ("index", "middle", "ring", "little")
#: MANO joint ids of each finger's MCP, PIP and DIP, and of the thumb's CMC, MCP and IP.
FINGER_JOINTS = {"index": (1, 2, 3), "middle": (4, 5, 6), "ring": (10, 11, 12), "little": (7, 8, 9)}
THUMB_JOINTS = (13, 14, 15)
#: Position of each tip in MANO21 tip order [index, middle, little, ring, thumb].
TIP_ORDER = ("index", "middle", "little", "ring", "thumb")
#: Distance (metres) from a finger's MCP along its bone to its base ring.
FINGER_BASE_OFFSET = 0.004
#: Angle (degrees) of the last ring on the spherical cap before the tip vertex.
CAP_ANGLE_DEG = 50.0


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

#: Thumb flexion direction at rest (toward the palm and the little finger).
THUMB_FLEXION_DIRECTION = unit(np.array([-0.80, 0.0, 0.60]))


@dataclass(frozen=True)
class Digit:
    """Rest geometry of one digit: joints along a bone polyline and ring placement.

    Attributes:
        joints: (3, 3) root, middle and distal joint centres, metres.
        tip: (3,) fingertip surface point, metres.
        directions: (3, 3) unit bone directions of the three segments.
        lateral: (3,) the rings' first axis e1 (x-like for fingers).
    """

    joints: np.ndarray
    tip: np.ndarray
    directions: np.ndarray
    lateral: np.ndarray


def finger_digit(name: str, props: HandProportions) -> Digit:
    """Bone geometry of finger ``name`` (one of :data:`FINGERS`): a straight, splayed bone."""
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
    return Digit(np.stack([mcp, pip, dip]), tip, np.tile(direction, (3, 1)), unit(np.cross(direction, [0, 0, 1])))


def thumb_digit(props: HandProportions) -> Digit:
    """Bone geometry of the thumb: CMC low on the radial side, three bending segments.

    Metacarpal ~4.5 cm, proximal ~3.1 cm, distal ~2.6 cm: at rest the tip reaches the index
    MCP level, ~35 degrees away from the index.
    """
    cmc = np.array([0.019 * props.palm_width / 0.084, 0.008 * props.palm_length / 0.092, 0.006])
    directions = np.stack([unit(np.array(d)) for d in ([0.70, 0.68, 0.22], [0.45, 0.885, 0.12], [0.33, 0.94, 0.06])])
    lengths = np.array([0.045, 0.031, 0.026]) * props.thumb_length
    mcp = cmc + lengths[0] * directions[0]
    ip = mcp + lengths[1] * directions[1]
    tip = ip + lengths[2] * directions[2]
    return Digit(np.stack([cmc, mcp, ip]), tip, directions, unit(np.cross(directions[0], THUMB_FLEXION_DIRECTION)))


def finger_radius(name: str, fraction: np.ndarray, props: HandProportions) -> np.ndarray:
    """Finger half-width (metres) at ``fraction`` of the way from MCP to tip."""
    return FINGER_SPECS[name].radius * props.finger_thickness * (1.0 - 0.24 * fraction)


def thumb_radius(fraction: np.ndarray, props: HandProportions) -> np.ndarray:
    """Thumb half-width (metres) at ``fraction`` of the way from CMC to tip."""
    return 0.0118 * props.thumb_thickness * (1.0 - 0.28 * fraction)


def segment_stations(digit: Digit, start: float, counts: tuple[int, int, int], cap_radius: float) -> np.ndarray:
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


def point_on_digit(digit: Digit, arc: float) -> tuple[np.ndarray, np.ndarray]:
    """Point (3,) and unit direction (3,) at ``arc`` metres along the digit's bone polyline."""
    lengths = [np.linalg.norm(digit.joints[1] - digit.joints[0]), np.linalg.norm(digit.joints[2] - digit.joints[1])]
    if arc <= lengths[0]:
        return digit.joints[0] + arc * digit.directions[0], digit.directions[0]
    if arc <= lengths[0] + lengths[1]:
        return digit.joints[1] + (arc - lengths[0]) * digit.directions[1], digit.directions[1]
    return digit.joints[2] + (arc - lengths[0] - lengths[1]) * digit.directions[2], digit.directions[2]


def joint_split(stations: np.ndarray, joint_arcs: tuple[float, float], joint_ids: tuple[int, int, int]) -> list:
    """Initial bone weights ({joint: weight}) per ring station (arc lengths, metres): the bone
    it lies on, half-half at a joint ring."""
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


def _close_tube(layout: Layout, previous: np.ndarray, cap_ring_points: np.ndarray, digit: Digit,
                distal_joint: int, tip_slot: int) -> None:
    """Add the cap ring (k, 3) after the ring ``previous`` and the tip vertex that closes it."""
    ids = layout.add(cap_ring_points)
    layout.strips.append((previous, ids))
    tip = layout.add(digit.tip)[0]
    layout.caps.append((ids, tip))
    layout.label(np.append(ids, tip), {distal_joint: 1.0})
    layout.tip_ids[tip_slot] = tip


def add_finger(layout: Layout, name: str, digit: Digit, base_ring: np.ndarray, props: HandProportions) -> None:
    """Add finger ``name``'s tube from its (8,) ``base_ring`` ids on the palm to its tip."""
    total = np.linalg.norm(digit.tip - digit.joints[0])
    cap_radius = 0.85 * finger_radius(name, 1.0, props)
    stations = segment_stations(digit, FINGER_BASE_OFFSET, RING_COUNTS[name], cap_radius)
    previous = base_ring
    joint_arcs = (np.linalg.norm(digit.joints[1] - digit.joints[0]), np.linalg.norm(digit.joints[2] - digit.joints[0]))
    labels = joint_split(stations, joint_arcs, FINGER_JOINTS[name])
    for arc, label in zip(stations, labels):
        radius = finger_radius(name, arc / total, props)
        centre, _ = point_on_digit(digit, arc)
        ids = layout.add(ellipse_ring(centre, digit.lateral, PALM_NORMAL, radius, 0.88 * radius, FINGER_RING))
        layout.label(ids, label)
        layout.strips.append((previous, ids))
        previous = ids
    end_radius = finger_radius(name, stations[-1] / total, props)
    cap_angle = np.radians(CAP_ANGLE_DEG)
    centre, _ = point_on_digit(digit, stations[-1] + cap_radius * np.sin(cap_angle))
    cap = ellipse_ring(centre, digit.lateral, PALM_NORMAL, end_radius * np.cos(cap_angle),
                       0.88 * end_radius * np.cos(cap_angle), FINGER_RING)
    _close_tube(layout, previous, cap, digit, FINGER_JOINTS[name][2], TIP_ORDER.index(name))


def _thumb_frame(thumb: Digit, arc: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (3,) and ring axes e1, e2 (3,) with e1 x e2 = -direction at ``arc`` metres
    along the thumb."""
    centre, direction = point_on_digit(thumb, arc)
    e1 = unit(np.cross(direction, THUMB_FLEXION_DIRECTION))
    return centre, e1, np.cross(e1, direction)


def add_thumb(layout: Layout, thumb: Digit, root_ring: np.ndarray, props: HandProportions) -> None:
    """Add the thumb's tube from ``root_ring`` (the (10,) palm vertex ids around its hole)."""
    layout.label(root_ring, {0: 0.5, THUMB_JOINTS[0]: 0.5})
    positions = layout.all_positions()
    bone_lengths = [np.linalg.norm(thumb.joints[1] - thumb.joints[0]), np.linalg.norm(thumb.joints[2] - thumb.joints[1])]
    total = bone_lengths[0] + bone_lengths[1] + np.linalg.norm(thumb.tip - thumb.joints[2])
    patch_centre = positions[root_ring].mean(axis=0)
    start = float((patch_centre - thumb.joints[0]) @ thumb.directions[0]) + 0.002
    cap_radius = 0.8 * thumb_radius(1.0, props)
    stations = segment_stations(thumb, start, RING_COUNTS["thumb"], cap_radius)
    labels = joint_split(stations, (bone_lengths[0], bone_lengths[0] + bone_lengths[1]), THUMB_JOINTS)
    # Start the rings' angle at the root ring's first vertex so the root band does not twist.
    centre, e1, e2 = _thumb_frame(thumb, stations[0])
    offset = positions[root_ring[0]] - centre
    phase = float(np.arctan2(offset @ e2, offset @ e1))
    previous = root_ring
    for arc, label in zip(stations, labels):
        radius = thumb_radius(arc / total, props)
        centre, e1, e2 = _thumb_frame(thumb, arc)
        ids = layout.add(ellipse_ring(centre, e1, e2, radius, 0.85 * radius, THUMB_RING, phase=phase))
        layout.label(ids, label)
        layout.strips.append((previous, ids))
        previous = ids
    end_radius = thumb_radius(stations[-1] / total, props) * np.cos(np.radians(CAP_ANGLE_DEG))
    centre, e1, e2 = _thumb_frame(thumb, stations[-1] + cap_radius * np.sin(np.radians(CAP_ANGLE_DEG)))
    cap = ellipse_ring(centre, e1, e2, end_radius, 0.85 * end_radius, THUMB_RING // 2, phase=phase)
    _close_tube(layout, previous, cap, thumb, THUMB_JOINTS[2], TIP_ORDER.index("thumb"))
