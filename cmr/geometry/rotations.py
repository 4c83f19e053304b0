"""Rotations: matrices back to rotation vectors, and the rigid (Kabsch) alignment of point sets.

Batched torch, any leading batch shape. The forward map (rotation vectors to matrices,
Rodrigues' formula) is :func:`cmr.hand.skinning.axis_angle_to_matrix`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rotation_vectors_from_matrices(matrices: Tensor) -> Tensor:
    """Rotation vectors (axis times angle in radians, angle in [0, pi]) of rotation matrices.

    Goes through the unit quaternion, taken from whichever of its four components is largest
    (Shepperd's method), so it is accurate for every angle, 0 and pi included.

    matrices: (..., 3, 3) rotations. Returns (..., 3) radians.
    """
    m = matrices
    diagonal = torch.stack([m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], dim=-1)
    trace = diagonal.sum(-1)
    # Each row is 4 q_i * (w, x, y, z) for the component i in (w, x, y, z) that leads it.
    skew = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    xy, xz, yz = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    candidates = torch.stack([
        torch.stack([1.0 + trace, skew[..., 0], skew[..., 1], skew[..., 2]], -1),
        torch.stack([skew[..., 0], 1.0 + 2.0 * diagonal[..., 0] - trace, xy, xz], -1),
        torch.stack([skew[..., 1], xy, 1.0 + 2.0 * diagonal[..., 1] - trace, yz], -1),
        torch.stack([skew[..., 2], xz, yz, 1.0 + 2.0 * diagonal[..., 2] - trace], -1),
    ], dim=-2)  # (..., 4, 4)
    leading = torch.stack([1.0 + trace, *(1.0 + 2.0 * diagonal - trace[..., None]).unbind(-1)], -1).argmax(-1)
    quaternion = candidates.gather(-2, leading[..., None, None].expand(*leading.shape, 1, 4))[..., 0, :]
    quaternion = quaternion / quaternion.norm(dim=-1, keepdim=True)
    quaternion = quaternion * torch.where(quaternion[..., :1] < 0, -1.0, 1.0)
    w, axis = quaternion[..., 0], quaternion[..., 1:]
    sine = axis.norm(dim=-1)
    angle = 2.0 * torch.atan2(sine, w)
    # angle / sin(angle / 2) tends to 2 / w as the angle goes to 0.
    scale = torch.where(sine > 1e-7, angle / sine.clamp_min(1e-12), 2.0 / w)
    return axis * scale[..., None]


def rigid_alignment(source: Tensor, target: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The rotation and translation that best map ``source`` onto ``target`` (weighted Kabsch).

    Minimises ``sum_n w_n |R source_n + t - target_n|^2`` over rotations R (proper, det +1) and
    translations t; no scale. Leading dimensions broadcast against each other and the weights'.

    source, target: (..., N, 3) points (any unit). weights: (..., N) nonnegative, not all zero
    (None: uniform). Returns R: (..., 3, 3) and t: (..., 3) in the points' unit, with
    ``target ~ source @ R.T + t``.
    """
    if weights is None:
        weights = torch.ones(source.shape[-2], dtype=source.dtype, device=source.device)
    weights = weights / weights.sum(-1, keepdim=True)
    source_centre = (weights[..., None] * source).sum(-2)
    target_centre = (weights[..., None] * target).sum(-2)
    covariance = ((weights[..., None] * (source - source_centre[..., None, :])).transpose(-1, -2)
                  @ (target - target_centre[..., None, :]))  # (..., 3, 3)
    u, _, vh = torch.linalg.svd(covariance)
    v = vh.transpose(-1, -2)
    reflection = torch.det(v @ u.transpose(-1, -2))
    correction = torch.ones(*reflection.shape, 3, dtype=source.dtype, device=source.device)
    correction[..., 2] = reflection
    rotation = (v * correction[..., None, :]) @ u.transpose(-1, -2)
    translation = target_centre - (rotation @ source_centre[..., None])[..., 0]
    return rotation, translation
