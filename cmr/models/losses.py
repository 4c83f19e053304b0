"""Training losses of CMR (cmr.md §4), in logits form for the 2-D terms (autocast-safe).

All 3-D quantities are root-relative in units of 0.2 m, shaped (B, N, 3).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cmr.mesh.topology import face_normals


def mesh_l1_loss(pred: list[torch.Tensor], target: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Σ_l w_l · mean|pred_l - target_l| over the mesh pyramid (lists fine to coarse)."""
    if not len(pred) == len(target) == len(weights):
        raise ValueError(
            f"mesh pyramid lengths differ: {len(pred)} predictions, {len(target)} targets, {len(weights)} weights"
        )
    return sum(weight * F.l1_loss(p, t) for p, t, weight in zip(pred, target, weights))


def bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy between sigmoid(logits) and ``target`` in [0, 1], same shape."""
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))


def _face_edges(vertices: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The edges v1-v0, v2-v0, v2-v1 of every face: three (B, F, 3) tensors."""
    v0, v1, v2 = (vertices[:, faces[:, k]] for k in range(3))
    return v1 - v0, v2 - v0, v2 - v1


def normal_loss(pred: torch.Tensor, target: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean |cos| between each predicted face edge and the target face normal (I2L-MeshNet).

    Args:
        pred, target: (B, N, 3) vertices.
        faces: (F, 3) int64 vertex indices.
    Returns:
        scalar, 0 when every predicted edge lies in its target face's plane.
    """
    pred_edges = [F.normalize(edge, dim=-1) for edge in _face_edges(pred, faces)]
    normal = face_normals(target, faces)
    cosines = [torch.abs((edge * normal).sum(dim=-1)) for edge in pred_edges]
    return torch.cat(cosines, dim=1).mean()


def edge_length_loss(pred: torch.Tensor, target: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean | |e_pred| - |e_target| | over the three edges of every face; (B, N, 3) inputs."""
    differences = [
        torch.abs(p.norm(dim=-1) - t.norm(dim=-1))
        for p, t in zip(_face_edges(pred, faces), _face_edges(target, faces))
    ]
    return torch.cat(differences, dim=1).mean()


def joint_l1_loss(vertices: torch.Tensor, joints: torch.Tensor, regressor: torch.Tensor) -> torch.Tensor:
    """mean|J·V - joints|: (B, N, 3) vertices, (B, J, 3) joints, (J, N) regressor."""
    return F.l1_loss(torch.einsum("jn,bnc->bjc", regressor.to(vertices.dtype), vertices), joints)


def _mesh_terms(outputs: dict, target_mesh: list[torch.Tensor], loss_cfg, faces: torch.Tensor
                ) -> dict[str, tuple[torch.Tensor, float]]:
    """Mesh terms ``{name: (value, weight)}``: pyramid L1, normal and edge-length losses."""
    vertices = outputs["mesh"][0]
    return {
        "mesh_l1": (mesh_l1_loss(outputs["mesh"], target_mesh, list(loss_cfg.MESH_L1)), 1.0),
        "normal": (normal_loss(vertices, target_mesh[0], faces), loss_cfg.NORMAL),
        "edge": (edge_length_loss(vertices, target_mesh[0], faces), loss_cfg.EDGE),
    }


def _map_terms(name: str, outputs: dict, target: torch.Tensor, weight: float, aux_weight: float
               ) -> dict[str, tuple[torch.Tensor, float]]:
    """2-D map terms ``{name: (value, weight)}`` of ``'heatmap'`` or ``'mask'``: BCE of the
    final logits ``outputs[name + '_logits']`` against ``target`` (B, C, h, w) in [0, 1], and
    ``'aux_' + name``, summed over the intermediate logits, when the model has any."""
    terms = {name: (bce_with_logits(outputs[f"{name}_logits"], target), weight)}
    if outputs[f"aux_{name}_logits"]:
        terms[f"aux_{name}"] = (sum(bce_with_logits(m, target) for m in outputs[f"aux_{name}_logits"]), aux_weight)
    return terms


def weighted_terms(
    outputs: dict,
    targets: dict,
    loss_cfg,
    faces: torch.Tensor | np.ndarray,
    joint_regressor: torch.Tensor | np.ndarray,
) -> dict[str, tuple[torch.Tensor, float]]:
    """Every loss term with a target, ``{name: (value, weight)}`` (see :func:`compute_losses`)."""
    vertices = outputs["mesh"][0]
    faces = torch.as_tensor(faces, dtype=torch.long, device=vertices.device)
    weighted: dict[str, tuple[torch.Tensor, float]] = {}
    if "mesh" in targets:
        weighted.update(_mesh_terms(outputs, targets["mesh"], loss_cfg, faces))
    if "heatmaps" in targets:
        weighted.update(_map_terms("heatmap", outputs, targets["heatmaps"], loss_cfg.HEATMAP, loss_cfg.AUX_HEATMAP))
    if "mask" in targets:
        mask = targets["mask"]
        mask = mask.unsqueeze(1) if mask.ndim == 3 else mask
        weighted.update(_map_terms("mask", outputs, mask, loss_cfg.MASK, loss_cfg.AUX_MASK))
    if "xyz" in targets and loss_cfg.JOINT_3D > 0:
        regressor = torch.as_tensor(joint_regressor, device=vertices.device)
        weighted["joint_3d"] = (joint_l1_loss(vertices, targets["xyz"], regressor), loss_cfg.JOINT_3D)
    if not weighted:
        raise ValueError(f"no loss term has a target; targets hold {sorted(targets)}")
    return weighted


def compute_losses(outputs: dict, targets: dict, loss_cfg, faces, joint_regressor) -> dict[str, torch.Tensor]:
    """Every loss term and their weighted sum.

    A term is computed only when its target is in ``targets``, so data without meshes (joints
    only, say) simply omit ``'mesh'``.

    Args:
        outputs: a model's output dict (:mod:`cmr.models.outputs`).
        targets: a (batched) sample dict of :mod:`cmr.data.freihand`; any of ``'mesh'`` (list
            of (B, N_l, 3), fine to coarse), ``'heatmaps'`` (B, J, h, w) in [0, 1], ``'mask'``
            (B, 1, h, w) or (B, h, w) in [0, 1], ``'xyz'`` (B, J, 3) joints, root-relative,
            units of 0.2 m (used when ``LOSS.JOINT_3D`` > 0).
        loss_cfg: the ``LOSS`` config section (weights).
        faces: (F, 3) triangles of the finest level (tensor or array).
        joint_regressor: (J, N_0) joints-from-vertices matrix (FreiHAND order; tensor or array).
    Returns:
        ``{'mesh_l1', 'normal', 'edge', 'heatmap', 'aux_heatmap', 'mask', 'aux_mask',
        'joint_3d'}`` for the terms present, unweighted except ``mesh_l1`` (already
        Σ_l MESH_L1[l] · L1_l) and the aux terms (sums over the intermediate outputs), plus
        ``'total'``, the weighted sum.
    """
    weighted = weighted_terms(outputs, targets, loss_cfg, faces, joint_regressor)
    terms = {name: value for name, (value, _) in weighted.items()}
    terms["total"] = sum(weight * value for value, weight in weighted.values())
    return terms
