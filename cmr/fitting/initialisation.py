"""The fit's closed-form start: bone rotations from the target mesh, then shape and translation.

1. **Bone alignment.** The target mesh has the hand model's topology (the project's template
   is the model's rest mesh, vertex for vertex), so every bone's world rotation is the rigid
   (Kabsch) alignment of the rest mesh onto the target, each vertex weighted by its skinning
   weight for that bone raised to :data:`BONE_WEIGHT_EXPONENT` (the vertices the bone moves
   alone lead). Local rotations follow down the kinematic tree.
2. **Shape and translation.** For fixed joint rotations, linear blend skinning is affine in the
   shape coefficients and the translation (the rest vertices and the rig joints are linear in
   beta), so the mesh term plus the shape prior is minimised in closed form: the posed mesh is
   evaluated at beta = 0 and at each unit beta, and the translation is eliminated by centring.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cmr.fitting.objective import MILLIMETRES_PER_METRE
from cmr.geometry.rotations import rigid_alignment, rotation_vectors_from_matrices
from cmr.hand.model import HandModel

#: Exponent of the skinning weights in each bone's alignment (4 gave the smallest joint-angle
#: error on sampled poses: 1.1 degrees mean against 2.4 for the plain weights).
BONE_WEIGHT_EXPONENT = 4


def pose_from_bone_alignment(model: HandModel, target: Tensor, side: str) -> Tensor:
    """The pose whose bones best match the target mesh, bone by bone (step 1 of the module docstring).

    target: (B, V, 3) metres, camera space, the model's topology. Returns (B, 16, 3) axis-angle in
    ``side``'s convention (not limited).
    """
    batch = len(target)
    rest = model(target.new_zeros(batch, model.parents.numel(), 3), side=side).vertices  # (B, V, 3)
    weights = model.skin_weights.T.pow(BONE_WEIGHT_EXPONENT)  # (J, V)
    world, _ = rigid_alignment(rest[:, None], target[:, None], weights)  # (B, J, 3, 3)
    parents = model.parents.clamp_min(0)
    local = world[:, parents].transpose(-1, -2) @ world
    local[:, 0] = world[:, 0]
    return rotation_vectors_from_matrices(local)


def shape_and_translation(model: HandModel, pose: Tensor, target: Tensor, side: str, mesh_weight: float,
                          shape_prior_weight: float, points: str = "vertices") -> tuple[Tensor, Tensor]:
    """The shape and translation minimising the mesh term and the shape prior for a fixed pose.

    Minimises ``mesh_weight * mean_v |v(beta) + t - target_v|^2 (mm^2) + shape_prior_weight
    |beta|^2`` exactly (step 2 of the module docstring).

    pose: (B, 16, 3) in ``side``'s convention. target: (B, V, 3) metres: vertices, or with
    ``points='joints'`` the (B, 21, 3) keypoints (also linear in beta). Returns shape (B, S) and
    translation (B, 3) metres.
    """
    batch, num_shapes = len(pose), model.shape_dirs.shape[-1]
    base = getattr(model(pose, side=side), points)  # (B, V, 3)
    unit_shapes = torch.eye(num_shapes, dtype=pose.dtype, device=pose.device).repeat(batch, 1)
    posed = getattr(model(pose.repeat_interleave(num_shapes, 0), unit_shapes, side=side), points)
    directions = posed.reshape(batch, num_shapes, -1, 3) - base[:, None]  # (B, S, V, 3) m per unit
    offsets = target - base  # (B, V, 3)
    centred_directions = (directions - directions.mean(2, keepdim=True)).flatten(2) * MILLIMETRES_PER_METRE
    centred_offsets = (offsets - offsets.mean(1, keepdim=True)).flatten(1) * MILLIMETRES_PER_METRE
    scale = mesh_weight / target.shape[1]
    normal = scale * centred_directions @ centred_directions.transpose(1, 2)
    normal = normal + shape_prior_weight * torch.eye(num_shapes, dtype=pose.dtype, device=pose.device)
    rhs = scale * (centred_directions @ centred_offsets[..., None])
    shape = torch.linalg.solve(normal, rhs)[..., 0]
    translation = (offsets - torch.einsum("bsvc,bs->bvc", directions, shape)).mean(1)
    return shape, translation
