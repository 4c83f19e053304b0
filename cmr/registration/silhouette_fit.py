"""The fit of the 1D step: the translation that fits the mesh's outline to the silhouette.

Model: each of the 24 descriptor entries of the silhouette (:func:`mask_descriptor`) equals the
entry of the projected mesh plus ``s_k * offset``, with ``s_k`` -1 for a min and +1 for a max,
so ``offset`` (pixels) is how far the silhouette's edges lie outside the mesh's outline. A
silhouette drawn from the mesh has none; an eroded or dilated one (a sharper or blurrier map, a
mask grown or cut by the segmentation) has one. Depth and offset are separable because the
hand's extent differs along the 12 axes (depth scales the extents, the offset adds to them),
though poorly for compact outlines (a fist). Freeing the offset costs precision where there is
none, so the translation is read under a prior that expects none but allows one
(:func:`_offset_mixture`). Entries the mesh cannot explain (a forearm or an object that widens
the silhouette along some axes, or hides part of the hand) are rejected as outliers first, with
the offset held at 0 (free, it would absorb part of a forearm).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cmr.geometry.camera import project_points, projection_jacobian
from cmr.registration.joints import masked_median
from cmr.registration.settings import MIN_SILHOUETTE_ENTRIES, RegistrationConfig
from cmr.registration.silhouette import (
    descriptor_directions,
    descriptor_indices,
    entry_signs,
    mask_descriptor,
    point_descriptor,
    silhouette_initial_guess,
    silhouette_pad_px,
)

#: Median absolute deviation -> standard deviation of a Gaussian.
MAD_TO_STD = 1.4826
#: Convergence of the Levenberg-Marquardt fit: a step below this (metres) ends it, and so do this
#: many rejected steps in a row (the damping has grown 10^4-fold: no descent left).
STEP_TOLERANCE_M, MAX_REJECTED_STEPS = 1e-7, 4


def _residual(vertices: Tensor, params: Tensor, target: Tensor, K: Tensor) -> Tensor:
    """Model minus silhouette descriptor.

    vertices: (B, N, 3) metres, root-relative. params: (B, 4) translation (metres) and offset
    (pixels). target: (B, 24) pixels. K: (B, 3, 3). Returns (B, 24) pixels.
    """
    model = point_descriptor(project_points(vertices + params[:, None, :3], K))
    return model + entry_signs(params.dtype, params.device) * params[:, 3:] - target


def _residual_and_jacobian(vertices: Tensor, params: Tensor, target: Tensor,
                           K: Tensor) -> tuple[Tensor, Tensor]:
    """Residual of :func:`_residual` and its Jacobian with the extreme vertices fixed.

    Each mesh entry is ``direction . project(V_a + t)`` for its current extreme vertex a, so its
    gradient in t is ``direction . d project / d t`` at that vertex (valid almost everywhere:
    the min/max switch vertices only on a measure-zero set of t); in the offset it is ``s_k``.

    Returns residual: (B, 24) pixels and jacobian: (B, 24, 4) pixels per metre (translation)
    and per pixel (offset).
    """
    points = vertices + params[:, None, :3]
    uv = project_points(points, K)
    index = descriptor_indices(uv)  # (B, 24)
    extreme = points.gather(1, index[..., None].expand(-1, -1, 3))  # (B, 24, 3)
    directions = descriptor_directions(params.dtype, params.device).repeat_interleave(2, dim=0)
    jacobian_t = (directions[None, :, None, :] @ projection_jacobian(extreme, K))[:, :, 0]
    sign = entry_signs(params.dtype, params.device)
    model = (directions * uv.gather(1, index[..., None].expand(-1, -1, 2))).sum(-1)
    residual = model + sign * params[:, 3:] - target
    jacobian = torch.cat([jacobian_t, sign.expand_as(residual)[..., None]], dim=2)
    return residual, jacobian


def _cost(residual: Tensor, use: Tensor) -> Tensor:
    """Mean squared residual over the used entries: (B, 24), (B, 24) bool -> (B,) pixels^2."""
    return (use * residual**2).sum(1) / use.sum(1).clamp_min(1)


def _with_zero_offset(t: Tensor) -> Tensor:
    """(B, 3) translations -> (B, 4) parameters with the offset 0."""
    return torch.cat([t, torch.zeros_like(t[:, :1])], dim=1)


def _damped_step(vertices: Tensor, t: Tensor, target: Tensor, K: Tensor, use: Tensor,
                 damping: Tensor, config: RegistrationConfig) -> tuple[Tensor, Tensor]:
    """One Levenberg-Marquardt proposal: the candidate (B, 3), t_z clamped to the depth bounds,
    and whether it lowers the cost (B,) bool. Arguments as :func:`fit_translation_1d`;
    damping: (B,)."""
    residual, jacobian = _residual_and_jacobian(vertices, _with_zero_offset(t), target, K)
    jacobian = jacobian[..., :3] * use[..., None]
    normal = jacobian.transpose(1, 2) @ jacobian  # (B, 3, 3)
    scale = torch.diagonal(normal, dim1=1, dim2=2).clamp_min(1e-12)
    damped = normal + torch.diag_embed(damping[:, None] * scale + 1e-12)
    step, _ = torch.linalg.solve_ex(damped, -(jacobian.transpose(1, 2) @ residual[..., None]))
    candidate = t + step[..., 0]
    candidate[:, 2] = candidate[:, 2].clamp(config.z_min, config.z_max)
    new_cost = _cost(_residual(vertices, _with_zero_offset(candidate), target, K), use)
    return candidate, torch.isfinite(new_cost) & (new_cost < _cost(residual, use))


def fit_translation_1d(vertices: Tensor, target: Tensor, use: Tensor, K: Tensor,
                       t_init: Tensor, config: RegistrationConfig) -> Tensor:
    """Minimise the mean squared descriptor difference over the translation (no edge offset).

    Batched Levenberg-Marquardt: each iteration linearises the descriptor with its extreme
    vertices fixed, solves the damped 3x3 normal equations, clamps t_z to the depth bounds, and
    keeps the step only where it lowers the cost (the damping shrinks after a kept step and
    grows after a rejected one, per sample). Only the used entries count. A sample stops once
    a proposed step moves the translation by less than :data:`STEP_TOLERANCE_M` (kept or not:
    at the optimum rounding rejects the last tiny steps), or after
    :data:`MAX_REJECTED_STEPS` rejected steps in a row, and is then left out of the batch; the
    loop ends when every sample has stopped or after ``config.silhouette_iterations``. The
    reference's normalisation of the descriptor by the image size only scales the cost, so
    pixels are used directly.

    vertices: (B, N, 3) metres, root-relative. target: (B, 24) pixels. use: (B, 24) bool.
    K: (B, 3, 3). t_init: (B, 3) metres. Returns (B, 3) metres.
    """
    t = t_init.clone()
    t[:, 2] = t[:, 2].clamp(config.z_min, config.z_max)
    damping = torch.full_like(t[:, 0], 1e-3)
    rejected = torch.zeros_like(t[:, 0], dtype=torch.int64)
    running = torch.ones_like(use[:, 0])
    for _ in range(config.silhouette_iterations):
        rows = running.nonzero()[:, 0]
        if len(rows) == 0:
            break
        if len(rows) == len(t):  # the whole batch runs (always at batch 1): no gathers
            rows = slice(None)
        current = t[rows]
        candidate, better = _damped_step(vertices[rows], current, target[rows], K[rows], use[rows],
                                         damping[rows], config)
        small = (candidate - current).abs().amax(1) < STEP_TOLERANCE_M
        t[rows] = torch.where(better[:, None], candidate, current)
        damping[rows] = torch.where(better, damping[rows] * 0.3, damping[rows] * 10.0).clamp(1e-9, 1e9)
        rejected[rows] = torch.where(better, torch.zeros_like(rejected[rows]), rejected[rows] + 1)
        running[rows] = ~small & (rejected[rows] < MAX_REJECTED_STEPS)
    return t


def _reject_entries(residual: Tensor, use: Tensor, config: RegistrationConfig) -> Tensor:
    """The used entries (B, 24) bool whose |residual| (B, 24) pixels is within
    ``max(outlier_sigmas * robust sigma, silhouette_outlier_px)``; unchanged in rows where fewer
    than ``MIN_SILHOUETTE_ENTRIES`` would remain."""
    sigma = MAD_TO_STD * masked_median(residual.abs(), use)
    limit = torch.clamp_min(config.outlier_sigmas * sigma, config.silhouette_outlier_px)
    keep = use & (residual.abs() <= limit[:, None])
    return torch.where((keep.sum(1) >= MIN_SILHOUETTE_ENTRIES)[:, None], keep, use)


def _linear_offset_fit(vertices: Tensor, params: Tensor, target: Tensor, K: Tensor,
                       use: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The free-offset fit, linearised at the fixed-offset optimum ``params``.

    One Gauss-Newton step in all four parameters from the fixed-offset fit (offset 0) gives the
    free-offset estimate to first order, without a second non-linear fit, which can slide far
    along the depth-offset valley when the mesh's outline does not match the silhouette (the
    network's imperfect meshes). Its covariance is ``sigma^2 (J^T J)^-1`` over the used entries,
    sigma^2 their sum of squared residuals over the degrees of freedom left (entries minus the 4
    parameters); descriptor residuals are not independent, so it is a lower bound of the true
    spread (the fusion adds a floor).

    vertices: (B, N, 3) metres, root-relative. params: (B, 4), the fixed-offset fit. target:
    (B, 24) pixels. K: (B, 3, 3). use: (B, 24) bool.
    Returns the residuals (B, 24) pixels at ``params``, the free-offset estimate (B, 4) and its
    covariance (B, 4, 4).
    """
    residual, jacobian = _residual_and_jacobian(vertices, params, target, K)
    jacobian = jacobian * use[..., None]
    sigma2 = (use * residual**2).sum(1) / (use.sum(1) - 4).clamp_min(1)
    eye = torch.eye(4, dtype=params.dtype, device=params.device)
    inverse, _ = torch.linalg.inv_ex(jacobian.transpose(1, 2) @ jacobian + 1e-12 * eye)
    step = -(inverse @ (jacobian.transpose(1, 2) @ residual[..., None]))[..., 0]
    return residual, params + step, sigma2[:, None, None] * inverse


