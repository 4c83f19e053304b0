"""Training targets of CMR built from one crop: heatmaps, half-resolution mask, mesh pyramid.

Pixel convention (:mod:`cmr.geometry`): pixel centres sit at integer coordinates. A map of side
``h`` covering a crop of side ``S`` has cell ``x`` centred on crop coordinate
``(x + 0.5) * S / h - 0.5``, so :func:`cmr.models.outputs.heatmaps_to_uv` decodes the heatmaps
built here back to the keypoints they were built from.

3-D targets are root-relative and divided by ``MESH_SCALE`` (0.2 m for every sample, as the
reference: no per-sample bone-length normalisation).
"""

from __future__ import annotations

import numpy as np

from cmr.geometry.pixel_maps import rescale_coordinates

#: Metres per unit of the root-relative 3-D targets (mesh pyramid and joints).
MESH_SCALE = 0.2
#: Standard deviation of the joint Gaussians, in heatmap cells (the maps are half resolution).
HEATMAP_SIGMA = 3.5
def inside_crop(uv: np.ndarray, crop_size: int) -> np.ndarray:
    """(J,) bool: which of the (J, 2) crop pixel coordinates fall inside the crop's area."""
    return np.all((uv >= -0.5) & (uv <= crop_size - 0.5), axis=-1)


def gaussian_heatmaps(uv: np.ndarray, visible: np.ndarray, crop_size: int, map_size: int,
                      sigma: float = HEATMAP_SIGMA) -> np.ndarray:
    """One Gaussian per joint, centred sub-pixel exactly on the joint.

    Args:
        uv: (J, 2) joint positions in crop pixels.
        visible: (J,) bool; joints marked False get an all-zero map.
        crop_size: side S of the crop in pixels.
        map_size: side h of the heatmaps in cells (S / 2 for CMR).
        sigma: standard deviation in cells.
    Returns:
        (J, h, h) float32 in [0, 1]; the continuous peak value is 1 (the sampled maximum is
        slightly lower when the centre falls between cells).
    """
    centres = rescale_coordinates(np.asarray(uv, dtype=np.float64), crop_size, map_size)
    cells = np.arange(map_size, dtype=np.float64)
    gx = np.exp(-((cells[None, :] - centres[:, :1]) ** 2) / (2 * sigma**2))  # (J, w)
    gy = np.exp(-((cells[None, :] - centres[:, 1:]) ** 2) / (2 * sigma**2))  # (J, h)
    gy[~np.asarray(visible, dtype=bool)] = 0.0
    return gy.astype(np.float32)[:, :, None] * gx.astype(np.float32)[:, None, :]


def half_resolution_mask(mask: np.ndarray) -> np.ndarray:
    """(S, S) binary crop mask -> (1, S/2, S/2) float32 coverage in [0, 1] (2x2 area average)."""
    mask = np.asarray(mask, dtype=np.float32)
    height, width = mask.shape
    if height % 2 or width % 2:
        raise ValueError(f"the crop side must be even to halve it, got {mask.shape}")
    return mask.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))[None]


def normalise_3d(points: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Camera-space points (..., 3) metres -> root-relative, in units of ``MESH_SCALE``; float32."""
    return ((np.asarray(points, dtype=np.float64) - root) / MESH_SCALE).astype(np.float32)


def mesh_pyramid(vertices: np.ndarray, template, levels: int | None = None) -> list[np.ndarray]:
    """The mesh target of every predicted level, obtained through the template's down matrices.

    Args:
        vertices: (N_0, 3) level-0 vertices (any unit; the selection keeps it).
        template: a :class:`cmr.mesh.template.Template` with ``down[l]`` (N_{l+1}, N_l).
        levels: how many levels to return (default ``template.num_levels - 1``, the levels
            CMR predicts: 4 for 778 -> 389 -> 195 -> 98).
    Returns:
        ``levels`` float32 arrays, ``[l]`` of shape (N_l, 3); level 0 is ``vertices``.
    """
    levels = template.num_levels - 1 if levels is None else levels
    if len(vertices) != template.num_vertices[0]:
        raise ValueError(
            f"mesh has {len(vertices)} vertices but template {template.name!r} has "
            f"{template.num_vertices[0]} at level 0"
        )
    pyramid = [np.asarray(vertices, dtype=np.float32)]
    for level in range(levels - 1):
        pyramid.append(np.asarray(template.down[level] @ pyramid[-1], dtype=np.float32))
    return pyramid
