"""Crops with intrinsics that follow exactly, and the crop policy that frames a hand.

A :class:`Crop` is one affine map ``M`` from source pixels to crop pixels, the crop's intrinsics
``K' = M K`` and a rotation ``R`` to apply to camera-space points (``X' = R X``). It is built
as a rotation about the optical axis (the image is warped by ``K R K^-1``, K unchanged), then a
box map taking a square box of the rotated image onto the crop, so every image (RGB, mask,
depth) is resampled once.

The :class:`CropPolicy` is a model setting (``MODEL.INPUT_SIZE`` and ``MODEL.CROP`` in the
configuration, stored with every checkpoint): a square box ``BOX_SCALE`` times the hand's extent
(the larger side of its bounding box), centred on the hand, resized to the input side. Training
(jittered), evaluation (a dataset's known hand box) and the demo (a box found on the image) all
build their inputs through it, so the network always sees hands framed the same way. A hand
known only by its 21 keypoints (a detector's) is framed as if its silhouette were
:data:`KEYPOINT_TO_HAND_EXTENT` times their extent.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cmr.geometry.pixel_maps import (
    apply_affine,
    box_map,
    rotation_about_optical_axis,
    rotation_map,
    scale_map,
)

#: Extent of a hand's silhouette per extent of its 21 keypoints (the median over the open hand
#: model's pose kinds under random rotations is 1.14-1.31, 1.2 over all).
KEYPOINT_TO_HAND_EXTENT = 1.2

#: Warps that shrink the source by more than this factor first average it down with
#: ``cv2.INTER_AREA`` (bilinear sampling alone would alias a large photo).
MAX_DIRECT_SHRINK = 1.5


@dataclass(frozen=True)
class Crop:
    """One square crop of a source image.

    matrix: (3, 3) float64 affine, source pixel coordinates -> crop pixel coordinates.
    K: (3, 3) float64 intrinsics of the crop (pixels), for the rotated camera-space points.
    rotation: (3, 3) float64 ``R``; camera-space points X (metres) become ``R @ X``.
    size: side S of the square crop in pixels.
    """

    matrix: np.ndarray
    K: np.ndarray
    rotation: np.ndarray
    size: int


@dataclass(frozen=True)
class CropJitter:
    """Random framing of training crops: angle ``U[-rotation, rotation]`` degrees, box side
    ``(box_scale + scale * a) * extent`` with ``a ~ U[-1, 1]``, and a shift of the box centre by
    up to the slack between box and hand on each axis (``DATA.ROTATION``, ``DATA.SCALE_JITTER``)."""

    rotation: float
    scale: float


@dataclass(frozen=True)
class CropPolicy:
    """How a hand is framed for the network (see the module docstring).

    size: input side S, pixels. box_scale: box side per hand extent.
    """

    size: int
    box_scale: float

    def __post_init__(self) -> None:
        if self.size <= 0 or self.size % 2:
            raise ValueError(f"crop size must be a positive even number of pixels, got {self.size}")
        if not self.box_scale > 0:
            raise ValueError(f"crop box scale must be positive, got {self.box_scale}")

    @classmethod
    def from_config(cls, model_cfg) -> "CropPolicy":
        """The policy of a configuration's ``MODEL`` section (INPUT_SIZE, CROP.BOX_SCALE)."""
        return cls(int(model_cfg.INPUT_SIZE), float(model_cfg.CROP.BOX_SCALE))

    def around_box(self, centre, extent: float, K: np.ndarray) -> Crop:
        """The crop of a hand box: ``centre`` (2,) pixels and ``extent`` (its larger side, px)."""
        half_side = self.box_scale * float(extent) / 2.0
        matrix = box_map(np.asarray(centre, dtype=np.float64), half_side, self.size)
        return Crop(matrix=matrix, K=matrix @ K, rotation=np.eye(3), size=self.size)

    def around_points(self, points: np.ndarray, K: np.ndarray) -> Crop:
        """The crop framing (P, 2) hand pixel centres (keypoints or silhouette pixels)."""
        centre, extent = hand_box(points)
        return self.around_box(centre, extent.max(), K)

    def around_keypoints(self, keypoints: np.ndarray, K: np.ndarray) -> Crop:
        """The crop of a hand given by its (21, 2) keypoints (pixels; see the module docstring)."""
        centre, extent = hand_box(keypoints)
        return self.around_box(centre, KEYPOINT_TO_HAND_EXTENT * extent.max(), K)

    def jittered(self, points: np.ndarray, K: np.ndarray, jitter: CropJitter,
                 rng: np.random.Generator, extent_scale: float = 1.0) -> Crop:
        """A randomly rotated, scaled and shifted crop around (P, 2) hand pixel centres.

        The hand's box is measured in the rotated image, so the hand stays inside the crop;
        ``extent_scale`` scales its extent (:data:`KEYPOINT_TO_HAND_EXTENT` for keypoints).
        """
        angle = rng.uniform(-jitter.rotation, jitter.rotation)
        amplify = rng.uniform(-1.0, 1.0)
        shift = rng.uniform(-1.0, 1.0, size=2)
        rotation = rotation_about_optical_axis(angle)
        rotate = rotation_map(K, rotation)
        centre, extent = hand_box(apply_affine(rotate, points))
        extent = extent * extent_scale
        half_side = (self.box_scale + jitter.scale * amplify) * extent.max() / 2.0
        centre = centre + shift * np.maximum(half_side - extent / 2.0, 0.0)
        box = box_map(centre, half_side, self.size)
        return Crop(matrix=box @ rotate, K=box @ K, rotation=rotation, size=self.size)