@dataclass
class SilhouetteFit:
    """The 1D step's answer for B samples.

    translation: (B, 3) metres (the 2D answer where the silhouette is unusable).
    has_silhouette: (B,) bool, at least ``MIN_SILHOUETTE_ENTRIES`` valid descriptor entries.
    error_px: (B,) root-mean-square residual of the used entries, pixels (0 without a silhouette).
    depth_variance: (B,) square metres, the depth's expected squared error: the fit's, under the
        offset's prior, plus ``fusion_error_correlation`` times its correlated-error term
        (inf without a silhouette).
    suspect: (B,) bool, the fit shows trouble: entries rejected as outliers, or an edge offset
        more likely than not.
    """

    translation: Tensor
    has_silhouette: Tensor
    error_px: Tensor
    depth_variance: Tensor
    suspect: Tensor


def _fit_with_rejection(vertices: Tensor, target: Tensor, use: Tensor, K: Tensor, t: Tensor,
                        config: RegistrationConfig) -> tuple[Tensor, Tensor]:
    """:func:`fit_translation_1d`, then up to ``silhouette_attempts - 1`` times: drop the outlying
    entries (:func:`_reject_entries`) and refit the samples that lost some. Arguments as
    :func:`fit_translation_1d`; returns the translation (B, 3) and the used entries (B, 24) bool."""
    t = fit_translation_1d(vertices, target, use, K, t, config)
    for _ in range(config.silhouette_attempts - 1):
        kept = _reject_entries(_residual(vertices, _with_zero_offset(t), target, K), use, config)
        rows = (kept != use).any(1).nonzero()[:, 0]
        if len(rows) == 0:
            break
        use = kept
        t[rows] = fit_translation_1d(vertices[rows], target[rows], use[rows], K[rows], t[rows], config)
    return t, use


