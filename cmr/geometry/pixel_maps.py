"""Affine pixel maps between images: every crop, pad, resize and rotation is one (3, 3) matrix.

Pixel centres sit at integer coordinates (see :mod:`cmr.geometry`). A map ``A`` takes pixel
coordinates of one image to those of another showing the same camera rays, so intrinsics follow
as ``K' = A K`` and compositions are matrix products.
"""

from __future__ import annotations

import numpy as np


def rescale_coordinates(x, source_size: float, target_size: float):
    """Coordinates along one axis of an image of ``source_size`` pixels (or cells) in an image of
    ``target_size`` covering the same extent: ``(x + 0.5) * target / source - 0.5``.

    Works on floats, NumPy arrays and torch tensors.
    """
    return (x + 0.5) * (target_size / source_size) - 0.5


def scale_map(source_size, target_size) -> np.ndarray:
    """(3, 3) map of resizing an image: pixel centres follow :func:`rescale_coordinates`.

    source_size, target_size: a side (square images) or (width, height) pairs, pixels.
    """
    source_w, source_h = np.broadcast_to(np.asarray(source_size, dtype=np.float64), (2,))
    target_w, target_h = np.broadcast_to(np.asarray(target_size, dtype=np.float64), (2,))
    scale_x, scale_y = target_w / source_w, target_h / source_h
    return np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5],
                     [0.0, scale_y, 0.5 * scale_y - 0.5],
                     [0.0, 0.0, 1.0]])


def box_map(centre, half_side: float, size: int) -> np.ndarray:
    """(3, 3) map taking the square box ``centre +- half_side`` (pixel coordinates) onto a
    ``size`` x ``size`` image: ``u' = s (u - c) + (size - 1) / 2`` with ``s = size / (2 h)``,
    so the box edges land on the crop's edges -0.5 and size - 0.5."""
    scale = size / (2.0 * half_side)
    offset = (size - 1) / 2.0
    return np.array([[scale, 0.0, offset - scale * centre[0]],
                     [0.0, scale, offset - scale * centre[1]],
                     [0.0, 0.0, 1.0]])


def rotation_about_optical_axis(angle_degrees: float) -> np.ndarray:
    """(3, 3) camera-space rotation by ``angle_degrees`` about the z axis (x towards y)."""
    angle = np.deg2rad(angle_degrees)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_map(K: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(3, 3) image map ``K R K^-1`` of a rotation about the optical axis (affine, exact for any
    K; for fx = fy and no skew a rotation about the principal point). K stays the crop's K."""
    homography = K @ rotation @ np.linalg.inv(K)
    return homography / homography[2, 2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) or (3, 3) affine map to (..., 2) points; returns (..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def mirror_map(width: int) -> np.ndarray:
    """(3, 3) map of flipping an image ``width`` pixels wide: column u goes to ``width - 1 - u``."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def rotated_box_map(centre, half_side: float, angle: float, size: int) -> np.ndarray:
    """(3, 3) map taking a square box of the image, rotated by ``angle``, onto a ``size`` x
    ``size`` image: ``u' = s R(-angle) (u - c) + (size - 1) / 2`` with ``s = size / (2 h)``.

    centre: (2,) box centre, pixels. half_side: pixels. angle: radians; the crop's x axis runs
    along ``(cos angle, sin angle)`` in the image (y down), so 0 is :func:`box_map`.
    """
    cos, sin = np.cos(angle), np.sin(angle)
    turn = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    to_origin = np.array([[1.0, 0.0, -centre[0]], [0.0, 1.0, -centre[1]], [0.0, 0.0, 1.0]])
    return box_map((0.0, 0.0), half_side, size) @ turn @ to_origin
