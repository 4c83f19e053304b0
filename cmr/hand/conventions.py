"""Hand conventions, defined once: joint and keypoint orders, kinematic parents, digits.

Two orders exist and every table converting between them is here:

* the hand model's 16 **articulated joints** (MANO's order: wrist; index, middle, little,
  ring MCP/PIP/DIP; thumb CMC/MCP/IP) and its ``MANO21`` keypoints (those 16, then the tips
  of index, middle, little, ring, thumb);
* the 21 **keypoints in FreiHAND order**, used everywhere outside the hand-model internals:
  0 wrist, 1-4 thumb (CMC, MCP, IP, tip), 5-8 index, 9-12 middle, 13-16 ring, 17-20 little
  (MCP, PIP, DIP, tip). ``freihand = mano21[MANO_TO_FREIHAND]``.
"""

from __future__ import annotations

import numpy as np

NUM_ARTICULATED_JOINTS = 16
NUM_KEYPOINTS = 21

JOINT_NAMES = (
    "wrist",
    "index_mcp", "index_pip", "index_dip",
    "middle_mcp", "middle_pip", "middle_dip",
    "little_mcp", "little_pip", "little_dip",
    "ring_mcp", "ring_pip", "ring_dip",
    "thumb_cmc", "thumb_mcp", "thumb_ip",
)

#: Parent of every joint (wrist is the root, parent -1).
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14], dtype=np.int64)

#: Fingertip names in MANO21 order (keypoints 16-20).
TIP_NAMES = ("index_tip", "middle_tip", "little_tip", "ring_tip", "thumb_tip")

#: The last articulated joint of each digit in MANO21 tip order (the tip's parent).
TIP_PARENTS = np.array([3, 6, 9, 12, 15], dtype=np.int64)

MANO21_NAMES = JOINT_NAMES + TIP_NAMES

#: ``freihand_keypoints = mano21_keypoints[MANO_TO_FREIHAND]``.
MANO_TO_FREIHAND = np.array(
    [0, 13, 14, 15, 20, 1, 2, 3, 16, 4, 5, 6, 17, 10, 11, 12, 19, 7, 8, 9, 18], dtype=np.int64
)
#: ``mano21_keypoints = freihand_keypoints[FREIHAND_TO_MANO]``.
FREIHAND_TO_MANO = np.argsort(MANO_TO_FREIHAND)

FREIHAND_NAMES = tuple(MANO21_NAMES[i] for i in MANO_TO_FREIHAND)

#: Index of the root keypoint (the wrist) in FreiHAND order.
ROOT_KEYPOINT = 0
#: Parent of each keypoint in FreiHAND order (-1 for the wrist).
FREIHAND_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
#: Digits in FreiHAND order, each with its 4 keypoints (root outwards, tip last).
FREIHAND_DIGITS = {"thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12),
                   "ring": (13, 14, 15, 16), "little": (17, 18, 19, 20)}


#: (child, parent) keypoint pairs of the 20 bones, FreiHAND order.
FREIHAND_BONES = tuple((child, parent) for child, parent in enumerate(FREIHAND_PARENTS) if parent >= 0)


def bone_lengths(joints):
    """(..., 21, 3) FreiHAND-order joints (NumPy array or torch tensor) -> (..., 20) bone lengths
    in the joints' unit, of the same kind."""
    child, parent = (list(index) for index in zip(*FREIHAND_BONES))
    bones = joints[..., child, :] - joints[..., parent, :]
    return np.linalg.norm(bones, axis=-1) if isinstance(bones, np.ndarray) else bones.norm(dim=-1)


def hand_size(joints):
    """(..., 21, 3) FreiHAND-order joints -> (...,) the hand's size: the sum of its 20 bone lengths
    (pose-independent), in the joints' unit."""
    return bone_lengths(joints).sum(-1)


def digit_of_keypoint(keypoint: int) -> int:
    """Index (0 thumb .. 4 little) of the digit a FreiHAND keypoint belongs to; -1 for the wrist."""
    return -1 if keypoint == ROOT_KEYPOINT else (keypoint - 1) // 4
