"""Adaptive 2D-1D registration: place a root-relative hand mesh in camera space.

The network predicts a root-relative mesh (units of 0.2 m; the caller multiplies by 0.2), 21
heatmaps and a silhouette. Registration solves the camera-space translation ``t`` (metres) so
that the translated mesh agrees with the 2D joints (the "2D" step) and with the silhouette (the
"1D" step), then blends the two answers by how much they disagree (the "adaptive fusion").
Rotation and scale are not solved. Everything is batched over B samples, in torch, and runs on
the inputs' device.

Pixel convention (used throughout): pixel centres sit at integer coordinates, so pixel
``(row i, column j)`` covers ``u in [j - 0.5, j + 0.5]``, ``v in [i - 0.5, i + 0.5]``. This is
the convention of a pinhole ``K``: a camera-space point projecting to ``u = j`` lands on the
centre of column ``j``.

Deviations from the reference (``utils/vis.py: registration`` in SeanChenxy/HandMesh; see
``shared/reference/cmr.md`` section 3 and pitfall 24), all deliberate:

* The 2D step is the same linear least-squares objective, solved in closed form (3x3 normal
  equations, float64) instead of SLSQP; the depth bound is enforced exactly (see
  :func:`solve_translation_2d`).
* The per-joint residual of the outlier loop is the true reprojection error in pixels, not the
  absolute value of the signed sum of the depth-multiplied u and v residuals (which can cancel
  and is in px*m, so its "mean <= 2" stopping test had no fixed meaning).
* The default depth lower bound is 0.1 m instead of 0.3 m, so hands closer than 30 cm (e.g.
  egocentric views) can be registered; the reference value is one config field away.
* The 1D silhouette step actually runs (in the reference an OpenCV API change silently turns it
  off), is solved by a few batched Levenberg-Marquardt iterations instead of SLSQP with
  finite-difference gradients, and starts from the 2D answer (or, when the 2D step failed, from
  a closed-form guess read off the silhouette's extent) instead of from ``[0, 0, 0.6]``.
* The silhouette descriptor is taken over all foreground pixels (equivalently over their outer
  contour) of the thresholded mask, widened by a quarter pixel on each side, and entries
  attained on the crop border (a cut silhouette) are left out (see :func:`mask_descriptor`);
  the reference uses the largest external contour only, cut or not.
* The 2D step needs at least two confident joints (one joint fixes a ray, not a point).
"""

from dataclasses import dataclass

import torch
from torch import Tensor

#: Angles (degrees) of the 6 pairs of orthogonal axes of the 1D silhouette descriptor.
AXIS_PAIRS_DEG = ((0, 90), (-15, 75), (-30, 60), (-45, 45), (-60, 30), (-75, 15))
#: Translation the 2D step starts from and keeps when it cannot run (metres), as the reference.
DEFAULT_TRANSLATION = (0.0, 0.0, 0.6)
#: Fewest descriptor entries (not cut by the crop border) for the 1D step to run.
MIN_SILHOUETTE_ENTRIES = 6
#: Camera-space depth (metres) below which a vertex is clamped before perspective division.
MIN_PROJECTION_DEPTH = 1e-3


