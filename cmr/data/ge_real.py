"""Ge et al.'s real-world test set (CVPR 2019): 583 real 256 x 256 crops of left hands.

The layout is the one released in ``3d-hand-shape/hand-graph-cnn`` (``data/real_world_testset/``)
and read unchanged, for the full set as for any subset of its rows:

===============  ==========================================================================
file             content
===============  ==========================================================================
images/*.jpg     256 x 256 RGB crops of left hands, cut from 1280 x 720 frames
params.mat       ``image_path`` (N strings, relative to the root), ``cam_param`` (N, 4) =
                 fx, fy, u0, v0 of the full frame (pixels), ``bbox`` (N, 4) = x, y, w, h of
                 the square crop in the full frame (pixels); ``pose_root`` and
                 ``pose_scale`` are there too and not needed
pose_gt.mat      ``pose_gt`` (N, 21, 3): camera-space joints in centimetres, FreiHAND order
===============  ==========================================================================

The crop resizes the ``w x h`` box to ``CROP_SIZE``: with ``s_x = CROP_SIZE / w`` and
``s_y = CROP_SIZE / h``, ``K = [[fx s_x, 0, (u0 - x) s_x], [0, fy s_y, (v0 - y) s_y], [0, 0, 1]]``
(:func:`crop_intrinsics`), and projecting the joints with it lands on the hand in the crop.
Samples are left hands; :func:`mirror_sample` gives the right-hand view a right-hand model sees
(image flipped, x negated, ``cx' = W - 1 - cx``: :func:`cmr.geometry.camera.mirror_intrinsics`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.io
import torch

from cmr.fileio import read_rgb
from cmr.geometry.camera import mirror_intrinsics, mirror_points
from cmr.hand.conventions import NUM_KEYPOINTS

#: Where the set is published (named in every layout error).
GE_REAL_URL = "https://github.com/3d-hand-shape/hand-graph-cnn (data/real_world_testset)"
#: The two MATLAB files of the layout.
PARAMS_FILE = "params.mat"
POSE_FILE = "pose_gt.mat"
#: Side of every crop, pixels.
CROP_SIZE = 256
#: Metres per centimetre (``pose_gt`` is in centimetres).
M_PER_CM = 0.01


@dataclass(frozen=True)
class GeRealSample:
    """One image of the set.

    Attributes:
        image: (S, S, 3) uint8 RGB, S = :data:`CROP_SIZE`.
        K: (3, 3) float64 intrinsics of the crop, pixels (pixel centres at integers).
        joints: (21, 3) float64 ground-truth joints, camera space of the crop, metres,
            FreiHAND order.
        name: the image's file stem (``'00000'``).
        side: ``'left'`` as stored, ``'right'`` after :func:`mirror_sample`.
    """

    image: np.ndarray
    K: np.ndarray
    joints: np.ndarray
    name: str
    side: str = "left"


def crop_intrinsics(cam_param: np.ndarray, bbox: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Intrinsics of the crops from the full frame's camera and the crop boxes.

    Args:
        cam_param: (N, 4) fx, fy, u0, v0 of the full frame, pixels.
        bbox: (N, 4) x, y, w, h of each crop box in the full frame, pixels.
        size: side of the resized crop, pixels.

    Returns:
        (N, 3, 3) float64 intrinsics of the ``size`` x ``size`` crops, pixels.
    """
    cam_param = np.asarray(cam_param, dtype=np.float64)
    bbox = np.asarray(bbox, dtype=np.float64)
    scale_x, scale_y = size / bbox[:, 2], size / bbox[:, 3]
    K = np.zeros((len(cam_param), 3, 3))
    K[:, 0, 0] = cam_param[:, 0] * scale_x
    K[:, 1, 1] = cam_param[:, 1] * scale_y
    K[:, 0, 2] = (cam_param[:, 2] - bbox[:, 0]) * scale_x
    K[:, 1, 2] = (cam_param[:, 3] - bbox[:, 1]) * scale_y
    K[:, 2, 2] = 1.0
    return K


def mirror_sample(sample: GeRealSample) -> GeRealSample:
    """The mirrored view of a sample: image flipped left-right, x of the joints negated and
    ``K`` mirrored (``cx' = W - 1 - cx``), so a left hand is seen as a right one (and back).

    Projecting the mirrored joints with the mirrored K gives ``u' = W - 1 - u`` (same v).
    """
    width = sample.image.shape[1]
    joints = mirror_points(torch.from_numpy(np.asarray(sample.joints, dtype=np.float64))).numpy()
    return replace(sample, image=np.ascontiguousarray(sample.image[:, ::-1]),
                   K=mirror_intrinsics(sample.K, width), joints=joints,
                   side="right" if sample.side == "left" else "left")


def _layout_error(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}. Expected Ge et al.'s real-world test set layout ({GE_REAL_URL})")


