"""The fusion of the 2D and 1D translations by how far each can be trusted, and the whole registration."""

from __future__ import annotations

import torch
from torch import Tensor

from cmr.registration.joints import depth_variance_2d, fit_translation_2d
from cmr.registration.settings import Registration, RegistrationConfig
from cmr.registration.silhouette_fit import SilhouetteFit, silhouette_step


def fusion_weights(t_2d: Tensor, t_1d: Tensor, variance_2d: Tensor, variance_1d: Tensor,
                   suspect: Tensor, success: Tensor, has_silhouette: Tensor,
                   config: RegistrationConfig) -> Tensor:
    """Weight of the 1D translation in the fusion: the inverse-variance weight of its depth.

    The 2D depth variance comes from the joints' residuals and confidences
    (:func:`~cmr.registration.joints.depth_variance_2d`), the 1D one from the silhouette fit's
    residuals, floored at ``silhouette_depth_std^2``. Formal variances miss systematic errors,
    so when the two translations disagree by more than ``fusion_consistency_sigmas`` standard
    deviations of their difference, and the silhouette's fit showed trouble (``suspect``:
    outlying entries, as a forearm or an occluder gives, or an edge offset), the excess squared
    disagreement is added to the silhouette's variance. Otherwise no side is blamed: spreading
    the excess over both in proportion to their variances leaves the weight as it is (a clean
    silhouette fit next to poorly spread or biased joints keeps its weight). Then
    ``weight = var_2d / (var_2d + var_1d)``. Samples without a silhouette get 0; samples whose
    2D step failed but have one get 1.

    t_2d, t_1d: (B, 3) metres. variance_2d, variance_1d: (B,) square metres (inf: unknown).
    suspect, success, has_silhouette: (B,) bool. Returns (B,) in [0, 1].
    """
    variance_1d = variance_1d.clamp_min(config.silhouette_depth_std**2)
    variance_2d = torch.where(success, variance_2d, torch.full_like(variance_2d, float("inf")))
    squared = ((t_2d - t_1d) ** 2).sum(1)
    allowed = config.fusion_consistency_sigmas**2 * (variance_1d + variance_2d)
    excess = torch.nan_to_num((squared - allowed).clamp_min(0.0), nan=0.0)
    variance_1d = variance_1d + excess * suspect
    weight = variance_2d / (variance_2d + variance_1d)
    weight = torch.where(torch.isfinite(variance_2d), weight, torch.ones_like(weight))
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
    variance_2d = depth_variance_2d(joints, uv, confidence, K, t_2d, inliers,
                                    config.fusion_error_correlation)
    none = torch.zeros_like(success)
    fit = SilhouetteFit(t_2d, none, torch.zeros_like(t_2d[:, 0]), torch.full_like(t_2d[:, 0], float("inf")), none)
    if mask is not None and config.use_silhouette:
        fit = silhouette_step(vertices, mask, K, t_2d, success, config)
    t_1d, has_silhouette = fit.translation, fit.has_silhouette
    weight = fusion_weights(t_2d, t_1d, variance_2d, fit.depth_variance, fit.suspect, success,
                            has_silhouette, config)
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
        silhouette_error_px=fit.error_px,
        vertices=vertices + translation[:, None],
        joints=joints + translation[:, None],
    )
