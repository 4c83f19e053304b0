"""The open parametric hand model: skeleton, procedural rest mesh, shape space, skinning.

A MANO-like right hand owned by the project (no licensed data): 778 vertices, 16 joints,
10 shape coefficients, linear blend skinning, a 21-keypoint regressor (FreiHAND order).
"""

from cmr.hand.assets import HandAssets, build_hand_assets
from cmr.hand.model import HandModel, HandOutput
from cmr.hand.poses import POSE_KINDS, clamp_to_limits, local_angles, sample_poses, within_limits
from cmr.hand.conventions import (
    FREIHAND_NAMES,
    FREIHAND_TO_MANO,
    JOINT_NAMES,
    MANO21_NAMES,
    MANO_TO_FREIHAND,
    NUM_ARTICULATED_JOINTS,
    NUM_KEYPOINTS,
    PARENTS,
)
from cmr.hand.skeleton import JOINT_LIMITS

__all__ = [
    "FREIHAND_NAMES", "FREIHAND_TO_MANO", "JOINT_LIMITS", "JOINT_NAMES", "MANO21_NAMES",
    "MANO_TO_FREIHAND", "NUM_ARTICULATED_JOINTS", "NUM_KEYPOINTS", "PARENTS", "POSE_KINDS", "HandAssets",
    "HandModel", "HandOutput", "build_hand_assets", "clamp_to_limits", "local_angles",
    "sample_poses", "within_limits",
]