@dataclass(frozen=True)
class RegistrationConfig:
    """Parameters of :func:`register`; the defaults follow the reference except ``z_min``.

    z_min, z_max: bounds (metres) on the depth of the translation. The reference uses
        [0.3, 2]; 0.1 is the default here so close hands are not excluded (the root may be
        as close as 10 cm; vertices nearer than ``MIN_PROJECTION_DEPTH`` are clamped).
    confidence_threshold: joints with confidence <= this are ignored by the 2D step.
    max_attempts: rounds of the 2D fit / outlier rejection loop.
    min_inliers: the loop stops (keeping its last fit) when fewer joints would survive.
    residual_tolerance_px: the loop stops when the mean reprojection error is at most this.
    mask_threshold: silhouette pixels with value > this are foreground.
    silhouette_pad_px: pixels added to the silhouette's extent on each side along each axis
        (see :func:`mask_descriptor`).
    silhouette_iterations: Levenberg-Marquardt iterations of the 1D step.
    fusion_near, fusion_far: distances (metres) between the 2D and 1D translations below
        which the 2D one is kept and above which the 1D one is used; linear blend between.
    """

    z_min: float = 0.1
    z_max: float = 2.0
    confidence_threshold: float = 0.1
    max_attempts: int = 5
    min_inliers: int = 13
    residual_tolerance_px: float = 2.0
    mask_threshold: float = 0.5
    silhouette_pad_px: float = 0.25
    silhouette_iterations: int = 20
    fusion_near: float = 0.02
    fusion_far: float = 0.06


@dataclass
class Registration:
    """Result of :func:`register` for a batch of B samples (N vertices, J joints).

    translation: (B, 3) metres, the fused camera-space translation of the root.
    translation_2d: (B, 3) metres, from the joints (``DEFAULT_TRANSLATION`` where it failed).
    translation_1d: (B, 3) metres, from the silhouette (equals ``translation_2d`` where no
        usable silhouette was given).
    success: (B,) bool, the 2D step ran (at least two confident joints).
    has_silhouette: (B,) bool, the 1D step ran (a mask was given with at least
        ``MIN_SILHOUETTE_ENTRIES`` descriptor entries not cut by the crop border).
    fusion_weight: (B,) weight of ``translation_1d`` in ``translation``, in [0, 1].
    inliers: (B, J) bool, the joints used by the final 2D fit.
    reprojection_error_px: (B,) mean reprojection error (pixels) of the inliers under
        ``translation_2d`` (0 where the 2D step failed).
    silhouette_error_px: (B,) root-mean-square difference (pixels) of the valid descriptor
        entries under ``translation_1d`` (0 where no silhouette).
    vertices: (B, N, 3) metres, camera space (input vertices + translation).
    joints: (B, J, 3) metres, camera space (input joints + translation).
    """

    translation: Tensor
    translation_2d: Tensor
    translation_1d: Tensor
    success: Tensor
    has_silhouette: Tensor
    fusion_weight: Tensor
    inliers: Tensor
    reprojection_error_px: Tensor
    silhouette_error_px: Tensor
    vertices: Tensor
    joints: Tensor


# --------------------------------------------------------------------------------------------
# Projection


def project_points(points: Tensor, K: Tensor) -> Tensor:
    """Perspective projection of camera-space points.

    points: (B, N, 3) metres, camera space. K: (B, 3, 3) intrinsics (pixels).
    Returns (B, N, 2) pixel coordinates (u, v). Depths below ``MIN_PROJECTION_DEPTH`` are
    clamped so points at or behind the camera give large but finite coordinates.
    """
    image = points @ K.transpose(1, 2)
    depth = image[..., 2:].clamp_min(MIN_PROJECTION_DEPTH)
    return image[..., :2] / depth


def projection_jacobian(points: Tensor, K: Tensor) -> Tensor:
    """Derivative of :func:`project_points` with respect to the points (or the translation).

    points: (B, M, 3) metres, camera space. K: (B, 3, 3).
    Returns (B, M, 2, 3): d(u, v) / d(x, y, z), pixels per metre.
    """
    depth = points[..., 2:].clamp_min(MIN_PROJECTION_DEPTH)  # (B, M, 1)
    uv = project_points(points, K)  # (B, M, 2)
    linear = K[:, None, :2, :] / depth[..., None]  # (B, M, 2, 3): K_rows / z
    depth_term = -(uv / depth)[..., None] * torch.tensor([0.0, 0.0, 1.0], dtype=points.dtype,
                                                          device=points.device)
    return linear + depth_term


# --------------------------------------------------------------------------------------------
# 2D step: joints


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


