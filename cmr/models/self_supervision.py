"""Losses from detected 2-D keypoints and mesh priors (S2HAND, Chen et al. CVPR 2021, adapted).

Every function returns one value per sample, (B,), so that a batch mixing samples with and
without 3-D labels weighs each term by the samples it applies to. Pixel distances are measured
in a 224-px crop (``pixels * 224 / S`` for an S-px input), the frame S2HAND's weights and its
5-px knee were set in. Joints are in FreiHAND order (:mod:`cmr.hand.conventions`).

Where S2HAND regularises with MANO (a pose-PCA space, per-joint angle boxes, a shape prior),
this network has no pose parameters: its decoder outputs free vertices. The priors here are
therefore on the mesh: 3-D bone lengths held within a band around the template's (its half-width,
0.2 in log ratio, is the 95th percentile of the open hand model's shape space at beta ~ N(0, I)), and a smoothness prior that keeps each
vertex's Laplacian (its offset from its neighbours' mean) near the template's, which is what the
spiky meshes of the bundled model violate. The open hand model's joint limits enter at the
fitting stage (:mod:`cmr.fitting`), which is too slow to run in every training step.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cmr.hand.conventions import FREIHAND_BONES, bone_lengths
from cmr.mesh.topology import unique_edges

#: Crop side (pixels) in which the 2-D distances are measured.
REFERENCE_CROP = 224.0
#: Knee (pixels at 224) of the robust distance: quadratic below, linear above (S2HAND's 5 px).
ROBUST_KNEE_PX = 5.0
#: S2HAND's per-keypoint weights: 2 for the wrist, 1.5 for the five tips, 1 for the others.
KEYPOINT_WEIGHTS = torch.tensor([2.0] + [1.0, 1.0, 1.0, 1.5] * 5)
#: Half-width of the accepted band of each bone's log length ratio to the template's: the open hand
#: model's shape space (beta ~ N(0, I)) has 95 % of its bones within 0.19-0.23 of the mean hand's.
BONE_LENGTH_TOLERANCE = 0.2
#: Roughness accepted before the smoothness prior acts: this times the template's Laplacian.
SMOOTHNESS_SLACK = 1.5
#: Temperature of the heatmaps' soft-argmax (multiplies the logits).
SOFT_ARGMAX_SHARPNESS = 2.0


def robust_distance(distance: Tensor) -> Tensor:
    """S2HAND's penalty of a distance d (pixels at 224): d^2 / (2 k) below the knee k, d - k/2 above."""
    knee = ROBUST_KNEE_PX
    return torch.where(distance < knee, distance**2 / (2.0 * knee), distance - knee / 2.0)


def _pixels_at_reference(uv: Tensor, crop_size: int) -> Tensor:
    return uv * (REFERENCE_CROP / float(crop_size))


def keypoint_loss(projected: Tensor, keypoints: Tensor, confidence: Tensor, crop_size: int) -> Tensor:
    """Confidence^2-weighted robust distance of projected joints to detected keypoints.

    projected, keypoints: (B, 21, 2) crop pixels. confidence: (B, 21) in [0, 1] (0: ignored).
    crop_size: S. Returns (B,), 0 for a sample without a confident keypoint.
    """
    distance = (_pixels_at_reference(projected, crop_size) - _pixels_at_reference(keypoints, crop_size)).norm(dim=-1)
    weight = (confidence * KEYPOINT_WEIGHTS.to(confidence)) ** 2
    return (robust_distance(distance) * weight).sum(1) / weight.sum(1).clamp_min(1e-6)


def bone_direction_loss(projected: Tensor, keypoints: Tensor, confidence: Tensor) -> Tensor:
    """Mean squared difference of unit 2-D bone directions, weighted by both ends' confidences.

    projected, keypoints: (B, 21, 2) pixels. confidence: (B, 21). Returns (B,) in [0, 4].
    """
    child, parent = (torch.tensor(index, device=projected.device) for index in zip(*FREIHAND_BONES))

    def directions(points: Tensor) -> Tensor:
        bones = points[:, child] - points[:, parent]
        return bones / (bones.norm(dim=-1, keepdim=True) + 1e-4)

    weight = confidence[:, child] * confidence[:, parent]
    difference = ((directions(projected) - directions(keypoints)) ** 2).sum(-1)
    return (difference * weight).sum(1) / weight.sum(1).clamp_min(1e-6)


def bone_length_prior(joints: Tensor, reference: Tensor) -> Tensor:
    """Squared excess of |log(length / reference)| beyond :data:`BONE_LENGTH_TOLERANCE`.

    joints: (B, 21, 3) metres. reference: (20,) the template's bone lengths, metres. Returns (B,).
    """
    ratio = torch.log(bone_lengths(joints).clamp_min(1e-6) / reference.to(joints))
    return (torch.relu(ratio.abs() - BONE_LENGTH_TOLERANCE) ** 2).mean(1)