def letterbox_crop(width: int, height: int, K: np.ndarray, size: int) -> Crop:
    """The whole image, centred in a black square, resized to ``size`` (nothing is cut off)."""
    side = max(width, height)
    matrix = box_map(np.array([(width - 1) / 2.0, (height - 1) / 2.0]), side / 2.0, size)
    return Crop(matrix=matrix, K=matrix @ K, rotation=np.eye(3), size=size)


def hand_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box of hand pixels given by their centres.

    points: (P, 2) pixel-centre coordinates (P >= 1); each pixel is taken to extend half a
        pixel around its centre.
    Returns (centre (2,), size (2,) width and height), pixels.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"a hand box needs (P >= 1, 2) pixel coordinates, got shape {points.shape}")
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    return (low + high) / 2.0, high - low


def foreground_pixels(mask: np.ndarray) -> np.ndarray:
    """(P, 2) float64 (u, v) centres of the True pixels of a (H, W) bool mask."""
    rows, columns = np.nonzero(mask)
    return np.stack([columns, rows], axis=1).astype(np.float64)


def _shrink_first(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average a source down (INTER_AREA) when the warp would shrink it a lot; the matrix follows."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    if scale * MAX_DIRECT_SHRINK >= 1.0:
        return image, matrix
    height, width = image.shape[:2]
    target = (max(1, round(width * scale * MAX_DIRECT_SHRINK)), max(1, round(height * scale * MAX_DIRECT_SHRINK)))
    small = cv2.resize(image, target, interpolation=cv2.INTER_AREA)
    return small, matrix @ np.linalg.inv(scale_map((width, height), target))


def warp_image(image: np.ndarray, crop: Crop) -> np.ndarray:
    """(H, W, 3) uint8 source image -> (S, S, 3) uint8 crop (:func:`warp_pixels`)."""
    return warp_pixels(image, crop.matrix, crop.size)


def warp_pixels(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 source image -> (size, size, 3) uint8 through the (3, 3) pixel map
    ``matrix``: bilinear, black outside the source, a source shrunk by more than
    :data:`MAX_DIRECT_SHRINK` area-averaged first."""
    source, matrix = _shrink_first(np.ascontiguousarray(image), np.asarray(matrix, dtype=np.float64))
    return cv2.warpAffine(source, matrix[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_mask(mask: np.ndarray, crop: Crop) -> np.ndarray:
    """(H, W) bool source mask -> (S, S) bool crop mask (bilinear, then thresholded at 1/2)."""
    warped = cv2.warpAffine(mask.astype(np.uint8) * 255, crop.matrix[:2], (crop.size, crop.size),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped > 127


def warp_depth_half(depth: np.ndarray, crop: Crop) -> np.ndarray:
    """(H, W) float32 depth (metres, 0 = background) -> (S/2, S/2) at half crop resolution,
    nearest neighbour (depth values are never blended); the crop rotation leaves z unchanged."""
    half = crop.size // 2
    to_half = scale_map(crop.size, half) @ crop.matrix
    return cv2.warpAffine(depth, to_half[:2], (half, half), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