def _offset_mixture(params: Tensor, covariance: Tensor, config: RegistrationConfig) -> tuple[Tensor, Tensor, Tensor]:
    """The translation under a two-component prior on the edge offset, from the free-offset fit.

    The fit gives (translation, offset) with covariance C. The offset's prior is a mixture: with
    probability ``1 - silhouette_offset_prior`` a well-drawn silhouette, offset ~ N(0,
    ``silhouette_edge_std_px``^2), else an eroded or dilated one, N(0,
    ``silhouette_offset_std_px``^2). For each component, Gaussian conditioning moves the offset
    to its posterior mean and the translation along its regression on the offset
    (``C[t, offset] / C[offset, offset]``); the components are weighted by their prior times the
    likelihood of the fitted offset. A compact outline (a fist), whose scale and offset the
    descriptor can hardly tell apart, has a broad offset estimate, so both components stay
    plausible and their spread enters the depth variance.

    params: (B, 4) translation (metres) and offset (pixels). covariance: (B, 4, 4).
    Returns translation (B, 3) metres, depth variance (B,) square metres and the posterior
    probability of an offset (B,).
    """
    offset, offset_var = params[:, 3], covariance[:, 3, 3].clamp_min(1e-12)
    gain = covariance[:, :3, 3] / offset_var[:, None]  # (B, 3) metres per pixel
    prior_std = torch.tensor([config.silhouette_edge_std_px, config.silhouette_offset_std_px],
                             dtype=params.dtype, device=params.device)
    prior = torch.tensor([1.0 - config.silhouette_offset_prior, config.silhouette_offset_prior],
                         dtype=params.dtype, device=params.device)
    spread = offset_var[:, None] + prior_std**2  # (B, 2) the fitted offset's variance per component
    log_weight = prior.clamp_min(1e-12).log() - 0.5 * (offset[:, None] ** 2 / spread + spread.log())
    weight = torch.softmax(log_weight, dim=1)  # (B, 2)
    posterior_var = 1.0 / (1.0 / offset_var[:, None] + 1.0 / prior_std**2)
    shift = offset[:, None] * posterior_var / offset_var[:, None] - offset[:, None]  # (B, 2) pixels
    translations = params[:, None, :3] + shift[..., None] * gain[:, None, :]  # (B, 2, 3)
    depth_var = covariance[:, 2:3, 2] - gain[:, 2:3] ** 2 * (offset_var[:, None] - posterior_var)
    translation = (weight[..., None] * translations).sum(1)
    between = (translations[..., 2] - translation[:, None, 2]) ** 2
    return translation, (weight * (depth_var + between)).sum(1), weight[:, 1]


