"""Intrinsics of a photo: from a K file beside it, its EXIF focal length, or a field of view.

In this order: ``<stem>_K.npy`` beside the image (a 3x3 matrix in pixels; for FreiHAND's
``<id>_img.jpg`` also ``<id>_K.npy``), the EXIF focal length (the 35 mm-equivalent focal length
over the 43.27 mm full-frame diagonal, else the focal length in mm with the focal-plane
resolution), else an assumed horizontal field of view. The principal point is the image centre
unless a K file gives it. Used by the photo commands and by the training photo folders.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cmr.geometry.camera import intrinsics_from_fov, validate_intrinsics

#: Diagonal of a 36 x 24 mm frame, the reference of 35 mm-equivalent focal lengths.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
#: EXIF tags (in the Exif IFD) and their resolution units (mm per unit).
_EXIF_IFD, _FOCAL_35MM, _FOCAL_MM = 0x8769, 0xA405, 0x920A
_PLANE_X_RESOLUTION, _PLANE_UNIT, _EXIF_WIDTH = 0xA20E, 0xA210, 0xA002
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}


def image_id(path: Path) -> str:
    """Output id of an input image: its stem without a trailing ``_img`` (FreiHAND naming)."""
    return path.stem[:-4] if path.stem.endswith("_img") and len(path.stem) > 4 else path.stem


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
    from_exif = K.copy()
    from_exif[0, 0] = from_exif[1, 1] = found[0]
    try:
        return validate_intrinsics(from_exif, width, height, f"{path.name} (EXIF)"), found[1]
    except ValueError:  # EXIF of the original kept in a resized copy: a guess, not a K file
        return K, f"field of view {fov_deg:g} degrees ({found[1]} does not fit a {width}x{height} image)"
