"""Files of the synthetic dataset: where each sample's files go and how they are encoded.

Every file is written atomically (a temporary file renamed into place), so a killed run
leaves only ``*.tmp`` files, which :func:`remove_partial_files` deletes before resuming.
Formats follow FreiHAND: JPEG RGB images and masks, PLY meshes, uint16 millimetre depth PNGs
and annotation JSONs of float32 values.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cmr.data.layout import SCALE_BONE, FreiHANDLayout
from cmr.data.synth_scene import SceneParameters
from cmr.data.synth_settings import SynthSettings
from cmr.fileio import atomic_write_bytes, atomic_write_json

RGB_JPEG_QUALITY = 92
#: Masks are binary; at quality 100 their JPEG ringing stays far from the 240 threshold.
MASK_JPEG_QUALITY = 100


def rgb_paths(layout: FreiHANDLayout, settings: SynthSettings, split: str, index: int) -> list[Path]:
    """The RGB images of annotation ``index``: version v is image v * N + index."""
    if split == "evaluation":
        return [layout.evaluation_rgb(index)]
    return [layout.training_rgb(v * settings.num_training + index) for v in range(settings.versions)]


def sample_paths(layout: FreiHANDLayout, settings: SynthSettings, split: str, index: int) -> list[Path]:
    """Every file of one annotation (its images, mask, and for training its mesh and depth)."""
    if split == "evaluation":
        return rgb_paths(layout, settings, split, index) + [layout.evaluation_mask(index)]
    return rgb_paths(layout, settings, split, index) + [
        layout.training_mask(index), layout.training_mesh(index), layout.training_depth(index)]


def _encode(extension: str, image: np.ndarray, params: list[int]) -> bytes:
    """``image`` (H, W) or (H, W, 3) BGR encoded by OpenCV as ``extension`` with ``params``."""
    ok, data = cv2.imencode(extension, image, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {extension} image")
    return data.tobytes()


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    """Write an (H, W, 3) uint8 RGB image as a baseline JPEG, atomically."""
    data = _encode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    atomic_write_bytes(path, data, fsync=False)


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Write an (H, W) bool silhouette as a 3-channel JPEG: 255 hand, 0 background."""
    write_jpeg(path, np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2), MASK_JPEG_QUALITY)


def write_depth(path: Path, depth: np.ndarray) -> None:
    """Write an (H, W) depth map in metres (0 = background) as a uint16 millimetre PNG."""
    millimetres = np.clip(np.round(depth * 1000.0), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    atomic_write_bytes(path, _encode(".png", millimetres, [cv2.IMWRITE_PNG_COMPRESSION, 3]), fsync=False)


def _float32_lists(array: np.ndarray) -> list:
    """Nested lists of the shortest decimals that read back as the same float32 values."""
    return np.asarray(array, dtype=np.float32).astype(str).astype(np.float64).tolist()


def write_annotations(layout: FreiHANDLayout, split: str, params: SceneParameters, joints: np.ndarray,
                      vertices: np.ndarray | None) -> None:
    """Write a split's JSON files in FreiHAND's format.

    Args:
        joints: (N, 21, 3) float32 keypoints, metres. vertices: (N, 778, 3) float32 (evaluation).
    """
    bone = joints[:, SCALE_BONE[0]] - joints[:, SCALE_BONE[1]]
    files = {"K": params.K.tolist(), "xyz": _float32_lists(joints), "mano": _float32_lists(params.mano()),
             "scale": _float32_lists(np.linalg.norm(bone, axis=1))}
    if vertices is not None:
        files["verts"] = _float32_lists(vertices)
    for name, content in files.items():
        atomic_write_json(layout.annotation(split, name), content, indent=None)


def remove_partial_files(layout: FreiHANDLayout) -> int:
    """Delete temporary files an interrupted run left in the image folders; returns how many."""
    folders = [layout.training_rgb(0).parent, layout.training_mask(0).parent, layout.training_mesh(0).parent,
               layout.training_depth(0).parent, layout.evaluation_rgb(0).parent, layout.evaluation_mask(0).parent]
    stale = [path for folder in folders if folder.is_dir() for path in folder.glob("*.tmp")]
    for path in stale:
        path.unlink()
    return len(stale)
