"""Pinhole camera: projection, intrinsics from a field of view, mirroring and validation.

See :mod:`cmr.geometry` for the conventions. Every function here works on NumPy arrays and,
where stated, on torch tensors, with any leading batch shape.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

#: Depth (metres) below which z is clamped before the perspective division, so points at or
#: behind the camera give large but finite coordinates (and finite gradients). The one clamp of
#: the project: registration, rendering, data and drawing all project through this module.
MIN_DEPTH = 1e-3
#: Horizontal fields of view (degrees) accepted for a K: outside, the focal length is almost
#: surely in the wrong unit (normalised, millimetres) rather than pixels.
FOV_RANGE_DEG = (1.0, 170.0)


def project_points(points, K):
    """Perspective projection of camera-space points to pixels.

    points: (..., N, 3) metres, camera space; K: (..., 3, 3) pixels (broadcast against the
    points' batch shape; a single (3, 3) K works for any batch). NumPy arrays or torch tensors.
    Returns (..., N, 2) pixel coordinates (u, v). Depths below :data:`MIN_DEPTH` are clamped.
    """
    if isinstance(points, Tensor):
        image = points @ K.transpose(-1, -2)
        return image[..., :2] / image[..., 2:].clamp_min(MIN_DEPTH)
    image = np.asarray(points) @ np.swapaxes(np.asarray(K), -1, -2)
    return image[..., :2] / np.maximum(image[..., 2:], MIN_DEPTH)


def projection_jacobian(points: Tensor, K: Tensor) -> Tensor:
    """Derivative of :func:`project_points` with respect to the points (or a translation).

    points: (B, M, 3) metres, camera space. K: (B, 3, 3).
    Returns (B, M, 2, 3): d(u, v) / d(x, y, z), pixels per metre (0 in z where clamped is not
    modelled: the clamp only matters for points behind the camera).
    """
    depth = points[..., 2:].clamp_min(MIN_DEPTH)  # (B, M, 1)
    uv = project_points(points, K)  # (B, M, 2)
    linear = K[:, None, :2, :] / depth[..., None]  # (B, M, 2, 3): K rows / z
    e_z = torch.tensor([0.0, 0.0, 1.0], dtype=points.dtype, device=points.device)
    return linear - (uv / depth)[..., None] * e_z


def intrinsics_from_fov(width: int, height: int, fov_deg: float) -> np.ndarray:
    """(3, 3) float64 intrinsics of a pinhole camera with horizontal field of view ``fov_deg``.

    The image spans u in [-0.5, width - 0.5], so ``fx = fy = width / (2 tan(fov / 2))`` and
    the principal point is the image centre ``((width - 1) / 2, (height - 1) / 2)``.
    """
    if not FOV_RANGE_DEG[0] <= fov_deg <= FOV_RANGE_DEG[1]:
        raise ValueError(f"field of view must be within {FOV_RANGE_DEG} degrees, got {fov_deg}")
    focal = width / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    return np.array([[focal, 0.0, (width - 1) / 2.0],
                     [0.0, focal, (height - 1) / 2.0],
                     [0.0, 0.0, 1.0]])


def horizontal_fov_deg(K: np.ndarray, width: int) -> float:
    """Horizontal field of view (degrees) that ``K``'s fx gives an image ``width`` pixels wide."""
    return math.degrees(2.0 * math.atan(width / (2.0 * float(K[0, 0]))))


def validate_intrinsics(K, width: int, height: int, source: str) -> np.ndarray:
    """``K`` as a (3, 3) float64 array, or ValueError naming ``source`` and what is wrong.

    Checks, in order: shape (3, 3); finite values; positive focal lengths; last row [0, 0, 1];
    a field of view for the ``width`` x ``height`` image within :data:`FOV_RANGE_DEG` (a K in
    normalised units, fx of about 1-3, would put the hand metres away).
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"{source}: expected a 3x3 intrinsic matrix, got shape {K.shape}")
    if not np.isfinite(K).all():
        raise ValueError(f"{source}: the intrinsic matrix holds NaN or infinite values: {K.tolist()}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"{source}: focal lengths must be positive pixels, got fx={K[0, 0]:g}, fy={K[1, 1]:g}")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"{source}: the last row of K must be [0, 0, 1], got {K[2].tolist()}")
    fov = horizontal_fov_deg(K, width)
    if not FOV_RANGE_DEG[0] <= fov <= FOV_RANGE_DEG[1]:
        raise ValueError(
            f"{source}: fx={K[0, 0]:g} gives a {fov:.1f} degree field of view for a {width}x{height} "
            f"image; K must be in pixels of this image (normalised intrinsics must be multiplied by "
            f"the image size)"
        )
    return K


def mirror_intrinsics(K, width: int):
    """Intrinsics of the mirrored image of the mirrored world (x -> -x).

    A point (x, y, z) projecting to u with K projects to ``u' = W - 1 - u`` (same v) with the
    returned K' when its x is negated: cx' = W - 1 - cx and the skew changes sign. Works on
    (3, 3) or batched (..., 3, 3) arrays or tensors; applying it twice gives back K.
    """
    mirrored = K.clone() if isinstance(K, Tensor) else np.array(K, dtype=np.float64)
    mirrored[..., 0, 1] = -mirrored[..., 0, 1]
    mirrored[..., 0, 2] = (width - 1) - mirrored[..., 0, 2]
    return mirrored


def mirror_points(points: Tensor) -> Tensor:
    """Mirror (..., 3) camera-space points through the x = 0 plane (negate x)."""
    return points * points.new_tensor([-1.0, 1.0, 1.0])


def mirror_faces(faces: np.ndarray) -> np.ndarray:
    """(F, 3) faces with reversed winding: outward again after mirroring the vertices."""
    return np.ascontiguousarray(np.asarray(faces)[:, ::-1])