# --------------------------------------------------------------------------------------------
# 1D step: silhouette


def descriptor_directions(dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Unit vectors of the 12 descriptor axes, ordered pair by pair (first, second axis).

    Returns (12, 2); axis angle a gives (cos a, sin a) in (u, v) pixel coordinates.
    """
    angles = torch.tensor([a for pair in AXIS_PAIRS_DEG for a in pair], dtype=torch.float64)
    radians = torch.deg2rad(angles)
    return torch.stack([radians.cos(), radians.sin()], dim=1).to(dtype=dtype, device=device)


def _axis_projections(points: Tensor) -> Tensor:
    """Coordinates of 2D points along the 12 descriptor axes.

    points: (B, M, 2) pixels. Returns (B, M, 12) pixels.
    """
    return points @ descriptor_directions(points.dtype, points.device).T


def _extremes(along: Tensor, valid: Tensor | None = None) -> Tensor:
    """Min and max over points of their axis coordinates, interleaved per axis.

    along: (B, M, 12). valid: optional (B, M) bool, points to include.
    Returns (B, 24) [min axis0, max axis0, min axis1, ...]; +-inf where no point is valid.
    """
    low, high = along, along
    if valid is not None:
        low = along.masked_fill(~valid[..., None], float("inf"))
        high = along.masked_fill(~valid[..., None], float("-inf"))
    return torch.stack([low.amin(1), high.amax(1)], dim=2).flatten(1)


def point_descriptor(points: Tensor) -> Tensor:
    """The 24-number 1D descriptor of 2D point sets: min and max along each of the 12 axes.

    points: (B, M, 2) pixels. Returns (B, 24) pixels, ordered [min axis0, max axis0, min axis1,
    max axis1, ...] with the axes as in :func:`descriptor_directions`.
    """
    return _extremes(_axis_projections(points))


def _descriptor_indices(points: Tensor) -> Tensor:
    """Index of the point attaining each descriptor entry.

    points: (B, M, 2) pixels. Returns (B, 24) long, ordered as :func:`point_descriptor`.
    """
    along = _axis_projections(points)
    return torch.stack([along.argmin(1), along.argmax(1)], dim=2).flatten(1)


def _row_extremes(foreground: Tensor) -> tuple[Tensor, Tensor]:
    """Leftmost and rightmost foreground pixel of every row, as (u, v) points.

    foreground: (B, H, W) bool. Returns points: (B, 2H, 2) pixel centres (first the H leftmost,
    then the H rightmost) and present: (B, 2H) bool, False for rows without foreground.
    """
    batch, height, width = foreground.shape
    as_int = foreground.to(torch.uint8)
    first = as_int.argmax(2)  # argmax returns the first maximal index
    last = width - 1 - as_int.flip(2).argmax(2)
    rows = torch.arange(height, device=foreground.device).expand(batch, height)
    points = torch.stack([torch.cat([first, last], 1), torch.cat([rows, rows], 1)], dim=2)
    present = foreground.any(2)
    return points, torch.cat([present, present], dim=1)


def mask_descriptor(mask: Tensor, threshold: float = 0.5,
                    pad_px: float = 0.25) -> tuple[Tensor, Tensor]:
    """1D descriptor of silhouettes, over all foreground pixel centres, widened by ``pad_px``.

    The extreme of a pixel set along any axis is attained on its outer contour, and within a
    row only the leftmost and rightmost foreground pixels can be extreme (every other pixel of
    the row lies between them), so only those 2H candidates per mask are projected.

    A thresholded mask keeps the pixels whose centre lies inside the shape, so the outermost
    centres fall short of the shape's extent by between 0 and about 1 pixel: 0.5 on average
    for a straight edge along the axis, less for a curved boundary, where several rows or
    columns compete for the extreme. ``pad_px`` is subtracted from every min and added to every
    max to compensate; the default 0.25 made the depth of the 1D step unbiased on synthetic
    convex hand-sized silhouettes at 0.3-1 m (0 gave +2.6 mm, 0.5 gave -2.6 mm, 0.25 gave
    0.0 mm mean depth error).

    An entry attained by a pixel on the image border measures the crop, not the hand (the
    silhouette is cut there), so it is marked invalid.

    mask: (B, H, W) probabilities (foreground where > threshold) or bool, in the crop's
    pixel grid (pixel centres at integer coordinates). Returns descriptor: (B, 24) pixels in
    the mask's floating dtype (float32 for a bool mask) and valid: (B, 24) bool (all False for
    an empty mask).
    """
    foreground = mask if mask.dtype == torch.bool else mask > threshold
    height, width = foreground.shape[1:]
    points, present = _row_extremes(foreground)
    on_border = ((points[..., 0] == 0) | (points[..., 0] == width - 1)
                 | (points[..., 1] == 0) | (points[..., 1] == height - 1))
    dtype = mask.dtype if mask.dtype.is_floating_point else torch.float32
    along = _axis_projections(points.to(dtype))
    descriptor = _extremes(along, present)
    border = _extremes(along, present & on_border)
    sign = torch.tensor([-1.0, 1.0], dtype=dtype, device=mask.device).repeat(12)
    valid = torch.isfinite(descriptor) & (sign * (descriptor - border) > 0)
    return descriptor + pad_px * sign, valid


def silhouette_initial_guess(vertices: Tensor, target: Tensor, K: Tensor,
                             z_min: float, z_max: float) -> Tensor:
    """Closed-form starting translation from the silhouette's horizontal and vertical extent.

    Treats the mesh as a flat object facing the camera: depth = focal * mesh extent / silhouette
    extent (averaged over u and v), then the mesh's box centre is put on the silhouette's box
    centre. Ignores skew. A silhouette cut by the crop border gives a rough (too deep) guess,
    which the 1D fit then refines with its valid entries.

    vertices: (B, N, 3) metres, root-relative. target: (B, 24) pixels (:func:`mask_descriptor`).
    K: (B, 3, 3). Returns (B, 3) metres with t_z within [z_min, z_max].
    """
    low, high = vertices.amin(1), vertices.amax(1)  # (B, 3)
    u_low, u_high, v_low, v_high = target[:, 0], target[:, 1], target[:, 2], target[:, 3]
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    depth_u = fx * (high[:, 0] - low[:, 0]) / (u_high - u_low).clamp_min(1.0)
    depth_v = fy * (high[:, 1] - low[:, 1]) / (v_high - v_low).clamp_min(1.0)
    depth = (0.5 * (depth_u + depth_v)).clamp(z_min, z_max)
    centre = 0.5 * (low + high)
    t_x = (0.5 * (u_low + u_high) - cx) * depth / fx - centre[:, 0]
    t_y = (0.5 * (v_low + v_high) - cy) * depth / fy - centre[:, 1]
    return torch.stack([t_x, t_y, depth], dim=1)


def _silhouette_residual(vertices: Tensor, t: Tensor, target: Tensor, K: Tensor) -> Tensor:
    """Descriptor difference of the projected mesh.

    vertices: (B, N, 3) metres, root-relative. t: (B, 3). target: (B, 24) pixels. K: (B, 3, 3).
    Returns (B, 24) pixels.
    """
    return point_descriptor(project_points(vertices + t[:, None], K)) - target


def _silhouette_cost(residual: Tensor, weight: Tensor) -> Tensor:
    """Weighted mean squared descriptor difference: (B, 24), (B, 24) -> (B,) pixels^2."""
    return (weight * residual**2).sum(1) / weight.sum(1).clamp_min(1.0)


def _silhouette_residual_and_jacobian(vertices: Tensor, t: Tensor, target: Tensor,
                                      K: Tensor) -> tuple[Tensor, Tensor]:
    """Residual of :func:`_silhouette_residual` and its Jacobian with the extreme vertices fixed.

    Each descriptor entry is ``direction . project(V_a + t)`` for its current extreme vertex a,
    so its gradient is ``direction . d project / d t`` at that vertex (valid almost everywhere;
    the min/max switch vertices only on a measure-zero set of t).

    Returns residual: (B, 24) pixels and jacobian: (B, 24, 3) pixels per metre.
    """
    points = vertices + t[:, None]
    uv = project_points(points, K)
    index = _descriptor_indices(uv)  # (B, 24)
    extreme = points.gather(1, index[..., None].expand(-1, -1, 3))  # (B, 24, 3)
    directions = descriptor_directions(t.dtype, t.device).repeat_interleave(2, dim=0)  # (24, 2)
    jacobian = (directions[None, :, None, :] @ projection_jacobian(extreme, K))[:, :, 0]
    residual = (directions * uv.gather(1, index[..., None].expand(-1, -1, 2))).sum(-1) - target
    return residual, jacobian


def fit_translation_1d(vertices: Tensor, target: Tensor, valid: Tensor, K: Tensor,
                       t_init: Tensor, config: RegistrationConfig) -> Tensor:
    """The 1D step: minimise the mean squared descriptor difference over t, bounded depth.

    Batched Levenberg-Marquardt: each iteration linearises the descriptor with its extreme
    vertices fixed, solves the damped 3x3 normal equations, clamps t_z to the bounds, and keeps
    the step only where it lowers the cost (the damping shrinks after a kept step and grows
    after a rejected one, per sample). Only the valid descriptor entries count. The
    reference's normalisation of the descriptor by the image size only scales the cost, so
    pixels are used directly.

    vertices: (B, N, 3) metres, root-relative. target: (B, 24) pixels. valid: (B, 24) bool.
    K: (B, 3, 3). t_init: (B, 3) metres. Returns (B, 3) metres.
    """
    weight = valid.to(vertices.dtype)
    t = t_init.clone()
    t[:, 2] = t[:, 2].clamp(config.z_min, config.z_max)
    damping = torch.full_like(t[:, 0], 1e-3)
    eye = torch.eye(3, dtype=t.dtype, device=t.device)
    for _ in range(config.silhouette_iterations):
        residual, jacobian = _silhouette_residual_and_jacobian(vertices, t, target, K)
        cost = _silhouette_cost(residual, weight)
        jacobian = jacobian * weight[..., None]
        normal = jacobian.transpose(1, 2) @ jacobian  # (B, 3, 3)
        scale = torch.diagonal(normal, dim1=1, dim2=2).clamp_min(1e-12)
        damped = normal + damping[:, None, None] * torch.diag_embed(scale) + 1e-12 * eye
        step, _ = torch.linalg.solve_ex(damped, -(jacobian.transpose(1, 2) @ residual[..., None]))
        candidate = t + step[..., 0]
        candidate[:, 2] = candidate[:, 2].clamp(config.z_min, config.z_max)
        new_cost = _silhouette_cost(_silhouette_residual(vertices, candidate, target, K), weight)
        better = torch.isfinite(new_cost) & (new_cost < cost)
        t = torch.where(better[:, None], candidate, t)
        damping = torch.where(better, damping * 0.3, damping * 10.0).clamp(1e-9, 1e9)
    return t


# --------------------------------------------------------------------------------------------
# Fusion and the whole registration


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
    confidence: (B, J) in [0, 1], e.g. heatmap maxima (:func:`heatmaps_to_uv`).
    K: (B, 3, 3) intrinsics of the input crop.
    mask: optional (B, H, W) silhouette probabilities or bool in the crop's pixel grid; None
        skips the 1D step.
    config: :class:`RegistrationConfig` (defaults if None).
    Returns a :class:`Registration`.
    """
    config = config or RegistrationConfig()
    K = K.to(vertices.dtype)
    t_2d, success, inliers, reprojection_error = fit_translation_2d(joints, uv, confidence, K,
                                                                    config)
    t_1d = t_2d
    has_silhouette = torch.zeros_like(success)
    silhouette_error = torch.zeros_like(t_2d[:, 0])
    if mask is not None:
        target, valid = mask_descriptor(mask, config.mask_threshold, config.silhouette_pad_px)
        target = torch.nan_to_num(target.to(vertices), posinf=0.0, neginf=0.0)  # empty masks
        has_silhouette = valid.sum(1) >= MIN_SILHOUETTE_ENTRIES
        guess = silhouette_initial_guess(vertices, target, K, config.z_min, config.z_max)
        t_init = torch.where(success[:, None], t_2d, guess)
        t_1d = fit_translation_1d(vertices, target, valid, K, t_init, config)
        t_1d = torch.where(has_silhouette[:, None], t_1d, t_2d)
        cost = _silhouette_cost(_silhouette_residual(vertices, t_1d, target, K), valid.to(K))
        silhouette_error = cost.sqrt() * has_silhouette
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


