"""Inputs of the photo commands (``demo``, ``detect``): image folders, videos and, through
:mod:`cmr.data.intrinsics` (K file, EXIF, field of view), their intrinsics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from cmr.fileio import IMAGE_SUFFIXES, read_rgb
from cmr.data.intrinsics import image_id, read_intrinsics

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
#: Frame rate assumed for a video that does not state one (cameras).
DEFAULT_FPS = 30.0


@dataclass
class InputImage:
    """One readable input: file name, output id, (H, W, 3) uint8 RGB pixels, (3, 3) K (pixels)
    and where K came from ("K file <name>", "EXIF ...", "field of view ...")."""

    name: str
    id: str
    image: np.ndarray
    K: np.ndarray
    K_source: str = ""


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