def _correlated_depth_variance(residual: Tensor, use: Tensor, target: Tensor, t: Tensor) -> Tensor:
    """Depth variance (B,) square metres if the descriptor's errors were one scaling of the
    outline: ``(t_z r / h)^2``, r the used entries' root mean square residual (pixels) and h the
    silhouette's mean half-width over the used axes (pixels). residual, target: (B, 24) pixels;
    use: (B, 24) bool; t: (B, 3) metres."""
    half_width = 0.5 * (target[:, 1::2] - target[:, 0::2])  # (B, 12)
    both = use[:, 1::2] & use[:, 0::2]
    mean_half_width = (half_width * both).sum(1) / both.sum(1).clamp_min(1)
    return t[:, 2] ** 2 * _cost(residual, use) / mean_half_width.clamp_min(1.0) ** 2


def silhouette_step(vertices: Tensor, mask: Tensor, K: Tensor, t_2d: Tensor, success: Tensor,
                    config: RegistrationConfig) -> SilhouetteFit:
    """The whole 1D step: descriptor, start, the fit with an edge offset and outlier rejection.

    The fit starts from the 2D answer where it succeeded, else from a closed-form guess read off
    the silhouette's extent; it rejects outlying entries with the offset held at 0
    (:func:`_fit_with_rejection`), then frees the offset on the kept entries; the translation
    and its depth variance are read under the offset's prior (:func:`_offset_mixture`), plus
    ``fusion_error_correlation`` times :func:`_correlated_depth_variance`.

    vertices: (B, N, 3) metres, root-relative. mask: (B, H, W) probabilities or bool. K: (B, 3, 3).
    t_2d: (B, 3) metres, the 2D step's answer. success: (B,) bool. Returns a :class:`SilhouetteFit`.
    """
    target, valid = mask_descriptor(mask, config.mask_threshold, silhouette_pad_px(mask, config))
    target = torch.nan_to_num(target.to(vertices), posinf=0.0, neginf=0.0)  # empty masks
    guess = silhouette_initial_guess(vertices, target, K, config.z_min, config.z_max)
    start = torch.where(success[:, None], t_2d, guess)
    fixed, use = _fit_with_rejection(vertices, target, valid, K, start, config)
    residual, params, covariance = _linear_offset_fit(vertices, _with_zero_offset(fixed), target, K, use)
    translation, variance, offset_probability = _offset_mixture(params, covariance, config)
    variance = variance + config.fusion_error_correlation * _correlated_depth_variance(residual, use, target,
                                                                                     translation)
    translation[:, 2] = translation[:, 2].clamp(config.z_min, config.z_max)
    has_silhouette = valid.sum(1) >= MIN_SILHOUETTE_ENTRIES
    return SilhouetteFit(
        translation=torch.where(has_silhouette[:, None], translation, t_2d),
        has_silhouette=has_silhouette,
        error_px=_cost(residual, use).sqrt() * has_silhouette,
        depth_variance=torch.where(has_silhouette, variance, torch.full_like(variance, float("inf"))),
        suspect=has_silhouette & ((offset_probability > 0.5) | (valid & ~use).any(1)),
    )
