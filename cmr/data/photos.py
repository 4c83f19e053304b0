"""A folder of photos without 3-D labels, with the hands ``cmr detect`` found in them.

Each photo contributes its most confident hand (``hands[0]`` of ``<id>_hands.json``, written by
``python -m cmr detect --input FOLDER --output DETECTIONS``) when its score reaches ``min_score``.
Left hands are mirrored (image, K, keypoints, depth) into right hands, as the demo does. The hand
is framed by the model's crop policy around its keypoints
(:meth:`cmr.geometry.crop.CropPolicy.around_keypoints`), jittered like the FreiHAND-layout
training crops when augmenting. K per photo as :func:`cmr.data.intrinsics.read_intrinsics`.

Sample dict (float32 tensors; S = input side, h = S / 2):

====================  ============  ===============================================
key                   shape         meaning
====================  ============  ===============================================
image                 (3, S, S)     RGB, ``(x / 255 - 0.5) / 0.5``
K                     (3, 3)        intrinsics of the crop, pixels
keypoints             (21, 2)       detected keypoints in crop pixels
keypoint_confidence   (21,)         detector confidence, 0 outside the crop
keypoint_heatmaps     (21, h, h)    Gaussians at the keypoints (confidence >= ``min_confidence``)
depth                 (1, h, h)     metres, 0 = background (with a depth folder)
pseudo_mesh           list (N_l, 3) the pseudo-label's root-relative vertices / 0.2 m, as
                                    the labelled ``mesh`` (with usable pseudo-labels)
pseudo_xyz            (21, 3)       its root-relative keypoints / 0.2 m
index                 int           the sample index
====================  ============  ===============================================

**Pseudo-labels** (:func:`fit_pseudo_labels`): the open hand model fitted to each hand's detection
alone (:func:`cmr.fitting.detected.fit_detections`: the detector's metric 3D keypoints placed by
the 2D step, and its 2D keypoints), in the camera of the right-hand view of the photo. On Ge et
al.'s real crops this answer is within about 8 mm PA-MPJPE of the truth, where a network trained
on synthetic renders is at about 20, so it supervises the mesh like a (noisy) label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from cmr.data import targets
from cmr.data.augment import SampleRandomness, normalise_image, photometric_distort
from cmr.data.freihand import to_tensors, read_depth
from cmr.data.intrinsics import image_id, read_intrinsics
from cmr.fileio import image_files, read_rgb
from cmr.geometry import crop as crops
from cmr.geometry.camera import mirror_intrinsics
from cmr.geometry.crop import KEYPOINT_TO_HAND_EXTENT, CropJitter, CropPolicy
from cmr.geometry.pixel_maps import apply_affine, mirror_map
from cmr.hand.conventions import ROOT_KEYPOINT

#: Hands fitted per batch for the pseudo-labels; the fewest trusted keypoints a usable one needs.
PSEUDO_BATCH, PSEUDO_MIN_KEYPOINTS = 256, 6


@dataclass(frozen=True)
class DetectedHand:
    """One photo's hand: path, photo width (pixels), (3, 3) K, (21, 2) keypoints (pixels), (21,)
    confidence, (21, 3) world keypoints (the detector's metric 3D answer, metres), side, and its
    depth map's path (or None)."""

    path: Path
    width: int
    K: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    world: np.ndarray
    side: str
    depth: Path | None

    def right_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(K, keypoints, world) of the photo as a right hand: mirrored for a left hand."""
        if self.side != "left":
            return self.K, self.keypoints, self.world
        return (mirror_intrinsics(self.K, self.width), apply_affine(mirror_map(self.width), self.keypoints),
                self.world * np.array([-1.0, 1.0, 1.0]))


@dataclass(frozen=True)
class PseudoLabels:
    """The fitted hands of :func:`fit_pseudo_labels`, one per :class:`DetectedHand`, in the camera of
    its right-hand view: vertices (N, 778, 3) and joints (N, 21, 3) metres; error (N,) the fit's
    keypoint reprojection error over the hand's keypoint extent (inf where the detection cannot
    be fitted); usable (N,) bool."""

    vertices: np.ndarray
    joints: np.ndarray
    error: np.ndarray
    usable: np.ndarray


def _read_detections(path: Path) -> dict:
    try:
        with open(path) as file:
            record = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable `cmr detect` record ({error})") from None
    missing = [key for key in ("width", "height", "hands") if not isinstance(record, dict) or key not in record]
    if missing:
        raise ValueError(f"{path}: not a `cmr detect` record: it lacks {', '.join(missing)}")
    return record


def find_hands(folder: Path, detections: Path, depth: Path | None, min_score: float, fov_deg: float,
               side: str = "auto") -> list[DetectedHand]:
    """The usable hand of every photo of ``folder`` (sorted by name); see the module docstring.
    ``side`` 'right' or 'left' replaces the detector's call for every hand ('auto' keeps it).

    Raises FileNotFoundError for a missing folder, or when no photo has a detection record;
    ValueError for an unknown side.
    """
    if side not in ("auto", "right", "left"):
        raise ValueError(f"a photo folder's side must be 'auto', 'right' or 'left', got {side!r}")
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder not found: {folder}")
    hands, recorded = [], 0
    for path in image_files(folder):
        record_path = detections / f"{image_id(path)}_hands.json"
        if not record_path.is_file():
            continue
        recorded += 1
        record = _read_detections(record_path)
        if not record["hands"] or record["hands"][0]["score"] < min_score:
            continue
        best = record["hands"][0]
        K, _ = read_intrinsics(path, int(record["width"]), int(record["height"]), fov_deg)
        depth_path = depth / f"{image_id(path)}.png" if depth is not None else None
        if depth_path is not None and not depth_path.is_file():
            raise FileNotFoundError(f"{depth_path}: depth map of {path.name} not found (16-bit PNG, millimetres)")
        hands.append(DetectedHand(path, int(record["width"]), K, np.asarray(best["keypoints"], dtype=np.float64),
                                  np.asarray(best["confidence"], dtype=np.float64), _world(best, record_path),
                                  best["side"] if side == "auto" else side, depth_path))
    if not recorded:
        raise FileNotFoundError(f"{detections}: no <id>_hands.json for the photos of {folder}; run "
                                f"`python -m cmr detect --input {folder} --output {detections}` first")
    return hands


def _world(hand: dict, record_path: Path) -> np.ndarray:
    world = np.asarray(hand.get("world", np.zeros((21, 3))), dtype=np.float64)
    if world.shape != (21, 3):
        raise ValueError(f"{record_path}: a hand's 'world' must be 21 x 3 metres, got shape {world.shape}")
    return world


def pseudo_labels_from_config(cfg, hands: list[DetectedHand]) -> PseudoLabels:
    """:func:`fit_pseudo_labels` with a configuration's ``REGISTRATION``, ``FITTING`` and
    ``DATA.PHOTOS.PSEUDO_MAX_ERROR``."""
    from cmr.fitting import FittingConfig
    from cmr.registration import RegistrationConfig

    return fit_pseudo_labels(hands, RegistrationConfig.from_config(cfg.REGISTRATION), FittingConfig.from_config(cfg),
                             float(cfg.DATA.PHOTOS.PSEUDO_MAX_ERROR))


def fit_pseudo_labels(hands: list[DetectedHand], registration, fitting, max_error: float) -> PseudoLabels:
    """Pseudo-labels of ``hands`` (see the module docstring), fitted in batches of
    :data:`PSEUDO_BATCH` with the given :class:`cmr.registration.RegistrationConfig` and
    :class:`cmr.fitting.FittingConfig`. A fit is usable when its confidence-weighted reprojection
    error is at most ``max_error`` times the longer side of its keypoints' box, it finished (finite),
    and the detection holds a 3-D answer (``world`` spanning at least 1 cm) and at least
    :data:`PSEUDO_MIN_KEYPOINTS` keypoints above the fit's confidence threshold."""
    from tqdm import tqdm

    from cmr.fitting.detected import fit_detections

    if not hands:
        raise ValueError("pseudo-labels need at least one detected hand")
    vertices, joints, errors = [], [], []
    for start in tqdm(range(0, len(hands), PSEUDO_BATCH), desc="pseudo-labels", unit="batch", leave=False):
        batch = hands[start:start + PSEUDO_BATCH]
        K, keypoints, world = (np.stack(parts) for parts in zip(*(hand.right_view() for hand in batch)))
        confidence = np.stack([hand.confidence for hand in batch])
        fit = fit_detections(world, keypoints, confidence, K, registration, fitting)
        extent = (keypoints.max(1) - keypoints.min(1)).max(-1)
        error = fit.keypoint_error_px.numpy() / extent
        trusted = (confidence > fitting.confidence_threshold).sum(-1) >= PSEUDO_MIN_KEYPOINTS
        spread = np.ptp(world, axis=1).max(-1) >= 0.01
        errors.append(np.where(trusted & spread, error, np.inf))
        vertices.append(fit.vertices.numpy())
        joints.append(fit.joints.numpy())
    errors = np.concatenate(errors)
    return PseudoLabels(np.concatenate(vertices), np.concatenate(joints), errors,
                        np.isfinite(errors) & (errors <= max_error))


