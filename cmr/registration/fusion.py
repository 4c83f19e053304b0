"""The adaptive fusion of the 2D and 1D translations, and the whole registration."""

from __future__ import annotations

import torch
from torch import Tensor

from cmr.registration.joints import fit_translation_2d
from cmr.registration.settings import Registration, RegistrationConfig
from cmr.registration.silhouette import silhouette_step


def fusion_weights(t_2d: Tensor, t_1d: Tensor, success: Tensor, has_silhouette: Tensor,
                   config: RegistrationConfig) -> Tensor:
    """Weight of the 1D translation in the adaptive fusion.

    With d = ||t_2d - t_1d||: 0 for d <= fusion_near, 1 for d > fusion_far, linear between.
    Samples without a silhouette get 0; samples whose 2D step failed but have one get 1.

    t_2d, t_1d: (B, 3) metres. success, has_silhouette: (B,) bool. Returns (B,) in [0, 1].
    """
    distance = (t_2d - t_1d).norm(dim=1)
    ramp = (distance - config.fusion_near) / (config.fusion_far - config.fusion_near)
    weight = ramp.clamp(0.0, 1.0)
    weight = torch.where(success, weight, torch.ones_like(weight))
    return weight * has_silhouette


def register(vertices: Tensor, joints: Tensor, uv: Tensor, confidence: Tensor, K: Tensor,
             mask: Tensor | None = None, config: RegistrationConfig | None = None) -> Registration:
    """Adaptive 2D-1D registration of a batch of root-relative hand meshes.

    vertices: (B, N, 3) metres, root-relative mesh (network output * 0.2).
    joints: (B, J, 3) metres, root-relative joints in the order of ``uv`` (FreiHAND, J = 21).
    uv: (B, J, 2) pixels in the input crop (pixel centres at integers, see module docstring).
    confidence: (B, J) in [0, 1], e.g. heatmap maxima (:func:`cmr.models.outputs.heatmaps_to_uv`).
    K: (B, 3, 3) intrinsics of the input crop.
    mask: optional (B, H, W) silhouette probabilities or bool in the crop's pixel grid; None
        (or ``config.use_silhouette`` False) skips the 1D step.
    config: :class:`RegistrationConfig` (the configuration's defaults if None).
    Returns a :class:`Registration`.
    """
    config = config or RegistrationConfig.defaults()
    K = K.to(vertices.dtype)
    t_2d, success, inliers, reprojection_error = fit_translation_2d(joints, uv, confidence, K,
                                                                    config)
    t_1d, has_silhouette = t_2d, torch.zeros_like(success)
    silhouette_error = torch.zeros_like(t_2d[:, 0])
    if mask is not None and config.use_silhouette:
        t_1d, has_silhouette, silhouette_error = silhouette_step(vertices, mask, K, t_2d, success, config)
    weight = fusion_weights(t_2d, t_1d, success, has_silhouette, config)
    translation = t_2d + weight[:, None] * (t_1d - t_2d)
    return Registration(
        translation=translation,
        translation_2d=t_2d,
        translation_1d=t_1d,
        success=success,
        has_silhouette=has_silhouette,
        fusion_weight=weight,
        inliers=inliers,
        reprojection_error_px=reprojection_error,
        silhouette_error_px=silhouette_error,
        vertices=vertices + translation[:, None],
        joints=joints + translation[:, None],
    )

