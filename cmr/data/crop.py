"""Crops of a FreiHAND-style image with intrinsics that follow the crop exactly.

A crop is one affine map ``M`` (2 x 3) from source pixels to crop pixels, the crop's intrinsics
``K'`` and a rotation ``R`` to apply to the camera-space ground truth. It is built as

* a rotation by ``theta`` about the optical axis: the scene's 3-D points become ``X' = R X``
  and the image is warped by ``H = K R K^-1`` (an affine map, exact for any ``K``; for
  ``fx = fy`` and no skew it is a rotation about the principal point), leaving ``K`` unchanged;
* then a scale-and-shift ``A`` that maps a square box of the (rotated) image onto the crop,
  giving ``K' = A K``,

so ``M = A H`` and every image (RGB, mask, depth) is resampled once. Pixel centres sit at
integer coordinates everywhere (OpenCV's ``warpAffine`` convention too): a box of half-side
``h`` centred on ``c`` covers source coordinates ``[c - h, c + h]`` and is mapped onto crop
coordinates ``[-0.5, S - 0.5]``.

Differences from the reference (cmr.md §5.2 and pitfall 22), deliberate: the rotation is about
the optical axis and moves ``K``-consistent geometry (the reference rotates about the image
centre and keeps ``K``, right only when the principal point is the centre); the angle is a
float in ``[-rot, rot]``; the box is not truncated to integers and uses one scale for the warp,
``K`` and the keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cmr.data.targets import crop_to_map_affine

#: Box side per hand size (the larger side of the hand's bounding box) without jitter.
BOX_SCALE = 1.3
#: Evaluation crop as the reference: a fixed box of half-side 65 px (100 / 2 * 1.3) centred on
#: pixel (112, 112) of the 224 x 224 image, i.e. source pixels 47 .. 177.
EVALUATION_CENTRE = (112.0, 112.0)
EVALUATION_HALF_SIDE = 65.0


@dataclass(frozen=True)
class Crop:
    """One crop of a source image.

    matrix: (2, 3) float64 affine, source pixel coordinates -> crop pixel coordinates.
    K: (3, 3) float64 intrinsics of the crop (pixels), for the rotated camera-space points.
    rotation: (3, 3) float64 ``R``; camera-space ground truth X (metres) becomes ``R @ X``.
    size: side S of the square crop in pixels.
    """

    matrix: np.ndarray
    K: np.ndarray
    rotation: np.ndarray
    size: int


def rotation_about_optical_axis(angle_degrees: float) -> np.ndarray:
    """(3, 3) rotation by ``angle_degrees`` about the camera's z axis (x towards y)."""
    angle = np.deg2rad(angle_degrees)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_homography(K: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(3, 3) image map ``K R K^-1`` of a rotation about the optical axis (affine, last row 0 0 1)."""
    homography = K @ rotation @ np.linalg.inv(K)
    return homography / homography[2, 2]


def box_affine(centre: np.ndarray, half_side: float, size: int) -> np.ndarray:
    """(3, 3) scale-and-shift taking the box ``centre +- half_side`` (pixel coordinates) onto
    an ``size`` x ``size`` crop: ``u' = s (u - c) + (size - 1) / 2`` with ``s = size / (2 h)``."""
    scale = size / (2.0 * half_side)
    offset = (size - 1) / 2.0
    return np.array([
        [scale, 0.0, offset - scale * centre[0]],
        [0.0, scale, offset - scale * centre[1]],
        [0.0, 0.0, 1.0],
    ])


def hand_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box of hand pixels given by their centres.

    points: (P, 2) pixel-centre coordinates (P >= 1); each pixel is taken to extend half a
        pixel around its centre.
    Returns (centre (2,), size (2,) width and height), pixels.
    """
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    return (low + high) / 2.0, high - low


def foreground_pixels(mask: np.ndarray) -> np.ndarray:
    """(P, 2) float64 (u, v) centres of the True pixels of a (H, W) bool mask."""
    rows, columns = np.nonzero(mask)
    return np.stack([columns, rows], axis=1).astype(np.float64)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) or (3, 3) affine to (P, 2) points; returns (P, 2)."""
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def training_crop(hand_pixels: np.ndarray, K: np.ndarray, size: int, rng: np.random.Generator | None,
                  rotation_degrees: float = 90.0, scale_jitter: float = 0.2) -> Crop:
    """A jittered crop around the hand.

    The box side is ``(BOX_SCALE + scale_jitter * a) * max(w, h)`` of the hand's box (w, h) in
    the rotated image, shifted by ``(sx (half - w/2), sy (half - h/2))`` so the hand stays
    inside, with ``a, sx, sy ~ U[-1, 1]``; the rotation angle is ``U[-rotation_degrees,
    rotation_degrees]``.

    Args:
        hand_pixels: (P, 2) source pixel centres of the hand (the mask's foreground).
        K: (3, 3) source intrinsics, pixels.
        size: side S of the crop, pixels.
        rng: random generator; None gives the un-jittered crop (no rotation, centred box).
        rotation_degrees, scale_jitter: jitter ranges.
    """
    if rng is None:
        angle, amplify, shift = 0.0, 0.0, np.zeros(2)
    else:
        angle = rng.uniform(-rotation_degrees, rotation_degrees)
        amplify = rng.uniform(-1.0, 1.0)
        shift = rng.uniform(-1.0, 1.0, size=2)
    rotation = rotation_about_optical_axis(angle)
    homography = rotation_homography(K, rotation)
    centre, extent = hand_box(apply_affine(homography, hand_pixels))
    half_side = (BOX_SCALE + scale_jitter * amplify) * extent.max() / 2.0
    centre = centre + shift * np.maximum(half_side - extent / 2.0, 0.0)
    crop = box_affine(centre, half_side, size)
    return Crop(matrix=(crop @ homography)[:2], K=crop @ K, rotation=rotation, size=size)


def evaluation_crop(K: np.ndarray, size: int) -> Crop:
    """The reference's fixed evaluation crop (``EVALUATION_CENTRE +- EVALUATION_HALF_SIDE``)."""
    crop = box_affine(np.asarray(EVALUATION_CENTRE), EVALUATION_HALF_SIDE, size)
    return Crop(matrix=crop[:2], K=crop @ K, rotation=np.eye(3), size=size)


def warp_image(image: np.ndarray, crop: Crop) -> np.ndarray:
    """(H, W, 3) uint8 source image -> (S, S, 3) uint8 crop, bilinear, black outside the source."""
    return cv2.warpAffine(image, crop.matrix, (crop.size, crop.size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_mask(mask: np.ndarray, crop: Crop) -> np.ndarray:
    """(H, W) bool source mask -> (S, S) bool crop mask (bilinear, then thresholded at 1/2)."""
    warped = cv2.warpAffine(mask.astype(np.uint8) * 255, crop.matrix, (crop.size, crop.size),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped > 127


def warp_depth_half(depth: np.ndarray, crop: Crop) -> np.ndarray:
    """(H, W) float32 depth (metres, 0 = background) -> (S/2, S/2) at half crop resolution,
    nearest neighbour (depth values are never blended); the crop rotation leaves z unchanged."""
    half = crop.size // 2
    to_half = crop_to_map_affine(crop.size, half) @ np.vstack([crop.matrix, [0.0, 0.0, 1.0]])
    return cv2.warpAffine(depth, to_half[:2], (half, half), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
