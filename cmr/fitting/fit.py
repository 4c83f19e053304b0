"""``fit_hand``: the open hand model (or any :class:`cmr.hand.HandModel`-like model) fitted to a
camera-space mesh, 2D keypoints and a silhouette, batched."""

from __future__ import annotations

import functools
import math
from typing import Sequence

import torch
from torch import Tensor

from cmr.fitting.initialisation import pose_from_bone_alignment, shape_and_translation
from cmr.fitting.keypoint_start import pose_from_keypoints
from cmr.fitting.inputs import FitTargets, normalise_sides, prepare_targets
from cmr.fitting.objective import (
    MILLIMETRES_PER_METRE,
    PoseParameters,
    keypoint_term,
    mesh_term,
    posed_hand,
    reprojection_distances,
    shape_prior,
    silhouette_distances,
    weighted_mean,
)
from cmr.fitting.settings import FittingConfig, HandFit
from cmr.hand.model import HandModel


@functools.lru_cache(maxsize=4)
def default_model(device: str) -> HandModel:
    """The open hand model (float32) on ``device``, built once per device."""
    return HandModel().to(device)


def _objective(model: HandModel, parameters: PoseParameters, side: str, variables: tuple, targets: FitTargets,
               config: FittingConfig) -> Tensor:
    """(B,) weighted sum of the terms (see :mod:`cmr.fitting.objective`) at ``variables``: global
    rotation (B, 3) radians, free joint parameters (B, 15, 3), shape (B, S), translation (B, 3) m."""
    rotation, free, shape, translation = variables
    hand, _ = posed_hand(model, parameters, side, rotation, free, shape, translation)
    total = config.shape_prior_weight * shape_prior(shape)
    if targets.vertices is not None:
        total = total + config.mesh_weight * mesh_term(hand.vertices, targets.vertices)
    if targets.joints is not None:
        total = total + config.joint_weight * mesh_term(hand.joints, targets.joints)
    if targets.keypoints is not None:
        total = total + config.keypoint_weight * keypoint_term(hand.joints, targets.keypoints,
                                                               targets.keypoint_weights, targets.K)
    if targets.distance_maps is not None:
        outside = silhouette_distances(hand.vertices, targets.K, targets.distance_maps).pow(2).mean(-1)
        total = total + config.silhouette_weight * outside * targets.has_mask
    return total


def _refine(model: HandModel, parameters: PoseParameters, side: str, variables: tuple, targets: FitTargets,
            config: FittingConfig) -> tuple:
    """``config.iterations`` Adam steps on the summed objective, learning rates on a cosine to 0."""
    variables = tuple(value.detach().clone().requires_grad_() for value in variables)
    steps = (config.rotation_step, config.pose_step, config.shape_step, config.translation_step)
    optimiser = torch.optim.Adam([{"params": [value], "lr": step} for value, step in zip(variables, steps)])
    for iteration in range(config.iterations):
        decay = 0.5 * (1.0 + math.cos(math.pi * iteration / config.iterations))
        for group, step in zip(optimiser.param_groups, steps):
            group["lr"] = step * decay
        optimiser.zero_grad(set_to_none=True)
        _objective(model, parameters, side, variables, targets, config).sum().backward()
        optimiser.step()
    return tuple(value.detach() for value in variables)