def uniform_laplacian(faces: np.ndarray, num_vertices: int) -> Tensor:
    """(N, N) float32 dense ``I - D^-1 A`` of the mesh's edge graph (vertices in no edge: 0 rows)."""
    edges = unique_edges(np.asarray(faces))
    adjacency = np.zeros((num_vertices, num_vertices), dtype=np.float64)
    adjacency[edges[:, 0], edges[:, 1]] = adjacency[edges[:, 1], edges[:, 0]] = 1.0
    degree = adjacency.sum(1, keepdims=True)
    connected = degree[:, 0] > 0
    laplacian = np.zeros_like(adjacency)
    laplacian[connected] = np.eye(num_vertices)[connected] - adjacency[connected] / degree[connected]
    return torch.from_numpy(laplacian.astype(np.float32))


def smoothness_prior(vertices: Tensor, laplacian: Tensor, reference_norms: Tensor) -> Tensor:
    """Mean excess (cm) of each vertex's Laplacian length over :data:`SMOOTHNESS_SLACK` times the
    template's.

    vertices: (B, N, 3) metres. laplacian: (N, N). reference_norms: (N,) metres. Returns (B,).
    """
    norms = torch.einsum("nm,bmc->bnc", laplacian.to(vertices), vertices).norm(dim=-1)
    return torch.relu(norms - SMOOTHNESS_SLACK * reference_norms.to(vertices)).mean(1) * 100.0


def soft_argmax_uv(heatmap_logits: Tensor, input_size: int) -> Tensor:
    """Differentiable keypoints from heatmap logits: the expected position under
    ``softmax(SOFT_ARGMAX_SHARPNESS * logits)`` over each map.

    heatmap_logits: (B, J, h, w). input_size: side S of the input. Returns (B, J, 2) input
    pixels (cell x maps to ``(x + 0.5) * S / w - 0.5``, as :func:`cmr.models.outputs.heatmaps_to_uv`).
    """
    batch, joints, height, width = heatmap_logits.shape
    weights = torch.softmax(SOFT_ARGMAX_SHARPNESS * heatmap_logits.flatten(2), dim=-1).view(batch, joints, height, width)
    columns = (torch.arange(width, device=weights.device, dtype=weights.dtype) + 0.5) * input_size / width - 0.5
    rows = (torch.arange(height, device=weights.device, dtype=weights.dtype) + 0.5) * input_size / height - 0.5
    u = (weights.sum(2) * columns).sum(-1)
    v = (weights.sum(3) * rows).sum(-1)
    return torch.stack([u, v], dim=-1)


def consistency_loss(heatmap_uv: Tensor, projected: Tensor, crop_size: int) -> Tensor:
    """Robust distance of the projected mesh joints to the 2-D branch's keypoints. (B, 21, 2) each;
    returns (B,).

    Unlike S2HAND's 2D-3D consistency, only the mesh receives the gradient: here the heatmaps are
    not a training-only branch but what the registration places the mesh with, and the detected
    keypoints supervise them directly (:func:`heatmap_keypoint_loss`), so a poor mesh must not pull
    them away."""
    distance = (_pixels_at_reference(heatmap_uv.detach(), crop_size)
                - _pixels_at_reference(projected, crop_size)).norm(dim=-1)
    return robust_distance(distance).mean(1)


def heatmap_keypoint_loss(heatmap_logits: Tensor, target: Tensor, confidence: Tensor) -> Tensor:
    """Confidence-weighted BCE of the heatmaps against Gaussians at the detected keypoints.

    heatmap_logits, target: (B, J, h, w). confidence: (B, J). Returns (B,).
    """
    bce = torch.nn.functional.binary_cross_entropy_with_logits(heatmap_logits, target, reduction="none").mean((2, 3))
    return (bce * confidence).sum(1) / confidence.sum(1).clamp_min(1e-6)


def template_references(template) -> tuple[Tensor, Tensor, Tensor]:
    """The priors' references from a :class:`cmr.mesh.template.Template`: bone lengths (20,)
    metres, the Laplacian (N, N) and the template's Laplacian lengths (N,) metres."""
    vertices = np.asarray(template.vertices[0], dtype=np.float64)
    joints = template.joint_regressor @ vertices
    lengths = bone_lengths(torch.from_numpy(joints)).float()
    laplacian = uniform_laplacian(template.faces[0], len(vertices))
    norms = (laplacian.double() @ torch.from_numpy(vertices)).norm(dim=-1).float()
    return lengths, laplacian, norms

