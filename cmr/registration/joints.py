"""The 2D step of the registration: the translation that fits the mesh's joints to 2D joints.

See :mod:`cmr.registration` for the deviations from the reference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cmr.geometry.camera import project_points
from cmr.registration.settings import DEFAULT_TRANSLATION, RegistrationConfig


def _linear_system(joints: Tensor, uv: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """The 2 linear equations per joint ``A t = b`` of the 2D objective.

    For image row k in (u, v): ``(K_k - uv_k e_z) . (X + t) = 0``, i.e.
    ``(K_k - uv_k e_z) . t = uv_k X_z - K_k . X`` (for a zero-skew K, row u reads
    ``f_x t_x + (c_x - u) t_z = (u - c_x) X_z - f_x X_x``). The residual ``A t - b`` is the
    depth-multiplied (algebraic) reprojection error, px*m, as minimised by the reference.

    joints: (B, J, 3) metres, root-relative. uv: (B, J, 2) pixels. K: (B, 3, 3).
    Returns A: (B, J, 2, 3) and b: (B, J, 2).
    """
    rows = K[:, None, :2, :]  # (B, 1, 2, 3)
    e_z = torch.zeros(3, dtype=K.dtype, device=K.device)
    e_z[2] = 1.0
    A = rows - uv[..., None] * e_z  # (B, J, 2, 3)
    b = uv * joints[..., 2:] - (rows @ joints[..., None])[..., 0]  # (B, J, 2)
    return A, b


def algebraic_objective(t: Tensor, joints: Tensor, uv: Tensor, K: Tensor, weight: Tensor) -> Tensor:
    """The 2D objective: weighted mean over joints and u/v of the squared algebraic residual.

    t: (B, 3) metres. joints: (B, J, 3). uv: (B, J, 2). K: (B, 3, 3). weight: (B, J) >= 0.
    Returns (B,) in (px*m)^2. The reference minimises this with weight = 0/1 selection.
    """
    A, b = _linear_system(joints, uv, K)
    residual = (A @ t[:, None, :, None])[..., 0] - b  # (B, J, 2)
    return (weight[..., None] * residual**2).sum((1, 2)) / (2.0 * weight.sum(1)).clamp_min(1e-12)


def solve_translation_2d(joints: Tensor, uv: Tensor, K: Tensor, weight: Tensor,
                         z_min: float, z_max: float) -> tuple[Tensor, Tensor]:
    """Closed-form minimiser of :func:`algebraic_objective` subject to ``z_min <= t_z <= z_max``.

    The objective is a convex quadratic in t, and only t_z is bounded. Minimising it over
    (t_x, t_y) for fixed t_z leaves a convex function of t_z alone whose unconstrained
    minimiser is the t_z of the full solution; so the box-constrained optimum has
    ``t_z = clamp(t_z*, z_min, z_max)`` and (t_x, t_y) solving the 2x2 normal equations at that
    depth. This is exact (no iterations), batched, and done in float64.

    joints: (B, J, 3) metres, root-relative. uv: (B, J, 2) pixels. K: (B, 3, 3).
    weight: (B, J) >= 0, per-joint weights (0/1 for a selection).
    Returns t: (B, 3) metres in the dtype of ``joints``, and ok: (B,) bool, False where the
    system is singular (fewer than two joints with weight > 0, or degenerate geometry); there
    t is ``DEFAULT_TRANSLATION``.
    """
    A, b = _linear_system(joints.double(), uv.double(), K.double())
    w = weight.double()[..., None, None]  # (B, J, 1, 1)
    normal = (w * A.transpose(-1, -2) @ A).sum(1)  # (B, 3, 3)
    rhs = (w * A.transpose(-1, -2) @ b[..., None]).sum(1)  # (B, 3, 1)
    ok = (weight > 0).sum(1) >= 2
    eye = torch.eye(3, dtype=normal.dtype, device=normal.device)
    normal = torch.where(ok[:, None, None], normal, eye)
    free, info = torch.linalg.solve_ex(normal, rhs)
    ok = ok & (info == 0) & torch.isfinite(free).all(1)[:, 0]
    t_z = free[:, 2, 0].clamp(z_min, z_max)
    rhs_xy = rhs[:, :2, 0] - normal[:, :2, 2] * t_z[:, None]
    t_xy, info_xy = torch.linalg.solve_ex(normal[:, :2, :2], rhs_xy)
    ok = ok & (info_xy == 0)
    t = torch.cat([t_xy, t_z[:, None]], dim=1)
    default = torch.tensor(DEFAULT_TRANSLATION, dtype=t.dtype, device=t.device).expand_as(t)
    t = torch.where(ok[:, None], t, default)
    return t.to(joints.dtype), ok


def reprojection_errors(joints: Tensor, t: Tensor, uv: Tensor, K: Tensor) -> Tensor:
    """Per-joint reprojection error.

    joints: (B, J, 3) metres, root-relative. t: (B, 3) metres. uv: (B, J, 2) pixels.
    K: (B, 3, 3). Returns (B, J) pixels: ``|| project(X + t) - uv ||``.
    """
    return (project_points(joints + t[:, None], K) - uv).norm(dim=-1)


def _masked_mean_std(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and population std over the masked entries of each row.

    values, mask: (B, J). Returns two (B,) tensors (0 for empty rows).
    """
    count = mask.sum(1).clamp_min(1)
    mean = (values * mask).sum(1) / count
    var = (((values - mean[:, None]) ** 2) * mask).sum(1) / count
    return mean, var.sqrt()