def _start(model: HandModel, parameters: PoseParameters, targets: FitTargets, side: str,
           config: FittingConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Closed-form start (rotation, free joint parameters, shape, translation): from the 3D
    keypoint targets when given (:mod:`~cmr.fitting.keypoint_start`, with the shape that best
    fits them, solved twice), else from
    the target mesh (:mod:`~cmr.fitting.initialisation`)."""
    if targets.joints is not None:
        pose, _ = pose_from_keypoints(model, targets.joints, side)
        shape, _ = shape_and_translation(model, pose, targets.joints, side, config.joint_weight,
                                         config.shape_prior_weight, points="joints")
        pose, _ = pose_from_keypoints(model, targets.joints, side, shape)
        free = parameters.free_from_pose(pose)
        shape, translation = shape_and_translation(model, parameters.pose(pose[:, 0], free), targets.joints, side,
                                                   config.joint_weight, config.shape_prior_weight, points="joints")
        return pose[:, 0], free, shape, translation
    aligned = pose_from_bone_alignment(model, targets.vertices, side)
    rotation, free = aligned[:, 0], parameters.free_from_pose(aligned)
    shape, translation = shape_and_translation(model, parameters.pose(rotation, free), targets.vertices, side,
                                               config.mesh_weight, config.shape_prior_weight)
    return rotation, free, shape, translation


def _fit_side(model: HandModel, targets: FitTargets, side: str, config: FittingConfig) -> HandFit:
    """Fit every sample of ``targets`` as a ``side`` hand (see :func:`fit_hand`)."""
    reference = model.rest_vertices
    parameters = PoseParameters(side, config.joint_limits, reference.dtype, reference.device)
    with torch.no_grad():
        rotation, free, shape, translation = _start(model, parameters, targets, side, config)
    if config.iterations > 0:
        with torch.enable_grad():
            rotation, free, shape, translation = _refine(model, parameters, side, (rotation, free, shape, translation),
                                                         targets, config)
    with torch.no_grad():
        hand, pose = posed_hand(model, parameters, side, rotation, free, shape, translation)
        mesh_error = None
        if targets.vertices is not None:
            mesh_error = (hand.vertices - targets.vertices).norm(dim=-1).mean(-1) * MILLIMETRES_PER_METRE
        keypoint_error = silhouette_error = None
        if targets.keypoints is not None:
            keypoint_error = weighted_mean(reprojection_distances(hand.joints, targets.keypoints, targets.K),
                                           targets.keypoint_weights)
        if targets.distance_maps is not None:
            silhouette_error = silhouette_distances(hand.vertices, targets.K, targets.distance_maps).mean(-1)
            silhouette_error = silhouette_error * targets.has_mask
    return HandFit(pose, shape, translation, hand.vertices, hand.joints, (side,) * len(pose), mesh_error,
                   keypoint_error, silhouette_error)


def _merge(parts: list[tuple[Tensor, HandFit]], sides: tuple[str, ...]) -> HandFit:
    """One :class:`HandFit` from per-side fits of the samples ``index`` (in input order)."""
    if len(parts) == 1:
        return parts[0][1]
    merged = {}
    for name in ("pose", "shape", "translation", "vertices", "joints", "mesh_error_mm", "keypoint_error_px",
                 "silhouette_error_px"):
        first = getattr(parts[0][1], name)
        if first is None:
            merged[name] = None
            continue
        value = first.new_empty((len(sides),) + first.shape[1:])
        for index, fit in parts:
            value[index] = getattr(fit, name)
        merged[name] = value
    return HandFit(sides=sides, **merged)


def fit_hand(
    vertices,
    keypoints=None,
    confidence=None,
    K=None,
    mask=None,
    side: str | Sequence[str] = "right",
    config: FittingConfig | None = None,
    model: HandModel | None = None,
    joints=None,
) -> HandFit:
    """Fit the hand model to B camera-space hands (see :mod:`cmr.fitting` for the method).

    Args:
        vertices: (B, 778, 3) metres, camera space: the target mesh (e.g. the network's
            registered prediction), in the hand model's topology (the project's template); or
            None to fit the ``joints`` (and keypoints, silhouette) alone.
        keypoints: optional (B, 21, 2) pixels, FreiHAND order.
        confidence: optional (B, 21) in [0, 1] per keypoint (default 1); keypoints at or below
            ``config.confidence_threshold`` are ignored.
        K: (B, 3, 3) pixel intrinsics of the keypoints' and mask's image (needed with either).
        mask: optional (B, H, W) silhouette probabilities or bool, in K's pixel grid.
        side: 'right', 'left', or one of them per sample.
        config: :class:`FittingConfig` (the configuration's defaults if None).
        joints: optional (B, 21, 3) metres, camera space, FreiHAND order: 3D keypoints to fit
            (e.g. the detector's, placed in camera space), weighted by ``config.joint_weight``.
        model: a :class:`cmr.hand.HandModel` (or compatible, e.g.
            :class:`cmr.hand.mano_format.ManoFormatHandModel`); None: the open hand model on the
            vertices' device. The fit runs in the model's dtype and device.
    Returns:
        :class:`HandFit`, detached (not differentiable with respect to the inputs; the fit
        enables gradients for itself, so it runs under ``torch.no_grad``). Raises ValueError
        naming the argument when an input's shape is wrong.
    """
    config = config or FittingConfig.defaults()
    if model is None:
        given = vertices if vertices is not None else joints
        model = default_model(str(torch.as_tensor(given).device) if given is not None else "cpu")
    reference = model.rest_vertices
    targets = prepare_targets(vertices, keypoints, confidence, K, mask, reference.shape[0],
                              config.confidence_threshold, config.mask_threshold, reference.dtype, reference.device, joints)
    sides = normalise_sides(side, len(targets.joints if targets.vertices is None else targets.vertices))
    parts = []
    for name in sorted(set(sides)):
        index = torch.tensor([i for i, value in enumerate(sides) if value == name], device=reference.device)
        parts.append((index, _fit_side(model, targets.select(index), name, config)))
    return _merge(parts, sides)
