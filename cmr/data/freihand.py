"""FreiHAND (real or synthetic, see :mod:`cmr.data.layout`) as a torch Dataset for CMR.

Training sample ``i`` shows image ``training/rgb/i`` and annotation ``i % N`` (N annotations,
V = #rgb / N versions: 4 for FreiHAND's 130,240 images). Every sample is cropped (jittered
and rotated when augmenting, see :mod:`cmr.geometry.crop`) to the model's input side S; its
intrinsics, keypoints and 3-D ground truth follow the crop exactly.

Training sample dict (float32 tensors unless noted; h = S / 2; pixel centres at integers):

=============  =============================  =========================================
key            shape                          meaning
=============  =============================  =========================================
image          (3, S, S)                      RGB, ``(x / 255 - 0.5) / 0.5``
K              (3, 3)                         intrinsics of the crop, pixels
uv             (21, 2)                        keypoints in crop pixels (``K`` projection)
uv_visible     (21,)                          1 where the keypoint lies inside the crop
heatmaps       (21, h, h)                     Gaussians (peak 1), zero for joints outside
mask           (1, h, h)                      hand coverage of each cell, in [0, 1]
mesh           list of (N_l, 3), l = 0..L-1   root-relative vertices / 0.2 m, through the
                                              template's down matrices (L = levels - 1)
xyz            (21, 3)                        root-relative keypoints / 0.2 m
root           (3,)                           wrist (keypoint 0), camera space, metres
depth          (1, h, h)                      hand depth in metres, 0 = background (only
                                              with ``depth=True``, from ``training/depth``)
index          int                            the sample index
=============  =============================  =========================================

All 3-D quantities are in the rotated camera frame of the crop: projecting
``root + 0.2 * xyz`` with ``K`` gives ``uv``. Evaluation samples hold ``image``, ``K`` and
``index``, plus ``xyz_camera`` (21, 3) and ``verts_camera`` (N, 3) in metres (camera space of
the crop, which is not rotated) when ``evaluation_xyz.json`` / ``evaluation_verts.json`` exist.

Augmentation draws from a per-process generator seeded by ``torch.initial_seed()`` (see
:class:`cmr.data.augment.SampleRandomness`): DataLoader workers differ and a run under a fixed
``torch.manual_seed`` is reproducible. ``training_sample(index, rng)`` takes an explicit
generator instead.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from cmr.data import targets
from cmr.data.augment import SampleRandomness, normalise_image, photometric_distort
from cmr.data.layout import EVALUATION_HAND_BOX, FREIHAND_URL, MASK_THRESHOLD, FreiHANDLayout
from cmr.geometry import crop as crops
from cmr.geometry.camera import project_points
from cmr.geometry.crop import CropJitter, CropPolicy
from cmr.hand.conventions import NUM_KEYPOINTS, ROOT_KEYPOINT
from cmr.fileio import read_image
from cmr.mesh.ply import read_ply
#: Mean distance (metres) between the template-regressed and annotated joints of annotation 0
#: above which the template is reported as not matching the dataset's meshes.
TEMPLATE_MISMATCH_TOLERANCE = 0.01


def _missing(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{path}: {what} not found. Expected a dataset laid out like FreiHAND "
        f"(get it from {FREIHAND_URL}, or write a synthetic one with ./scripts/make_synthetic.sh)"
    )


#: What each training folder holds, for "missing folder" errors.
_FOLDER_CONTENTS = {
    "mesh": "folder of CMR's mesh ground truth (freihand_train_mesh.zip, linked from CMR's README)",
}


def _count_files(folder: Path, suffix: str) -> int:
    """Number of ``*suffix`` files directly in ``folder`` (raises when the folder is missing)."""
    if not folder.is_dir():
        raise _missing(folder, _FOLDER_CONTENTS.get(folder.name, "folder"))
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.name.endswith(suffix))


def _load_json_array(path: Path, tail_shape: tuple[int | None, ...]) -> np.ndarray:
    """A float32 array (n, *tail_shape) from a JSON list of n entries (None in ``tail_shape``: any size)."""
    if not path.is_file():
        raise _missing(path, "annotation file")
    try:
        with open(path) as file:
            array = np.asarray(json.load(file), dtype=np.float32)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: expected a list of numeric entries of shape {tail_shape} ({error})") from None
    if array.ndim != len(tail_shape) + 1 or any(want is not None and got != want
                                                  for got, want in zip(array.shape[1:], tail_shape)):
        raise ValueError(f"{path}: expected entries of shape {tail_shape}, got an array of shape {array.shape}")
    return array


def _read_image(path: Path, what: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image of the dataset (:func:`cmr.fileio.read_image`); a missing one names FreiHAND's layout."""
    if not path.is_file():
        raise _missing(path, what)
    return read_image(path, flags, what)


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of the dataset."""
    return cv2.cvtColor(_read_image(path, "image"), cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    """(H, W) bool hand silhouette (first channel > ``MASK_THRESHOLD``, as the reference)."""
    image = _read_image(path, "mask", cv2.IMREAD_COLOR)
    return image[:, :, 2] > MASK_THRESHOLD  # OpenCV reads BGR: the first (red) channel is last


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 depth in metres from a 16-bit PNG in millimetres (0 = background)."""
    depth = _read_image(path, "depth map", cv2.IMREAD_UNCHANGED)
    return depth.astype(np.float32) / 1000.0


