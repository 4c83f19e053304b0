"""Skinning weights, the kinematic chain and linear blend skinning (batched, differentiable)."""

from __future__ import annotations

import numpy as np
import torch

from cmr.mesh.topology import unique_edges


def smooth_skin_weights(initial_weights: np.ndarray, faces: np.ndarray, iterations: int) -> np.ndarray:
    """Diffuse per-vertex bone weights over the mesh so they fall off smoothly across joints.

    Each iteration replaces a vertex's weights by the mean of its own and its neighbours'
    (the mesh's edge graph), so the blending follows the surface and never leaks between
    fingers; averaging keeps rows nonnegative and summing to one.

    Args:
        initial_weights: (V, J) nonnegative rows summing to 1 (hard or half-half labels).
        faces: (F, 3) triangle vertex ids.
        iterations: number of averaging steps; the blend zone grows like sqrt(iterations)
            edge lengths.
    Returns:
        (V, J) smoothed weights.
    """
    edges = unique_edges(faces)
    num_vertices = len(initial_weights)
    adjacency = np.zeros((num_vertices, num_vertices))
    adjacency[edges[:, 0], edges[:, 1]] = 1.0
    adjacency[edges[:, 1], edges[:, 0]] = 1.0
    adjacency += np.eye(num_vertices)
    averaging = adjacency / adjacency.sum(axis=1, keepdims=True)
    weights = initial_weights.astype(np.float64)
    for _ in range(iterations):
        weights = averaging @ weights
    return weights / weights.sum(axis=1, keepdims=True)


def axis_angle_to_matrix(rotation_vectors: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: rotation vectors (..., 3) in radians -> matrices (..., 3, 3).

    Differentiable everywhere including the zero rotation (Taylor terms near zero).
    """
    angle_sq = (rotation_vectors * rotation_vectors).sum(-1, keepdim=True).unsqueeze(-1)
    small = angle_sq < 1e-8
    safe_sq = torch.where(small, torch.ones_like(angle_sq), angle_sq)
    angle = torch.sqrt(safe_sq)
    sin_term = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(angle) / angle)
    cos_term = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(angle)) / safe_sq)
    x, y, z = rotation_vectors.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rotation_vectors.shape, 3)
    identity = torch.eye(3, dtype=rotation_vectors.dtype, device=rotation_vectors.device)
    return identity + sin_term * cross + cos_term * (cross @ cross)


def forward_kinematics(
    rotations: torch.Tensor, joints: torch.Tensor, parents: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compose the kinematic chain.

    Args:
        rotations: (B, J, 3, 3) local rotations (in the rest axes, relative to the parent).
        joints: (B, J, 3) rest joint centres, metres.
        parents: parent id of every joint (-1 for the root), parents before children.
    Returns:
        global_rotations: (B, J, 3, 3) world rotation of every bone.
        posed_joints: (B, J, 3) posed joint centres, metres.
    """
    global_rotations = [rotations[:, 0]]
    posed_joints = [joints[:, 0]]
    for joint in range(1, len(parents)):
        parent = parents[joint]
        offset = joints[:, joint] - joints[:, parent]
        global_rotations.append(global_rotations[parent] @ rotations[:, joint])
        posed_joints.append(posed_joints[parent] + (global_rotations[parent] @ offset.unsqueeze(-1)).squeeze(-1))
    return torch.stack(global_rotations, dim=1), torch.stack(posed_joints, dim=1)


def linear_blend_skinning(
    vertices: torch.Tensor,
    joints: torch.Tensor,
    global_rotations: torch.Tensor,
    posed_joints: torch.Tensor,
    skin_weights: torch.Tensor,
) -> torch.Tensor:
    """Pose rest vertices with linear blend skinning.

    Args:
        vertices: (B, V, 3) rest (shaped) vertices, metres.
        joints: (B, J, 3) rest joint centres, metres.
        global_rotations: (B, J, 3, 3) from :func:`forward_kinematics`.
        posed_joints: (B, J, 3) from :func:`forward_kinematics`.
        skin_weights: (V, J) rows summing to 1.
    Returns:
        (B, V, 3) posed vertices, metres.
    """
    translations = posed_joints - (global_rotations @ joints.unsqueeze(-1)).squeeze(-1)
    blended_rotations = torch.einsum("vj,bjkl->bvkl", skin_weights, global_rotations)
    blended_translations = torch.einsum("vj,bjk->bvk", skin_weights, translations)
    return (blended_rotations @ vertices.unsqueeze(-1)).squeeze(-1) + blended_translations
