"""What the fit minimises: the bounded joint-angle parametrisation and the data terms.

Joint limits by construction
----------------------------
Each local (flexion, abduction, twist) angle of joints 1-15 (see :mod:`cmr.hand.skeleton`) is
``low + (high - low) (1 - cos z) / 2`` of a free parameter z: always within its limits, smooth,
and a limit is reached at a finite z (0 or pi) with a slope that grows linearly away from it.
A sigmoid's flat tails would instead freeze a joint that starts near a limit (and open hands
keep their PIP/DIP joints at the 0-degree limit). Left hands are parametrised in the
right-hand convention and mirrored (see :class:`cmr.hand.HandModel`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cmr.geometry.camera import project_points
from cmr.hand.model import _MIRROR_ROTATION_VECTOR, HandModel
from cmr.hand.poses import local_angles, pose_from_local_angles
from cmr.hand.skeleton import JOINT_LIMITS

#: How far inside its limits (fraction of the range) a joint starts, so it can move both ways.
START_MARGIN = 1e-3
MILLIMETRES_PER_METRE = 1000.0


class PoseParameters:
    """Converts between the free parameters of the 15 local joints and poses, for one side.

    With ``joint_limits`` the parameters are the (B, 15, 3) z of the module docstring; without,
    they are the local rotation vectors themselves (right-hand convention).
    """

    def __init__(self, side: str, joint_limits: bool, dtype: torch.dtype, device: torch.device) -> None:
        self.joint_limits = joint_limits
        self.mirror = torch.tensor(_MIRROR_ROTATION_VECTOR if side == "left" else (1.0, 1.0, 1.0),
                                   dtype=dtype, device=device)
        limits = torch.as_tensor(JOINT_LIMITS[1:], dtype=dtype, device=device)
        self.low, self.range = limits[:, 0], limits[:, 1] - limits[:, 0]

    def free_from_pose(self, pose: Tensor) -> Tensor:
        """(B, 16, 3) pose in the side's convention -> (B, 15, 3) free parameters (joint 0 dropped).

        Angles outside the limits are brought just inside them (:data:`START_MARGIN`).
        """
        right_pose = pose * self.mirror
        if not self.joint_limits:
            return right_pose[:, 1:].contiguous()
        fraction = (local_angles(right_pose)[:, 1:] - self.low) / self.range
        fraction = fraction.clamp(START_MARGIN, 1.0 - START_MARGIN)
        return torch.arccos(1.0 - 2.0 * fraction).contiguous()

    def pose(self, global_rotation: Tensor, free: Tensor) -> Tensor:
        """(B, 3) global rotation (side's convention) and (B, 15, 3) free parameters -> (B, 16, 3) pose."""
        if self.joint_limits:
            angles = self.low + self.range * 0.5 * (1.0 - torch.cos(free))
            local = pose_from_local_angles(torch.cat([torch.zeros_like(angles[:, :1]), angles], dim=1))[:, 1:]
        else:
            local = free
        return torch.cat([global_rotation[:, None], local * self.mirror], dim=1)


def mesh_term(vertices: Tensor, target: Tensor) -> Tensor:
    """(B, V, 3), (B, V, 3) metres -> (B,) mean squared vertex distance in mm^2."""
    return ((vertices - target) * MILLIMETRES_PER_METRE).pow(2).sum(-1).mean(-1)


def reprojection_distances(joints: Tensor, keypoints: Tensor, K: Tensor) -> Tensor:
    """(B, 21, 3) metres, (B, 21, 2) pixels, (B, 3, 3) -> (B, 21) pixels between projection and keypoint."""
    return (project_points(joints, K) - keypoints).norm(dim=-1)


def weighted_mean(values: Tensor, weights: Tensor) -> Tensor:
    """(B, N) values and (B, N) weights >= 0 -> (B,) weighted means (0 where every weight is 0)."""
    return (weights * values).sum(-1) / weights.sum(-1).clamp_min(1e-12)


def keypoint_term(joints: Tensor, keypoints: Tensor, weights: Tensor, K: Tensor) -> Tensor:
    """Weighted mean squared reprojection error.

    joints: (B, 21, 3) metres. keypoints: (B, 21, 2) pixels. weights: (B, 21) >= 0.
    K: (B, 3, 3). Returns (B,) px^2 (0 where every weight is 0).
    """
    return weighted_mean(reprojection_distances(joints, keypoints, K).pow(2), weights)


def sample_maps(maps: Tensor, pixels: Tensor) -> Tensor:
    """Bilinear samples of (B, H, W) maps at (B, N, 2) pixel coordinates (u, v) -> (B, N).

    Pixel centres sit at integer coordinates (see :mod:`cmr.geometry`); points outside the
    image take the value of the nearest border pixel.
    """
    height, width = maps.shape[-2:]
    scale = pixels.new_tensor([2.0 / (width - 1), 2.0 / (height - 1)])
    grid = (pixels * scale - 1.0)[:, None]  # (B, 1, N, 2) in [-1, 1] over the pixel centres
    sampled = F.grid_sample(maps[:, None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return sampled[:, 0, 0]


def silhouette_distances(vertices: Tensor, K: Tensor, distance_maps: Tensor) -> Tensor:
    """(B, V) pixels from each projected vertex to the silhouette (0 inside).

    vertices: (B, V, 3) metres. K: (B, 3, 3). distance_maps: (B, H, W) pixels
    (:func:`cmr.fitting.inputs.outside_distance_maps`).
    """
    return sample_maps(distance_maps, project_points(vertices, K))


def shape_prior(shape: Tensor) -> Tensor:
    """(B, S) shape coefficients -> (B,) ``|beta|^2``."""
    return shape.pow(2).sum(-1)


def posed_hand(model: HandModel, parameters: PoseParameters, side: str, global_rotation: Tensor, free: Tensor,
               shape: Tensor, translation: Tensor):
    """The model posed by the fit's parameters: (:class:`cmr.hand.HandOutput`, (B, 16, 3) pose)."""
    pose = parameters.pose(global_rotation, free)
    return model(pose, shape, translation, side=side), pose
