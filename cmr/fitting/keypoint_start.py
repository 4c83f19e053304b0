"""The fit's start from 3D keypoints (when the caller gives them): a closed-form inverse kinematics.

The palm (wrist, the four finger knuckles and the thumb's base) is rigid in the hand model, so
the global rotation is the rigid (Kabsch) alignment of the rest palm keypoints onto the target's.
Down the kinematic tree, each bone then turns by the smallest rotation that points it (from its
joint to the next keypoint of its digit) along the target's direction; twist about the bone is
the parent's. The translation puts the wrist on the target's. The caller may then solve the shape for this
pose and pose that shape again (:func:`cmr.fitting.fit.fit_hand` does, once). Left hands are solved as the
mirrored right hand and returned in the left convention of :class:`cmr.hand.HandModel`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cmr.geometry.rotations import rigid_alignment, rotation_vectors_from_matrices
from cmr.hand.conventions import FREIHAND_TO_MANO, NUM_ARTICULATED_JOINTS, PARENTS
from cmr.hand.model import HandModel

#: MANO21 keypoints of the rigid palm: wrist, index/middle/little/ring knuckles, thumb base.
PALM_KEYPOINTS = (0, 1, 4, 7, 10, 13)
#: Per articulated joint (MANO order), the MANO21 keypoint its bone points to: the next joint
#: of its digit, or the digit's tip (16-20) after the last joint.
BONE_ENDS = tuple(joint + 1 if joint % 3 else 16 + joint // 3 - 1 for joint in range(1, NUM_ARTICULATED_JOINTS))
_MIRROR = (-1.0, 1.0, 1.0)
_MIRROR_ROTATION_VECTOR = (1.0, -1.0, -1.0)


def _smallest_rotation(source: Tensor, target: Tensor) -> Tensor:
    """(B, 3, 3) rotations turning (B, 3) directions ``source`` onto ``target`` by the least angle."""
    a = source / source.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = target / target.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    axis, cosine = torch.cross(a, b, dim=-1), (a * b).sum(-1)
    skew = torch.zeros(*axis.shape[:-1], 3, 3, dtype=a.dtype, device=a.device)
    skew[..., 0, 1], skew[..., 0, 2], skew[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    skew = skew - skew.transpose(-1, -2)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(skew)
    return eye + skew + skew @ skew / (1.0 + cosine).clamp_min(1e-6)[..., None, None]


def pose_from_keypoints(model: HandModel, keypoints: Tensor, side: str, shape: Tensor | None = None
                        ) -> tuple[Tensor, Tensor]:
    """Pose and translation whose keypoints follow ``keypoints`` (see the module docstring).

    keypoints: (B, 21, 3) metres, camera space, FreiHAND order. shape: (B, S) coefficients of the
    hand to pose (None: the mean hand). Returns pose (B, 16, 3) axis-angle in ``side``'s
    convention (not limited) and translation (B, 3) metres.
    """
    batch = len(keypoints)
    target = keypoints * keypoints.new_tensor(_MIRROR) if side == "left" else keypoints
    target = target[:, torch.as_tensor(FREIHAND_TO_MANO, device=keypoints.device)]
    zero = keypoints.new_zeros(batch, NUM_ARTICULATED_JOINTS, 3)
    rest = model(zero, shape).joints[:, torch.as_tensor(FREIHAND_TO_MANO, device=keypoints.device)]
    palm = list(PALM_KEYPOINTS)
    world = [rigid_alignment(rest[:, palm], target[:, palm])[0]]
    local = [world[0]]
    for joint, end in zip(range(1, NUM_ARTICULATED_JOINTS), BONE_ENDS):
        parent = world[PARENTS[joint]]
        rest_direction = (parent @ (rest[:, end] - rest[:, joint])[..., None])[..., 0]
        turn = _smallest_rotation(rest_direction, target[:, end] - target[:, joint])
        world.append(turn @ parent)
        local.append(parent.transpose(-1, -2) @ turn @ parent)
    pose = rotation_vectors_from_matrices(torch.stack(local, dim=1))
    posed_wrist = model(pose, shape).joints[:, 0]
    translation = target[:, 0] - posed_wrist
    if side == "left":
        return pose * pose.new_tensor(_MIRROR_ROTATION_VECTOR), translation * translation.new_tensor(_MIRROR)
    return pose, translation