def _load_mat(path: Path) -> dict:
    """The variables of a MATLAB file (``scipy.io.loadmat``), or an error naming the file."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found. Expected Ge et al.'s real-world test set layout ({GE_REAL_URL}): "
            f"{PARAMS_FILE}, {POSE_FILE} and images/ in the root")
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError as error:  # MATLAB v7.3 (HDF5) files
        raise _layout_error(path, f"cannot be read as a MATLAB v5 file ({error})") from None
    except (ValueError, TypeError, scipy.io.matlab.MatReadError) as error:
        raise _layout_error(path, f"not a readable MATLAB file ({error})") from None


def _numeric_field(mat: dict, path: Path, name: str, tail_shape: tuple[int, ...]) -> np.ndarray:
    """Variable ``name`` of a loaded MATLAB file as finite float64 (N, *tail_shape)."""
    if name not in mat:
        present = sorted(key for key in mat if not key.startswith("__"))
        raise _layout_error(path, f"no field {name!r} (fields present: {present})")
    try:
        array = np.asarray(mat[name], dtype=np.float64)
    except (TypeError, ValueError):
        raise _layout_error(path, f"field {name!r} is not numeric") from None
    if array.ndim != len(tail_shape) + 1 or array.shape[1:] != tail_shape:
        raise _layout_error(path, f"field {name!r} has shape {array.shape}, expected (N, "
                                  f"{', '.join(str(n) for n in tail_shape)})")
    if not np.isfinite(array).all():
        raise _layout_error(path, f"field {name!r} holds NaN or infinite values")
    return array


def _one_string(value, path: Path) -> str:
    """A MATLAB string (a char row or a 1-element cell) as a Python str, padding stripped."""
    items = np.asarray(value).ravel()
    if items.size != 1 or not isinstance(items[0], str):
        raise _layout_error(path, f"field 'image_path' holds {value!r}, expected one path string per image")
    return items[0].strip()


def _image_paths(mat: dict, path: Path) -> list[str]:
    """Field ``image_path`` (a char matrix or a cell array of N paths) as N strings."""
    if "image_path" not in mat:
        present = sorted(key for key in mat if not key.startswith("__"))
        raise _layout_error(path, f"no field 'image_path' (fields present: {present})")
    values = np.asarray(mat["image_path"])
    if values.dtype.kind not in "UO":
        raise _layout_error(path, f"field 'image_path' has dtype {values.dtype}, expected strings")
    return [_one_string(value, path) for value in values.ravel()]


class GeRealWorld:
    """Ge et al.'s real-world test set read from its released layout (see the module docstring).

    Args:
        root: the folder holding ``params.mat``, ``pose_gt.mat`` and ``images/``.

    Attributes:
        root: the root folder.
        image_paths: N image paths relative to ``root``, as stored in ``params.mat``.
        K: (N, 3, 3) float64 intrinsics of the crops, pixels (:func:`crop_intrinsics`).
        joints: (N, 21, 3) float64 ground-truth joints, camera space, metres.

    Raises:
        FileNotFoundError: the root, a MATLAB file or an image is missing (the message names it).
        ValueError: a MATLAB file is unreadable, a field is missing or has an unexpected shape,
            a box has a non-positive side, or the files disagree on N (the message names the
            file and field).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: dataset root not found. Expected Ge et al.'s "
                                    f"real-world test set layout ({GE_REAL_URL})")
        params_path, pose_path = self.root / PARAMS_FILE, self.root / POSE_FILE
        params = _load_mat(params_path)
        self.image_paths = _image_paths(params, params_path)
        cam_param = _numeric_field(params, params_path, "cam_param", (4,))
        bbox = _numeric_field(params, params_path, "bbox", (4,))
        pose_cm = _numeric_field(_load_mat(pose_path), pose_path, "pose_gt", (NUM_KEYPOINTS, 3))
        counts = {f"{params_path} 'image_path'": len(self.image_paths),
                  f"{params_path} 'cam_param'": len(cam_param), f"{params_path} 'bbox'": len(bbox),
                  f"{pose_path} 'pose_gt'": len(pose_cm)}
        if len(set(counts.values())) != 1:
            raise ValueError("the files disagree on the number of images: "
                             + ", ".join(f"{name} has {count}" for name, count in counts.items()))
        if (bbox[:, 2:] <= 0).any() or (cam_param[:, :2] <= 0).any():
            raise _layout_error(params_path, "field 'bbox' needs positive w, h and 'cam_param' positive fx, fy")
        self.K = crop_intrinsics(cam_param, bbox)
        self.joints = pose_cm * M_PER_CM
        self._check_images()

    def _check_images(self) -> None:
        missing = [name for name in self.image_paths if not (self.root / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{self.root / missing[0]}: image not found ({len(missing)} of the {len(self)} images "
                f"listed in {self.root / PARAMS_FILE} 'image_path' are missing)")

    def __len__(self) -> int:
        return len(self.image_paths)

    def name(self, index: int) -> str:
        """File stem of image ``index`` (``'00000'``)."""
        return Path(self.image_paths[index]).stem

    def __getitem__(self, index: int) -> GeRealSample:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images of {self.root}")
        path = self.root / self.image_paths[index]
        image = read_rgb(path)
        if image.shape[:2] != (CROP_SIZE, CROP_SIZE):
            raise ValueError(f"{path}: image of {image.shape[1]}x{image.shape[0]} pixels, expected the "
                             f"set's {CROP_SIZE}x{CROP_SIZE} crops (K is derived for that size)")
        return GeRealSample(image=image, K=self.K[index].copy(), joints=self.joints[index].copy(),
                            name=self.name(index))