class FreiHANDDataset(Dataset):
    """FreiHAND-layout training or evaluation data (see the module docstring for the samples).

    Args:
        root: dataset root (holds ``training/``, ``evaluation/`` and the ``*.json`` files).
        split: 'training' or 'evaluation'.
        template: :class:`cmr.mesh.template.Template` whose level 0 is the dataset's mesh
            topology (``Template.from_cmr_release`` for the real FreiHAND meshes); required for
            training.
        policy: the model's :class:`cmr.geometry.crop.CropPolicy` (input side S, box scale):
            training crops frame the hand's silhouette with it, evaluation crops the dataset's
            known hand box (:data:`cmr.data.layout.EVALUATION_HAND_BOX`).
        jitter: :class:`cmr.geometry.crop.CropJitter` of training crops (rotation, scale and
            shift); None gives the centred, un-rotated crop. Evaluation crops are never jittered.
        color_aug: photometric distortion of jittered training crops.
        ground_truth: read the evaluation split's ground truth (``evaluation_xyz.json``,
            ``evaluation_verts.json`` with the template's vertex count) into the samples; False
            when it is scored elsewhere (:mod:`cmr.evaluation` reads it as stored).
        depth: read the training split's depth maps (``training/depth``) into the samples.
        seed: mixed into the per-process random stream (see
            :class:`cmr.data.augment.SampleRandomness`).

    Raises:
        FileNotFoundError: a folder or annotation file is missing (the message names the path
            and FreiHAND's URL).
        ValueError: counts disagree (annotation files of different lengths, an image count that
            is not a multiple of the annotation count, masks or meshes missing).
    """

    def __init__(self, root: str | os.PathLike, split: str, template, policy: CropPolicy,
                 jitter: CropJitter | None = None, color_aug: bool = True, seed: int = 0,
                 ground_truth: bool = True, depth: bool = False) -> None:
        if split not in ("training", "evaluation"):
            raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
        self.layout = FreiHANDLayout(root)
        if not self.layout.root.is_dir():
            raise _missing(self.layout.root, "dataset root")
        self.split = split
        self.template = template
        self.policy = policy
        self.input_size = policy.size
        self.jitter = jitter if split == "training" else None
        self.color_aug = bool(color_aug)
        self.ground_truth = bool(ground_truth)
        self.randomness = SampleRandomness(seed)
        self.has_depth = bool(depth) and split == "training"
        self.K = _load_json_array(self.layout.annotation(split, "K"), (3, 3))
        if split == "training":
            self._init_training()
        else:
            self._init_evaluation()

    # ------------------------------------------------------------------ construction
    def _init_training(self) -> None:
        if self.template is None:
            raise ValueError("the training split needs a template (for the mesh pyramid)")
        root = self.layout.root
        self.xyz = _load_json_array(self.layout.annotation("training", "xyz"), (NUM_KEYPOINTS, 3))
        self._check_same_length(self.layout.annotation("training", "K"), len(self.K),
                                self.layout.annotation("training", "xyz"), len(self.xyz))
        annotations = len(self.K)
        images = _count_files(root / "training" / "rgb", ".jpg")
        if images == 0 or images % annotations:
            raise ValueError(
                f"{root / 'training' / 'rgb'}: {images} images is not a positive multiple of the "
                f"{annotations} annotations in {self.layout.annotation('training', 'K')}"
            )
        self.num_versions = images // annotations
        for folder, suffix in (("mask", ".jpg"), ("mesh", ".ply")):
            self._check_count(root / "training" / folder, suffix, annotations)
        if self.has_depth:
            self._check_count(root / "training" / "depth", ".png", annotations)
        self._check_template()

    def _init_evaluation(self) -> None:
        root = self.layout.root
        images = _count_files(root / "evaluation" / "rgb", ".jpg")
        k_path = self.layout.annotation("evaluation", "K")
        if images != len(self.K):
            raise ValueError(f"{root / 'evaluation' / 'rgb'}: {images} images but {len(self.K)} entries in {k_path}")
        self.xyz = self.verts = None
        if self.ground_truth:
            vertices = self.template.num_vertices[0] if self.template is not None else None
            self.xyz = self._optional_ground_truth("xyz", (NUM_KEYPOINTS, 3))
            self.verts = self._optional_ground_truth("verts", (vertices, 3))

    def _optional_ground_truth(self, name: str, tail_shape: tuple[int, ...]) -> np.ndarray | None:
        path = self.layout.annotation("evaluation", name)
        if not path.is_file():
            return None
        array = _load_json_array(path, tail_shape)
        self._check_same_length(self.layout.annotation("evaluation", "K"), len(self.K), path, len(array))
        return array

    @staticmethod
    def _check_same_length(path_a: Path, length_a: int, path_b: Path, length_b: int) -> None:
        if length_a != length_b:
            raise ValueError(f"annotation files disagree: {path_a} has {length_a} entries, {path_b} has {length_b}")

    @staticmethod
    def _check_count(folder: Path, suffix: str, expected: int) -> None:
        found = _count_files(folder, suffix)
        if found != expected:
            raise ValueError(
                f"{folder}: {found} '*{suffix}' files but {expected} annotations; the dataset is "
                f"incomplete (see {FREIHAND_URL})"
            )

    def _check_template(self) -> None:
        """Warn when the template's joint regressor does not reproduce annotation 0's joints."""
        vertices, _ = read_ply(self.layout.training_mesh(0))
        if len(vertices) != self.template.num_vertices[0]:
            raise ValueError(
                f"{self.layout.training_mesh(0)} has {len(vertices)} vertices but template "
                f"{self.template.name!r} has {self.template.num_vertices[0]}"
            )
        error = np.linalg.norm(self.template.joint_regressor @ vertices - self.xyz[0], axis=1).mean()
        if error > TEMPLATE_MISMATCH_TOLERANCE:
            warnings.warn(
                f"template {self.template.name!r} regresses joints {error * 1000:.1f} mm away from "
                f"{self.layout.annotation('training', 'xyz')} on annotation 0: its topology may not "
                f"be the dataset's (the real FreiHAND meshes need Template.from_cmr_release)",
                stacklevel=3,
            )

    # ------------------------------------------------------------------ access
    @property
    def num_annotations(self) -> int:
        return len(self.K)

    def __len__(self) -> int:
        if self.split == "training":
            return self.num_versions * self.num_annotations
        return self.num_annotations

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} samples")
        if self.split == "evaluation":
            return self.evaluation_sample(index)
        return self.training_sample(index, self.randomness.generator() if self.jitter else None)

    def training_sample(self, index: int, rng: np.random.Generator | None) -> dict:
        """Training sample ``index``, augmented with ``rng`` (None: centred crop, no colour change)."""
        annotation = index % self.num_annotations
        K = self.K[annotation].astype(np.float64)
        mask = read_mask(self.layout.training_mask(annotation))
        vertices, _ = read_ply(self.layout.training_mesh(annotation))
        xyz = self.xyz[annotation].astype(np.float64)
        hand = crops.foreground_pixels(mask)
        if len(hand) == 0:  # no silhouette: frame the projected mesh instead
            hand = project_points(vertices, K)
        crop = (self.policy.around_points(hand, K) if rng is None
                else self.policy.jittered(hand, K, self.jitter, rng))

        image = crops.warp_image(read_rgb(self.layout.training_rgb(index)), crop)
        if rng is not None and self.color_aug:
            image = photometric_distort(image, rng)
        vertices, xyz = vertices @ crop.rotation.T, xyz @ crop.rotation.T
        root = xyz[ROOT_KEYPOINT]
        uv = project_points(xyz, crop.K)
        half = self.input_size // 2
        visible = targets.inside_crop(uv, self.input_size) & (xyz[:, 2] > 0)
        sample = {
            "image": normalise_image(image),
            "K": crop.K,
            "uv": uv,
            "uv_visible": visible,
            "heatmaps": targets.gaussian_heatmaps(uv, visible, self.input_size, half),
            "mask": targets.half_resolution_mask(crops.warp_mask(mask, crop)),
            "mesh": targets.mesh_pyramid(targets.normalise_3d(vertices, root), self.template),
            "xyz": targets.normalise_3d(xyz, root),
            "root": root,
        }
        if self.has_depth:
            depth = read_depth(self.layout.training_depth(annotation))
            sample["depth"] = crops.warp_depth_half(depth, crop)[None]
        return to_tensors(sample, index)

    def evaluation_sample(self, index: int) -> dict:
        """Evaluation sample ``index``: the crop policy around :data:`EVALUATION_HAND_BOX` and, when
        read, the ground truth."""
        centre, extent = EVALUATION_HAND_BOX
        crop = self.policy.around_box(centre, extent, self.K[index].astype(np.float64))
        image = crops.warp_image(read_rgb(self.layout.evaluation_rgb(index)), crop)
        sample = {"image": normalise_image(image), "K": crop.K}
        if self.xyz is not None:
            sample["xyz_camera"] = self.xyz[index]
        if self.verts is not None:
            sample["verts_camera"] = self.verts[index]
        return to_tensors(sample, index)


