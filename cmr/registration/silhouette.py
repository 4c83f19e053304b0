"""The silhouette descriptor of the 1D step, of masks and of projected meshes, and its edge model.

The silhouette and the projected mesh are compared through a 24-number descriptor: their
extent (min and max) along 12 image axes in 6 orthogonal pairs (:data:`AXIS_PAIRS_DEG`).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from cmr.registration.settings import AXIS_PAIRS_DEG, RegistrationConfig


@functools.lru_cache(maxsize=16)
def descriptor_directions(dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Unit vectors of the 12 descriptor axes, ordered pair by pair (first, second axis).

    Returns (12, 2); axis angle a gives (cos a, sin a) in (u, v) pixel coordinates. Built once
    per dtype and device (the registration asks for it every iteration): do not modify it.
    """
    with torch.inference_mode(False):  # a normal tensor even when first asked for in inference mode
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


def descriptor_indices(points: Tensor) -> Tensor:
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


def mask_descriptor(mask: Tensor, threshold: float, pad_px: float | Tensor) -> tuple[Tensor, Tensor]:
    """1D descriptor of silhouettes, over all foreground pixel centres, widened by ``pad_px``.

    The extreme of a pixel set along any axis is attained on its outer contour, and within a
    row only the leftmost and rightmost foreground pixels can be extreme (every other pixel of
    the row lies between them), so only those 2H candidates per mask are projected.
    ``pad_px`` (see :func:`silhouette_pad_px`) is subtracted from every min and added to every
    max.

    An entry attained by a pixel on the image border measures the crop, not the hand (the
    silhouette is cut there), so it is marked invalid.

    mask: (B, H, W) probabilities (foreground where > threshold) or bool, in the crop's
    pixel grid (pixel centres at integer coordinates). pad_px: pixels, a float or (B,).
    Returns descriptor: (B, 24) pixels in the mask's floating dtype (float32 for a bool mask)
    and valid: (B, 24) bool (all False for an empty mask).
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
    sign = entry_signs(dtype, mask.device)
    valid = torch.isfinite(descriptor) & (sign * (descriptor - border) > 0)
    pad = torch.as_tensor(pad_px, dtype=dtype, device=mask.device).reshape(-1, 1)
    return descriptor + pad * sign, valid


@functools.lru_cache(maxsize=16)
def entry_signs(dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """(24,) -1 for the min entries and +1 for the max entries of a descriptor (outward signs);
    built once per dtype and device: do not modify it."""
    with torch.inference_mode(False):
        return torch.tensor([-1.0, 1.0], dtype=dtype, device=device).repeat(12)


def silhouette_pad_px(mask: Tensor, config: RegistrationConfig) -> Tensor:
    """How far (pixels) the shape's edge lies outside the outermost foreground pixel centres.

    Decided by how the mask was made. A hard mask (bool, or only 0 and 1) keeps the pixels
    whose centre lies inside the shape; its outermost centres fall short of the shape's extent
    by 0 to 1 pixel, ``config.silhouette_pad_px`` on average for hand outlines (0.5 for a
    straight edge along the axis, less where a curved boundary lets several rows compete; 0.35
    made the 1D depth unbiased on masks rasterised from the open hand model's meshes, where
    0.2 left +1.3 mm and 0 left +3.1 mm). A soft mask (probabilities, as the network's map:
    predicted at half resolution, bilinearly resized) goes from 1 to 0 over about
    ``config.silhouette_edge_width_px`` across an edge, so its pixels above
    ``config.mask_threshold`` reach ``(0.5 - threshold) * width`` further out than the shape
    (its 0.5 level), which the pad takes back (2.4 px made the depth unbiased on such maps of
    the same meshes; measured on hands other than the benchmark's).

    mask: (B, H, W) bool or probabilities. Returns (B,) pixels in the mask's floating dtype
    (float32 for bool).
    """
    dtype = mask.dtype if mask.dtype.is_floating_point else torch.float32
    pad = torch.full(mask.shape[:1], config.silhouette_pad_px, dtype=dtype, device=mask.device)
    if mask.dtype == torch.bool:
        return pad
    soft = ((mask > 0) & (mask < 1)).flatten(1).any(1)
    spread = (0.5 - config.mask_threshold) * config.silhouette_edge_width_px
    return torch.where(soft, pad - spread, pad)


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