# --------------------------------------------------------------------------------------------
# Heatmap decoding


def heatmaps_to_uv(heatmaps: Tensor, input_size: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Decode per-joint heatmaps to sub-pixel image coordinates and confidences.

    The peak is the argmax, refined per axis by the vertex of the parabola through the log
    values at the argmax and its two neighbours (exact for a sampled Gaussian peak; the shift is
    limited to half a cell and is 0 on the border or where the peak is flat). Heatmap cell
    centres sit at integers, and so do input pixel centres (see module docstring), so a heatmap
    coordinate x maps to ``(x + 0.5) * input_width / heatmap_width - 0.5``. (The reference uses
    ``x * input_width / heatmap_width``, a quarter- to half-pixel shift, quantised to 2 px.)

    heatmaps: (B, J, h, w) probabilities (e.g. sigmoid outputs).
    input_size: side of the square input, or (width, height), in pixels.
    Returns uv: (B, J, 2) pixels in the input, confidence: (B, J) heatmap maxima.
    """
    batch, joints, height, width = heatmaps.shape
    in_width, in_height = (input_size, input_size) if isinstance(input_size, int) else input_size
    flat = heatmaps.flatten(2)
    confidence, index = flat.max(2)
    row, column = index // width, index % width
    logs = heatmaps.clamp_min(1e-12).log()
    dx = _parabola_offset(logs, row, column, width, axis=3)
    dy = _parabola_offset(logs, row, column, height, axis=2)
    u = (column + dx + 0.5) * (in_width / width) - 0.5
    v = (row + dy + 0.5) * (in_height / height) - 0.5
    return torch.stack([u, v], dim=2), confidence


def _parabola_offset(logs: Tensor, row: Tensor, column: Tensor, length: int, axis: int) -> Tensor:
    """Sub-cell offset of the peak along one axis from a 3-point parabola fit.

    logs: (B, J, h, w) log heatmaps. row, column: (B, J) long, argmax position.
    length: size of the axis (h or w). axis: 2 (rows) or 3 (columns).
    Returns (B, J) offsets in cells, within [-0.5, 0.5].
    """
    position = row if axis == 2 else column
    interior = (position > 0) & (position < length - 1)

    def sample(shift: int) -> Tensor:
        r = row + shift if axis == 2 else row
        c = column + shift if axis == 3 else column
        r, c = r.clamp(0, logs.shape[2] - 1), c.clamp(0, logs.shape[3] - 1)
        return logs.flatten(2).gather(2, (r * logs.shape[3] + c)[..., None])[..., 0]

    before, centre, after = sample(-1), sample(0), sample(1)
    curvature = before - 2.0 * centre + after
    peaked = interior & (curvature < 0)
    offset = 0.5 * (before - after) / torch.where(peaked, curvature, -torch.ones_like(curvature))
    return torch.where(peaked, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