def to_tensors(sample: dict, index: int) -> dict:
    """numpy values -> float32 tensors (lists element-wise), plus the integer ``index``."""
    def convert(value):
        if isinstance(value, list):
            return [convert(item) for item in value]
        return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    converted = {key: convert(value) for key, value in sample.items()}
    converted["index"] = index
    return converted


def dataset_from_config(cfg, split: str, template, augment: bool = False,
                        ground_truth: bool = True) -> FreiHANDDataset:
    """The ``split`` of ``DATA.ROOT`` framed by the model's crop policy (``MODEL.INPUT_SIZE``,
    ``MODEL.CROP``), jittered by ``DATA.ROTATION`` / ``DATA.SCALE_JITTER`` when ``augment``, with
    depth maps when ``DATA.DEPTH``; ``ground_truth`` as :class:`FreiHANDDataset`."""
    from cmr.config import resolve_path

    jitter = CropJitter(float(cfg.DATA.ROTATION), float(cfg.DATA.SCALE_JITTER)) if augment else None
    return FreiHANDDataset(resolve_path(cfg.DATA.ROOT), split, template, CropPolicy.from_config(cfg.MODEL),
                           jitter, color_aug=bool(cfg.DATA.COLOR_AUG), seed=int(cfg.TRAIN.SEED),
                           ground_truth=ground_truth, depth=bool(cfg.DATA.DEPTH) and split == "training")