class DetectedPhotos(Dataset):
    """Training samples of one photo folder (see the module docstring).

    Args:
        hands: :func:`find_hands`'s list. policy: the model's crop policy. jitter: training crop
        jitter (None: centred crops). color_aug: photometric distortion when jittering.
        min_confidence: keypoints below it get no heatmap. seed: as :class:`FreiHANDDataset`'s.
        pseudo: :func:`fit_pseudo_labels` of ``hands`` (or None), with the model's ``template``
        (its down-sampling matrices build the mesh pyramid).
    """

    def __init__(self, hands: list[DetectedHand], policy: CropPolicy, jitter: CropJitter | None,
                 color_aug: bool, min_confidence: float, seed: int = 0, pseudo: PseudoLabels | None = None,
                 template=None) -> None:
        if not hands:
            raise ValueError("a photo source needs at least one detected hand")
        if pseudo is not None and (template is None or len(pseudo.vertices) != len(hands)):
            raise ValueError(f"pseudo-labels need the model's template and one fit per hand "
                             f"({len(hands)} hands, {len(pseudo.vertices)} fits)")
        self.hands, self.policy, self.jitter, self.pseudo, self.template = hands, policy, jitter, pseudo, template
        self.color_aug, self.min_confidence = bool(color_aug), float(min_confidence)
        self.randomness = SampleRandomness(seed)
        self.has_depth = hands[0].depth is not None

    def __len__(self) -> int:
        return len(self.hands)

    def __getitem__(self, index: int) -> dict:
        return self.sample(index, self.randomness.generator() if self.jitter else None)

    def sample(self, index: int, rng: np.random.Generator | None) -> dict:
        """Sample ``index``, augmented with ``rng`` (None: centred crop, no colour change)."""
        hand = self.hands[index]
        image, (K, keypoints, _) = read_rgb(hand.path), hand.right_view()
        depth = read_depth(hand.depth) if hand.depth is not None else None
        if image.shape[1] != hand.width:
            raise ValueError(f"{hand.path}: {image.shape[1]} px wide, its detection record says {hand.width}; "
                             "rerun `python -m cmr detect` on the folder")
        if hand.side == "left":
            image = np.ascontiguousarray(image[:, ::-1])
            depth = None if depth is None else np.ascontiguousarray(depth[:, ::-1])
        crop = (self.policy.around_keypoints(keypoints, K) if rng is None
                else self.policy.jittered(keypoints, K, self.jitter, rng, KEYPOINT_TO_HAND_EXTENT))
        pixels = crops.warp_image(image, crop)
        if rng is not None and self.color_aug:
            pixels = photometric_distort(pixels, rng)
        uv = apply_affine(crop.matrix, keypoints)
        size = self.policy.size
        confidence = np.where(targets.inside_crop(uv, size), hand.confidence, 0.0)
        sample = {
            "image": normalise_image(pixels), "K": crop.K, "keypoints": uv, "keypoint_confidence": confidence,
            "keypoint_heatmaps": targets.gaussian_heatmaps(uv, confidence >= self.min_confidence, size, size // 2),
        }
        if depth is not None:
            sample["depth"] = crops.warp_depth_half(depth, crop)[None]
        if self.pseudo is not None and self.pseudo.usable[index]:
            vertices, joints = self.pseudo.vertices[index] @ crop.rotation.T, self.pseudo.joints[index] @ crop.rotation.T
            root = joints[ROOT_KEYPOINT]
            sample["pseudo_mesh"] = targets.mesh_pyramid(targets.normalise_3d(vertices, root), self.template)
            sample["pseudo_xyz"] = targets.normalise_3d(joints, root)
        return to_tensors(sample, index)
