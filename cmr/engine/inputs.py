"""Inputs of the photo commands (``demo``, ``detect``): image folders, videos and intrinsics.

Intrinsics of an image come, in this order, from ``<stem>_K.npy`` beside it (a 3x3 matrix in
pixels; for FreiHAND's ``<id>_img.jpg`` also ``<id>_K.npy``), from its EXIF focal length (the
35 mm-equivalent focal length over the 43.27 mm full-frame diagonal, else the focal length in
mm with the focal-plane resolution), else from an assumed horizontal field of view. The
principal point is the image centre unless a K file gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from cmr.fileio import read_rgb
from cmr.geometry.camera import intrinsics_from_fov, validate_intrinsics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
#: Frame rate assumed for a video that does not state one (cameras).
DEFAULT_FPS = 30.0
#: Diagonal of a 36 x 24 mm frame, the reference of 35 mm-equivalent focal lengths.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
#: EXIF tags (in the Exif IFD) and their resolution units (mm per unit).
_EXIF_IFD, _FOCAL_35MM, _FOCAL_MM = 0x8769, 0xA405, 0x920A
_PLANE_X_RESOLUTION, _PLANE_UNIT, _EXIF_WIDTH = 0xA20E, 0xA210, 0xA002
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}


@dataclass
class InputImage:
    """One readable input: file name, output id, (H, W, 3) uint8 RGB pixels, (3, 3) K (pixels)
    and where K came from ("K file <name>", "EXIF ...", "field of view ...")."""

    name: str
    id: str
    image: np.ndarray
    K: np.ndarray
    K_source: str = ""


def image_id(path: Path) -> str:
    """Output id of an input image: its stem without a trailing ``_img`` (FreiHAND naming)."""
    return path.stem[:-4] if path.stem.endswith("_img") and len(path.stem) > 4 else path.stem


def list_inputs(input_dir: Path, command: str = "demo") -> list[Path]:
    """Files of the input folder (sorted) that are not intrinsics files or hidden."""
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{command} input folder not found: {input_dir}")
    paths = sorted(path for path in input_dir.iterdir()
                   if path.is_file() and not path.name.startswith(".") and not path.name.endswith("_K.npy"))
    if not paths:
        raise ValueError(f"{command} input folder {input_dir} holds no files (expected images: {', '.join(IMAGE_SUFFIXES)})")
    return paths


def output_ids(paths: list[Path]) -> dict[Path, str]:
    """Output id per input: :func:`image_id`, or ``<stem>_<extension>`` where two inputs share one."""
    ids = {path: image_id(path) for path in paths}
    shared = {name for name in ids.values() if list(ids.values()).count(name) > 1}
    return {path: f"{path.stem}_{path.suffix[1:]}" if name in shared else name for path, name in ids.items()}


def exif_focal_px(path: Path, width: int, height: int) -> tuple[float, str] | None:
    """Focal length (pixels) of an image from its EXIF data, with a description; None if absent."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            tags = image.getexif().get_ifd(_EXIF_IFD)
    except (OSError, ValueError, SyntaxError):
        return None
    focal_35mm = float(tags.get(_FOCAL_35MM) or 0)
    if focal_35mm > 0:
        return focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM, f"EXIF 35 mm focal length {focal_35mm:g} mm"
    focal_mm, resolution = float(tags.get(_FOCAL_MM) or 0), float(tags.get(_PLANE_X_RESOLUTION) or 0)
    unit = _MM_PER_UNIT.get(int(tags.get(_PLANE_UNIT) or 2))
    if focal_mm > 0 and resolution > 0 and unit:
        scale = width / float(tags.get(_EXIF_WIDTH) or width)
        return focal_mm * resolution / unit * scale, f"EXIF focal length {focal_mm:g} mm"
    return None


def read_intrinsics(path: Path, width: int, height: int, fov_deg: float) -> tuple[np.ndarray, str]:
    """(3, 3) float64 K of an image and its source (see the module docstring).

    Raises ValueError naming the K file and what is wrong with it (see
    :func:`cmr.geometry.camera.validate_intrinsics`).
    """
    for candidate in (path.with_name(f"{path.stem}_K.npy"), path.with_name(f"{image_id(path)}_K.npy")):
        if candidate.is_file():
            try:
                K = np.load(candidate, allow_pickle=False)
            except Exception as error:  # numpy raises several types for a broken file
                raise ValueError(f"{candidate.name}: not a readable .npy file ({error})") from error
            return validate_intrinsics(K, width, height, candidate.name), f"K file {candidate.name}"
    K = intrinsics_from_fov(width, height, fov_deg)
    found = exif_focal_px(path, width, height)
    if found is None:
        return K, f"field of view {fov_deg:g} degrees"
    K[0, 0] = K[1, 1] = found[0]
    return validate_intrinsics(K, width, height, f"{path.name} (EXIF)"), found[1]


def load_input(path: Path, output_id: str, fov_deg: float) -> InputImage:
    """Read one input image and its intrinsics; ValueError (with the reason) when unusable."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"not an image file (expected {', '.join(IMAGE_SUFFIXES)})")
    image = read_rgb(path)
    K, source = read_intrinsics(path, image.shape[1], image.shape[0], fov_deg)
    return InputImage(path.name, output_id, image, K, source)


def open_video(source: str) -> tuple[cv2.VideoCapture, str, float]:
    """An opened capture of a video file or camera (its index, e.g. ``'0'``), its name (the file's
    stem or ``camera<index>``) and its frame rate (:data:`DEFAULT_FPS` when it does not say)."""
    camera = source.isdigit() and not Path(source).exists()
    capture = cv2.VideoCapture(int(source) if camera else source)
    if not capture.isOpened():
        raise ValueError(f"{source}: not a readable video " +
                         ("camera" if camera else f"file (expected {', '.join(VIDEO_SUFFIXES)})"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    return capture, f"camera{source}" if camera else Path(source).stem, fps if fps and fps > 0 else DEFAULT_FPS


def video_frames(capture: cv2.VideoCapture, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, (H, W, 3) uint8 RGB) of every ``every``-th frame of an opened capture
    (:func:`open_video`), which is released when the frames end or the caller stops."""
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % every == 0:
                yield index, np.ascontiguousarray(frame[:, :, ::-1])
            index += 1
    finally:
        capture.release()
