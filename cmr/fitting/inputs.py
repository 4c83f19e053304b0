"""The fit's inputs: checked (shapes named in every error), converted, and made ready to compare.

Everything the fit compares against is computed once here: the keypoint weights (confidences
below the threshold set to 0) and, for a silhouette, the distance map of its outside.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from cmr.hand.conventions import NUM_KEYPOINTS

SIDES = ("right", "left")


class FitTargets(NamedTuple):
    """What a batch of B hands is fitted to (the model's dtype and device).

    vertices: (B, V, 3) metres, camera space, the hand model's topology, or None (joints only).
    joints: (B, 21, 3) metres, camera space, FreiHAND order (e.g. a detector's 3D keypoints), or None.
    keypoints: (B, 21, 2) pixels, FreiHAND order, or None.
    keypoint_weights: (B, 21) confidences, 0 at or below the threshold (None without keypoints).
    K: (B, 3, 3) pixel intrinsics of the keypoints' and silhouette's image, or None.
    distance_maps: (B, H, W) pixels from every pixel centre to the nearest foreground pixel
        centre of the silhouette (0 on it), or None.
    has_mask: (B,) bool, the silhouette has foreground (None without silhouettes).
    """

    vertices: Tensor
    joints: Tensor | None
    keypoints: Tensor | None
    keypoint_weights: Tensor | None
    K: Tensor | None
    distance_maps: Tensor | None
    has_mask: Tensor | None

    def select(self, index: Tensor) -> "FitTargets":
        """The targets of the samples ``index`` (a (N,) long tensor)."""
        return FitTargets(*(None if value is None else value[index] for value in self))


def _tensor(name: str, value, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``value`` (tensor or array-like) as a tensor, or ValueError naming ``name``."""
    try:
        return torch.as_tensor(value).to(device=device, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name}: expected a tensor or array of numbers ({error})") from None


def _check_shape(name: str, tensor: Tensor, expected: tuple, description: str) -> None:
    """ValueError naming ``name`` unless ``tensor``'s shape matches ``expected`` (None: any size)."""
    matches = tensor.dim() == len(expected) and all(
        size is None or size == actual for size, actual in zip(expected, tensor.shape))
    if not matches:
        shown = ", ".join("any" if size is None else str(size) for size in expected)
        raise ValueError(f"{name}: expected shape ({shown}) ({description}), got {tuple(tensor.shape)}")


def _check_finite(name: str, tensor: Tensor) -> None:
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name}: holds NaN or infinite values")


def normalise_sides(side: str | Sequence[str], batch: int) -> tuple[str, ...]:
    """The side of every sample: ``side`` ('right' or 'left', or one per sample)."""
    sides = (side,) * batch if isinstance(side, str) else tuple(side)
    if len(sides) != batch:
        raise ValueError(f"side: expected 'right', 'left' or one of them per sample ({batch}), got {len(sides)}")
    unknown = sorted({value for value in sides if value not in SIDES})
    if unknown:
        raise ValueError(f"side: expected 'right' or 'left', got {unknown}")
    return sides


def outside_distance_maps(mask: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Distance maps of silhouettes' outsides.

    mask: (B, H, W) probabilities (foreground where > threshold) or bool. Returns distance:
    (B, H, W) pixels from each pixel centre to the nearest foreground pixel centre (0 on the
    foreground, 0 everywhere for an empty mask) in the mask's floating dtype (float32 for bool),
    and has_mask: (B,) bool, the mask has foreground.
    """
    foreground = (mask if mask.dtype == torch.bool else mask > threshold).cpu().numpy()
    distances = np.zeros(foreground.shape, dtype=np.float32)
    for index, silhouette in enumerate(foreground):
        if silhouette.any():
            distances[index] = distance_transform_edt(~silhouette)
    dtype = mask.dtype if mask.dtype.is_floating_point else torch.float32
    has_mask = torch.from_numpy(foreground.reshape(len(foreground), -1).any(1)).to(mask.device)
    return torch.from_numpy(distances).to(device=mask.device, dtype=dtype), has_mask


def _joints(joints, batch: int, dtype: torch.dtype, device: torch.device) -> Tensor | None:
    """The checked (B, 21, 3) joint targets, or None."""
    if joints is None:
        return None
    joints = _tensor("joints", joints, dtype, device)
    _check_shape("joints", joints, (batch, NUM_KEYPOINTS, 3), "camera-space metres, FreiHAND order")
    _check_finite("joints", joints)
    return joints


def prepare_targets(vertices, keypoints, confidence, K, mask, num_vertices: int, confidence_threshold: float,
                    mask_threshold: float, dtype: torch.dtype, device: torch.device, joints=None) -> FitTargets:
    """Check and convert the inputs of :func:`cmr.fitting.fit_hand` (shapes as documented there).

    Raises ValueError naming the argument and the expected shape when one is wrong, holds
    non-finite values, or comes without what it needs (keypoints or a mask need K; a
    confidence needs keypoints).
    """
    if vertices is None and joints is None:
        raise ValueError("vertices: a target mesh (B, V, 3) is needed when no joints are given")
    if vertices is not None:
        vertices = _tensor("vertices", vertices, dtype, device)
        _check_shape("vertices", vertices, (None, num_vertices, 3), "B target meshes in metres")
        _check_finite("vertices", vertices)
    batch = len(vertices) if vertices is not None else len(torch.as_tensor(joints))
    if (keypoints is not None or mask is not None) and K is None:
        raise ValueError("K: (B, 3, 3) pixel intrinsics are needed to use keypoints or a mask")
    if confidence is not None and keypoints is None:
        raise ValueError("confidence: given without keypoints")
    if K is not None:
        K = _tensor("K", K, dtype, device)
        _check_shape("K", K, (batch, 3, 3), "pixel intrinsics per sample")
        _check_finite("K", K)
    weights = None
    if keypoints is not None:
        keypoints = _tensor("keypoints", keypoints, dtype, device)
        _check_shape("keypoints", keypoints, (batch, NUM_KEYPOINTS, 2), "pixels, FreiHAND order")
        _check_finite("keypoints", keypoints)
        confidence = torch.ones(batch, NUM_KEYPOINTS) if confidence is None else confidence
        confidence = _tensor("confidence", confidence, dtype, device)
        _check_shape("confidence", confidence, (batch, NUM_KEYPOINTS), "one per keypoint, in [0, 1]")
        weights = torch.where(confidence > confidence_threshold, confidence, torch.zeros_like(confidence))
    distance_maps = has_mask = None
    if mask is not None:
        mask = torch.as_tensor(mask, device=device)
        _check_shape("mask", mask, (batch, None, None), "silhouette probabilities or bool in K's pixel grid")
        if min(mask.shape[1:]) < 2:
            raise ValueError(f"mask: expected at least 2 x 2 pixels, got {tuple(mask.shape[1:])}")
        distance_maps, has_mask = outside_distance_maps(mask, mask_threshold)
        distance_maps = distance_maps.to(dtype)
    return FitTargets(vertices, _joints(joints, batch, dtype, device), keypoints, weights, K, distance_maps, has_mask)
