"""The hand skeleton: joint order, keypoint orders, kinematic tree and anatomical limits.

Joint order (16 articulated joints, MANO's order)::

    0 wrist (the global rotation)
    1 index MCP   2 index PIP   3 index DIP
    4 middle MCP  5 middle PIP  6 middle DIP
    7 little MCP  8 little PIP  9 little DIP
    10 ring MCP   11 ring PIP   12 ring DIP
    13 thumb CMC  14 thumb MCP  15 thumb IP

Keypoints (21): ``MANO21`` order is the 16 joints followed by the fingertips
[index, middle, little, ring, thumb] (16-20). FreiHAND order is wrist, then thumb
CMC/MCP/IP/tip, index MCP/PIP/DIP/tip, middle, ring, little:
``freihand_keypoints = mano21_keypoints[MANO_TO_FREIHAND]``.

Local joint frame and limits
----------------------------
Every joint j has a right-handed orthonormal rest frame whose columns are

* ``flexion axis``: rotating about it by a positive angle curls the bone toward the palm
  (for the four fingers this is the hand's lateral axis, +x at rest);
* ``abduction axis``: the (negated) palm normal, orthogonalised against the bone; a
  positive angle swings the bone toward the thumb side (radial deviation, +x at rest);
* ``twist axis``: the bone direction (joint -> child joint), a positive angle rolls the
  bone about itself.

A pose rotation vector ``r`` (axis-angle in the hand's rest axes, as in MANO) is expressed
in this frame as ``(flexion, abduction, twist) = frame.T @ r``; anatomical limits are
box limits on these three components, in radians. For pure flexion this is exactly the
flexion angle; combined rotations are limited component-wise.
"""

from __future__ import annotations

import math

import numpy as np

from cmr.hand.conventions import NUM_ARTICULATED_JOINTS, PARENTS, TIP_PARENTS

#: Joint ids of each digit from its root outwards (MCP/PIP/DIP, thumb CMC/MCP/IP).
DIGIT_JOINTS = {
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "little": (7, 8, 9),
    "ring": (10, 11, 12),
    "thumb": (13, 14, 15),
}


def _degrees(low: tuple[float, float, float], high: tuple[float, float, float]) -> np.ndarray:
    return np.radians(np.array([low, high], dtype=np.float64))


# (flexion, abduction, twist) lower and upper limits, degrees -> radians.
_FINGER_MCP = _degrees((-30.0, -20.0, -10.0), (90.0, 20.0, 10.0))
_FINGER_PIP = _degrees((0.0, -5.0, -5.0), (110.0, 5.0, 5.0))
_FINGER_DIP = _degrees((0.0, -5.0, -5.0), (80.0, 5.0, 5.0))
_THUMB_CMC = _degrees((-20.0, -30.0, -20.0), (45.0, 40.0, 40.0))
_THUMB_MCP = _degrees((-10.0, -10.0, -10.0), (60.0, 10.0, 10.0))
_THUMB_IP = _degrees((-15.0, -5.0, -5.0), (85.0, 5.0, 5.0))
_WRIST = np.array([[-math.pi] * 3, [math.pi] * 3])

#: ``JOINT_LIMITS[j] = [[flex_min, abd_min, twist_min], [flex_max, abd_max, twist_max]]``
#: in radians, shape (16, 2, 3). The wrist (global rotation) is unconstrained.
JOINT_LIMITS = np.stack(
    [_WRIST]
    + [_FINGER_MCP, _FINGER_PIP, _FINGER_DIP] * 4
    + [_THUMB_CMC, _THUMB_MCP, _THUMB_IP]
)


def joint_frames(joints: np.ndarray, tips: np.ndarray, flexion_directions: np.ndarray) -> np.ndarray:
    """Local (flexion, abduction, twist) frames of every joint at rest.

    Args:
        joints: (16, 3) rest joint centres, metres.
        tips: (5, 3) rest fingertip positions in MANO21 tip order, metres.
        flexion_directions: (16, 3) direction in which each joint's child moves under positive
            flexion (the palm normal +z for the fingers); need not be orthogonal to the bone.
    Returns:
        (16, 3, 3) rotation matrices; columns are the flexion, abduction and twist axes.
        The wrist's frame is the identity.
    """
    child = np.zeros((NUM_ARTICULATED_JOINTS, 3))
    for joint in range(1, NUM_ARTICULATED_JOINTS):
        children = np.flatnonzero(PARENTS == joint)
        child[joint] = joints[children[0]] if len(children) else tips[list(TIP_PARENTS).index(joint)]
    frames = np.tile(np.eye(3), (NUM_ARTICULATED_JOINTS, 1, 1))
    for joint in range(1, NUM_ARTICULATED_JOINTS):
        twist = child[joint] - joints[joint]
        twist /= np.linalg.norm(twist)
        flexion = np.cross(twist, flexion_directions[joint])
        flexion /= np.linalg.norm(flexion)
        abduction = np.cross(twist, flexion)
        frames[joint] = np.stack([flexion, abduction, twist], axis=1)
    return frames
