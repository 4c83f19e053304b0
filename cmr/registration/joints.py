"""The 2D step of the registration: the translation that fits the mesh's joints to 2D joints.

See :mod:`cmr.registration` for the deviations from the reference.
"""

from __future__ import annotations

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


def fit_translation_2d(joints: Tensor, uv: Tensor, confidence: Tensor, K: Tensor,
                       config: RegistrationConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The 2D step: confident-joint selection and the reference's outlier-rejection loop.

    Per sample, starting from the joints with confidence > ``config.confidence_threshold``:
    fit t (closed form, bounded depth); stop if the mean reprojection error of the selection is
    <= ``residual_tolerance_px`` or after ``max_attempts`` fits; otherwise keep the joints whose
    error is below mean + std and refit, unless fewer than ``min_inliers`` would survive (then
    stop with the current fit). Samples run in lockstep; finished ones are frozen.

    joints: (B, J, 3) metres, root-relative. uv: (B, J, 2) pixels. confidence: (B, J) in [0, 1].
    K: (B, 3, 3).
    Returns t: (B, 3) metres, success: (B,) bool, inliers: (B, J) bool (the joints of the final
    fit), mean_error: (B,) pixels (mean reprojection error over the inliers; 0 on failure).
    """
    selected = confidence > config.confidence_threshold
    t, success = solve_translation_2d(joints, uv, K, selected.to(joints.dtype), config.z_min,
                                      config.z_max)
    active = success.clone()
    inliers = selected & success[:, None]
    for _ in range(config.max_attempts - 1):
        error = reprojection_errors(joints, t, uv, K)
        mean, std = _masked_mean_std(error, inliers)
        keep = inliers & (error < (mean + std)[:, None])
        enough = keep.sum(1) >= config.min_inliers
        active = active & (mean > config.residual_tolerance_px) & enough
        if not active.any():
            break
        inliers = torch.where(active[:, None], keep, inliers)
        refit, ok = solve_translation_2d(joints, uv, K, inliers.to(joints.dtype), config.z_min,
                                         config.z_max)
        t = torch.where((active & ok)[:, None], refit, t)
    mean_error, _ = _masked_mean_std(reprojection_errors(joints, t, uv, K), inliers)
    return t, success, inliers, mean_error * success