def masked_median(values: Tensor, mask: Tensor) -> Tensor:
    """Median of the masked entries of each row (the mean of the two middle ones for an even
    count). values: (B, M), mask: (B, M) bool. Returns (B,); +inf for empty rows."""
    count = mask.sum(1)
    ranked = values.masked_fill(~mask, float("inf")).sort(1).values
    lower = ((count - 1) // 2).clamp_min(0)
    upper = (count // 2).clamp_min(0).clamp_max(values.shape[1] - 1)
    return 0.5 * (ranked.gather(1, lower[:, None]) + ranked.gather(1, upper[:, None]))[:, 0]


def robust_noise_px(normalised_error: Tensor, inliers: Tensor) -> Tensor:
    """Robust estimate of the 2D joint noise, per coordinate, from reprojection errors.

    With Gaussian noise of std sigma per coordinate the error norms follow a Rayleigh law,
    whose median is ``sigma * sqrt(2 ln 2)``; the median of the inliers' errors, so divided and
    corrected for the 3 degrees of freedom the fit absorbs (``2n / (2n - 3)`` on the variance),
    estimates sigma while ignoring up to half the joints being outliers.

    normalised_error: (B, J) pixels, reprojection errors times sqrt(confidence) (the noise of a
    joint of confidence c is taken as sigma / sqrt(c)). inliers: (B, J) bool.
    Returns (B,) pixels (0 for rows with fewer than two inliers).
    """
    count = inliers.sum(1)
    median = masked_median(normalised_error, inliers)
    dof = (2 * count - 3).clamp_min(1).to(median.dtype)
    sigma = median / math.sqrt(2.0 * math.log(2.0)) * (2 * count / dof).sqrt()
    return torch.where(count >= 2, sigma, torch.zeros_like(sigma))


def fit_translation_2d(joints: Tensor, uv: Tensor, confidence: Tensor, K: Tensor,
                       config: RegistrationConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The 2D step: confidence-weighted fit with outlier rejection against the estimated noise.

    Per sample, the joints with confidence > ``config.confidence_threshold`` are fitted (closed
    form, bounded depth), each weighted by its confidence (its noise variance is taken as
    ``sigma^2 / confidence``). Then, up to ``max_attempts - 1`` times: the noise sigma is
    estimated robustly from the inliers (:func:`robust_noise_px`); the joints whose normalised
    error exceeds both ``outlier_sigmas * sigma`` and ``residual_tolerance_px`` are outliers;
    the loop stops when there is none, or when fewer than ``min_inliers`` joints would remain
    (keeping the current fit); otherwise the outliers are dropped and the rest refitted.
    Samples run in lockstep; finished ones are frozen.

    joints: (B, J, 3) metres, root-relative. uv: (B, J, 2) pixels. confidence: (B, J) in [0, 1].
    K: (B, 3, 3).
    Returns t: (B, 3) metres, success: (B,) bool, inliers: (B, J) bool (the joints of the final
    fit), mean_error: (B,) pixels (mean reprojection error over the inliers; 0 on failure).
    """
    selected = confidence > config.confidence_threshold
    weight = confidence.clamp_min(0.0).to(joints.dtype)
    t, success = solve_translation_2d(joints, uv, K, weight * selected, config.z_min, config.z_max)
    active = success.clone()
    inliers = selected & success[:, None]
    for _ in range(config.max_attempts - 1):
        error = reprojection_errors(joints, t, uv, K) * weight.sqrt()
        sigma = robust_noise_px(error, inliers)
        limit = torch.maximum(config.outlier_sigmas * sigma, torch.full_like(sigma, config.residual_tolerance_px))
        keep = inliers & (error <= limit[:, None])
        active = active & (keep != inliers).any(1) & (keep.sum(1) >= config.min_inliers)
        if not active.any():
            break
        inliers = torch.where(active[:, None], keep, inliers)
        refit, ok = solve_translation_2d(joints, uv, K, weight * inliers, config.z_min, config.z_max)
        t = torch.where((active & ok)[:, None], refit, t)
    mean_error, _ = _masked_mean_std(reprojection_errors(joints, t, uv, K), inliers)
    return t, success, inliers, mean_error * success


def depth_variance_2d(joints: Tensor, uv: Tensor, confidence: Tensor, K: Tensor, t: Tensor,
                      inliers: Tensor, correlation: float) -> Tensor:
    """Expected squared depth error of the 2D step's translation, from its residuals.

    Independent errors: the noise sigma (pixels at confidence 1) is the inliers'
    confidence-weighted root mean square reprojection error over the ``2n - 3`` degrees of
    freedom left by the fit; each joint's algebraic residual is about ``t_z`` times its
    reprojection error, so the covariance of the confidence-weighted least-squares translation
    is ``sigma^2 t_z^2 (sum_j c_j A_j^T A_j)^-1`` (``A_j`` the joint's two rows of
    :func:`_linear_system`), whose depth entry counts. Correlated errors (a mesh whose joints do
    not match the 2D ones, a biased keypoint detector) do not average out: an error of the
    joints' root mean square size r that scales the pattern moves the depth by ``t_z r / s``,
    s the joints' root mean square distance from their centroid (pixels). The variance is the
    first plus ``correlation`` times the square of the second.

    joints: (B, J, 3) metres, root-relative. uv: (B, J, 2) pixels. confidence: (B, J).
    K: (B, 3, 3). t: (B, 3) metres. inliers: (B, J) bool. correlation: in [0, 1].
    Returns (B,) square metres; +inf where fewer than two inliers leave no estimate.
    """
    weight = (confidence.clamp_min(0.0) * inliers).double()
    error = reprojection_errors(joints, t, uv, K).double()
    count = inliers.sum(1)
    sigma2 = (weight * error**2).sum(1) / (2 * count - 3).clamp_min(1)
    A, _ = _linear_system(joints.double(), uv.double(), K.double())
    normal = (weight[..., None, None] * A.transpose(-1, -2) @ A).sum(1)  # (B, 3, 3)
    normal = normal + 1e-9 * torch.eye(3, dtype=normal.dtype, device=normal.device)
    inverse_zz = torch.linalg.inv(normal)[:, 2, 2]
    depth2 = t[:, 2].double() ** 2
    total = weight.sum(1).clamp_min(1e-12)
    centre = (weight[..., None] * uv.double()).sum(1) / total[:, None]
    spread2 = (weight * ((uv.double() - centre[:, None]) ** 2).sum(-1)).sum(1) / total
    scale2 = (weight * error**2).sum(1) / total / spread2.clamp_min(1e-12)
    variance = sigma2 * depth2 * inverse_zz + correlation * depth2 * scale2
    return torch.where(count >= 2, variance, torch.full_like(variance, float("inf"))).to(t.dtype)
