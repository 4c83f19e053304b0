"""Benchmark of the detector's hand / no-hand decision (:class:`cmr.detection.HandDetector`).

The demo predicts a hand where the detector finds one, so the detector decides whether an image
shows a hand. Runs it on real hands and on images without a hand, and prints per set the number
of images, the fraction where at least one hand is found (the detection rate of a hand set, the
false-positive rate of a hand-free set), hands per image, the share of found hands called left,
for sets of known side the share whose most confident hand has that side, and the time per
image. Run ``python -m cmr bench hand_presence [--ge-root DIR] [--freihand-samples DIR]
[--sign-root DIR] [--count N] [KEY VALUE ...]`` (overrides of ``DETECTOR.*``).

Hands (should be found):

* the bundled synthetic samples (``cmr/assets/samples``, right hands);
* FreiHAND crops (``<id>_img.jpg``, right hands);
* Ge et al.'s real-world crops (``images/``, ``params.mat``; left hands);
* a fixed random subset of the sign-language digit photos (100 x 100, handedness unknown).

No hand (nothing should be found):

* patterns: gradients, black / white / grey / skin-coloured flats, uniform, Gaussian and
  blurred noise, colour blobs, checkerboards and stripes;
* the synthetic generator's backgrounds (:func:`cmr.data.synth_appearance.sample_background`
  and its camera effects), with no hand drawn;
* hand-free regions of the real photos: squares of the Ge crops away from the annotated hand
  (shop shelves, the closest thing to an empty room on disk) and the bare wall in the corners of
  the sign-language photos;
* hard cases: a portrait (matplotlib's sample photo) and the generator's forearm drawn without
  its hand.

Sets whose data is missing are skipped with a message.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cmr import REPO_ROOT
from cmr.config import get_cfg, load_cfg
from cmr.data.synth_appearance import (
    GAMMA,
    arm_colours,
    finish_image,
    sample_background,
    sample_light,
    sample_skin_tone,
)
from cmr.data.synth_render import rasterize_arms, render_context
from cmr.detection import DetectorConfig, HandDetector
from cmr.fileio import read_rgb
from cmr.geometry.camera import intrinsics_from_fov, project_points
from cmr.tools.samples import BUNDLED_SAMPLES

DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
#: Side (pixels) of the generated negatives, and the field of view (degrees) of the camera the
#: generator's forearm is drawn with (the demo's, ``DEMO.FOV``).
NEGATIVE_SIZE = 224
FOV_DEG = float(get_cfg().DEMO.FOV)
#: Hand-free squares of the Ge crops: smallest side (pixels) and distance kept from the joints.
MIN_REGION_SIDE = 40
JOINT_CLEARANCE_PX = 16


@dataclass
class ImageSet:
    """Images of one kind: names and (H, W, 3) uint8 RGB images.

    hand: whether the images show a hand (the expected answer). side: the side of their hands
    ('left', 'right'; None: unknown or no hand).
    """

    name: str
    hand: bool
    side: str | None = None
    names: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)

    def add(self, name: str, image: np.ndarray) -> None:
        """Append an image."""
        self.names.append(name)
        self.images.append(np.ascontiguousarray(image))


# --------------------------------------------------------------------------------------------
# Hands


def folder_set(name: str, folder: Path, side: str | None = None) -> ImageSet:
    """The ``<id>_img.jpg`` images of a folder (hands of ``side``, None: unknown)."""
    images = ImageSet(name, hand=True, side=side)
    for path in sorted(folder.glob("*_img.jpg")):
        images.add(path.name, read_rgb(path))
    return images


def ge_crops(root: Path) -> tuple[ImageSet, list[np.ndarray]]:
    """Ge et al.'s crops (left hands) and their joints' pixels (21, 2), projected by the crop's K.

    K of a crop cut at (x, y) with side w from a frame with (fx, fy, u0, v0), resized by
    s = 256 / w: ``[[fx s, 0, (u0 - x) s], [0, fy s, (v0 - y) s], [0, 0, 1]]``.
    """
    from scipy.io import loadmat

    params = loadmat(str(root / "params.mat"))
    joints_cm = loadmat(str(root / "pose_gt.mat"))["pose_gt"]
    images, joints_uv = ImageSet("Ge et al. real (left)", hand=True, side="left"), []
    for index, relative in enumerate(params["image_path"]):
        image = read_rgb(root / str(relative).strip())
        (fx, fy, u0, v0), (x, y, w, _) = params["cam_param"][index], params["bbox"][index]
        s = image.shape[1] / w
        K = np.array([[fx * s, 0.0, (u0 - x) * s], [0.0, fy * s, (v0 - y) * s], [0.0, 0.0, 1.0]])
        images.add(Path(str(relative).strip()).name, image)
        joints_uv.append(project_points(joints_cm[index], K))
    return images, joints_uv


def sign_paths(root: Path, count: int, seed: int = 0) -> list[Path]:
    """A fixed random subset of ``count`` sign-language photos (sorted paths, seeded)."""
    paths = sorted(path for path in root.glob("*/*") if path.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pick = np.random.default_rng(seed).choice(len(paths), min(count, len(paths)), replace=False)
    return [paths[i] for i in sorted(pick)]


def sign_set(root: Path, count: int) -> ImageSet:
    """The sign-language subset (handedness unknown)."""
    images = ImageSet("sign-language digits", hand=True)
    for path in sign_paths(root, count):
        images.add(f"{path.parent.name}/{path.name}", read_rgb(path))
    return images


# --------------------------------------------------------------------------------------------
# No hand


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) float in [0, 1] -> (H, W, 3) uint8."""
    image = np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _blobs(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32: a random colour with six random-coloured ellipses, softened."""
    canvas = np.zeros((size, size, 3), np.float32) + rng.random(3).astype(np.float32)
    for _ in range(6):
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        axes = tuple(int(a) for a in rng.integers(10, size // 3, 2))
        colour = tuple(float(c) for c in rng.random(3))
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(0.0, 180.0)), 0.0, 360.0, colour, -1)
    return cv2.GaussianBlur(canvas, (0, 0), 2.0)


def pattern_images(size: int = NEGATIVE_SIZE, seed: int = 0) -> dict[str, np.ndarray]:
    """Named (size, size, 3) uint8 patterns: gradients, flats, noise, blobs, checkers, stripes."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.linspace(0.0, 1.0, size), np.linspace(0.0, 1.0, size))
    radius = np.hypot(u - 0.5, v - 0.5) / np.sqrt(0.5)
    skin = np.array([0.85, 0.62, 0.50])
    images = {"gradient horizontal": u, "gradient vertical": v, "gradient radial": radius,
              "gradient skin": u[..., None] * skin, "gradient colour": np.stack([u, v, 1.0 - u], axis=-1),
              "black": np.zeros_like(u), "white": np.ones_like(u), "grey": np.full_like(u, 0.5),
              "skin flat": np.ones_like(u)[..., None] * skin}
    for k in range(3):
        images[f"uniform noise {k}"] = rng.random((size, size, 3))
        images[f"Gaussian noise {k}"] = 0.5 + 0.2 * rng.standard_normal((size, size, 3))
    for sigma in (1, 2, 4, 8, 16):
        noise = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), sigma)
        images[f"blurred noise sigma {sigma}"] = 0.5 + 0.2 * (noise - noise.mean()) / max(float(noise.std()), 1e-6)
    for k in range(4):
        images[f"colour blobs {k}"] = _blobs(rng, size)
    for period in (8, 16, 32, 64):
        cells = np.floor(u * size / period), np.floor(v * size / period)
        images[f"checkerboard {period}px"] = (cells[0] + cells[1]) % 2
        images[f"stripes {period}px"] = cells[0] % 2
    return {name: _to_uint8(image) for name, image in images.items()}


def background_images(count: int, size: int = NEGATIVE_SIZE, seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic generator's backgrounds with its camera effects, no hand drawn."""
    images = {}
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        images[f"synthetic background {index}"] = finish_image(rng, sample_background(rng, size))
    return images


def forearm_images(count: int, size: int = NEGATIVE_SIZE, seed: int = 0) -> dict[str, np.ndarray]:
    """The generator's forearm (wrist 0.5 m away near the optical axis) with no hand at its end."""
    images = {}
    K = intrinsics_from_fov(size, size, FOV_DEG)
    context = render_context()
    for index in range(count):
        rng = np.random.default_rng([seed, 1, index])
        canvas = sample_background(rng, size)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0],
                             [0.0, 0.0, 1.0]])
        wrist = np.array([0.02 * rng.standard_normal(), 0.02 * rng.standard_normal(), 0.5])
        hand = context.rest_vertices @ rotation.T + wrist  # placed only to seat the arm on its wrist
        arm = rasterize_arms(rng, context, hand[None], rotation[None], K[None], size)[0]
        if arm is not None:
            canvas[arm.mask] = arm_colours(rng, arm.normals, arm.along, 0.8 * sample_skin_tone(rng) ** GAMMA,
                                           sample_light(rng))
        images[f"forearm {index}"] = finish_image(rng, canvas)
    return images


def free_square(joints_uv: np.ndarray, side: int, image_side: int) -> tuple[int, int] | None:
    """Top-left corner of a ``side`` square clear of the joints' box by JOINT_CLEARANCE_PX, or None."""
    low = joints_uv.min(axis=0) - JOINT_CLEARANCE_PX
    high = joints_uv.max(axis=0) + JOINT_CLEARANCE_PX
    for y in range(0, image_side - side + 1, 4):
        for x in range(0, image_side - side + 1, 4):
            if x + side < low[0] or x > high[0] or y + side < low[1] or y > high[1]:
                return x, y
    return None


def photo_regions(ge: tuple[ImageSet, list[np.ndarray]] | None, sign_root: Path | None,
                  count: int) -> ImageSet:
    """Hand-free squares of real photos: Ge crops away from the hand, sign-language wall corners.

    A wall corner (32 px) is kept only when no pixel is much darker than its median (no finger).
    """
    regions = ImageSet("real photos, hand-free regions", hand=False)
    if ge is not None:
        for name, image, joints_uv in zip(ge[0].names, ge[0].images, ge[1]):
            for side in range(96, MIN_REGION_SIDE - 1, -8):
                corner = free_square(joints_uv, side, image.shape[0])
                if corner is not None:
                    x, y = corner
                    regions.add(f"Ge {name} square {side}px", image[y:y + side, x:x + side])
                    break
    if sign_root is not None:
        for path in sign_paths(sign_root, count, seed=1):
            image = read_rgb(path)
            for tag, corner in (("top left", image[:32, :32]), ("top right", image[:32, -32:])):
                grey = cv2.cvtColor(corner, cv2.COLOR_RGB2GRAY).astype(np.float64)
                if grey.min() > np.median(grey) - 25.0:
                    regions.add(f"wall {tag} of {path.parent.name}/{path.name}", corner)
    return regions


def portrait_images() -> dict[str, np.ndarray]:
    """matplotlib's sample portrait (no hand in view): whole, face, flag and uniform crops."""
    import matplotlib.cbook

    image = read_rgb(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {"portrait": image, "portrait face": image[60:330, 130:400],
            "portrait flag": image[0:250, 0:160], "portrait uniform": image[330:600, 100:500]}


def negative_sets(args, ge: tuple[ImageSet, list[np.ndarray]] | None, sign_root: Path | None) -> list[ImageSet]:
    """The no-hand sets (those with images)."""
    groups = [("patterns", pattern_images()), ("synthetic backgrounds", background_images(args.count // 4)),
              ("hard: portrait", portrait_images()), ("hard: forearm, no hand", forearm_images(args.count // 10))]
    sets = []
    for name, images in groups:
        image_set = ImageSet(name, hand=False)
        for image_name, image in images.items():
            image_set.add(image_name, image)
        sets.append(image_set)
    sets.append(photo_regions(ge, sign_root, args.count))
    return [image_set for image_set in sets if image_set.names]


@dataclass
class SetResult:
    """What the detector found in the N images of a set: hands (N,) int, hands per image; left
    (N,) int, those called left; first_side: N strings, the most confident hand's side ('' where
    none); score (N,) float, the most confident hand's score x palm score (NaN where none);
    seconds: detection time for the whole set."""

    hands: np.ndarray
    left: np.ndarray
    first_side: list[str]
    score: np.ndarray
    seconds: float

    @property
    def found(self) -> np.ndarray:
        """(N,) bool: at least one hand found (the hand / no-hand decision)."""
        return self.hands > 0


def measure(detector: HandDetector, image_set: ImageSet) -> SetResult:
    """Run the detector on every image of a set."""
    start = time.perf_counter()
    detections = [detector.detect(image) for image in image_set.images]
    seconds = time.perf_counter() - start
    return SetResult(hands=np.array([len(found) for found in detections]),
                     left=np.array([sum(hand.side == "left" for hand in found) for found in detections]),
                     first_side=[found[0].side if found else "" for found in detections],
                     score=np.array([found[0].score * found[0].palm_score if found else np.nan
                                     for found in detections]),
                     seconds=seconds)


def _side_match(image_set: ImageSet, result: SetResult) -> str:
    """Share of the images with a hand whose most confident hand has the set's side ('-': unknown)."""
    sides = [side for side in result.first_side if side]
    if image_set.side is None or not sides:
        return "-"
    return f"{np.mean([side == image_set.side for side in sides]):.3f}"


def print_table(rows: list[tuple[ImageSet, SetResult]]) -> None:
    """Per set: N, expected answer, fraction found, hands per image (mean, max), share of the
    hands called left, side match, milliseconds per image; then the totals per expected answer."""
    print(f"{'set':36s} {'N':>4s} {'hand?':>5s} {'found':>6s} {'hands/img':>9s} {'max':>3s} "
          f"{'left':>5s} {'side ok':>7s} {'ms/img':>6s}")
    for image_set, result in rows:
        left = f"{result.left.sum() / result.hands.sum():.3f}" if result.hands.sum() else "-"
        print(f"{image_set.name:36s} {len(result.hands):4d} {'yes' if image_set.hand else 'no':>5s} "
              f"{result.found.mean():6.3f} {result.hands.mean():9.3f} {result.hands.max():3d} {left:>5s} "
              f"{_side_match(image_set, result):>7s} {1000 * result.seconds / len(result.hands):6.0f}")
    for hand, text in ((True, "hands found (detection rate)"), (False, "hand-free images with a hand (false positives)")):
        found = [result.found for image_set, result in rows if image_set.hand == hand]
        if found:
            found = np.concatenate(found)
            print(f"{text}: {int(found.sum())} of {len(found)} ({found.mean():.1%})")


def print_errors(rows: list[tuple[ImageSet, SetResult]]) -> None:
    """The images decided wrongly: hands not found, and hand-free images with a hand (with the
    most confident hand's score x palm score)."""
    for image_set, result in rows:
        wrong = np.nonzero(result.found != image_set.hand)[0]
        if len(wrong):
            names = [image_set.names[i] if image_set.hand else f"{image_set.names[i]} ({result.score[i]:.2f})"
                     for i in wrong[:12]]
            print(f"{image_set.name}: {len(wrong)} decided wrongly: " + ", ".join(names)
                  + (" ..." if len(wrong) > 12 else ""))


DESCRIPTION = "The detector's hand / no-hand decision on real hands and on images without a hand."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (sets whose folder is missing are skipped)."""
    parser.add_argument("--ge-root", type=Path, default=DATA_ROOT / "ge_real_dev")
    parser.add_argument("--freihand-samples", type=Path, default=DATA_ROOT / "freihand_samples")
    parser.add_argument("--sign-root", type=Path, default=DATA_ROOT / "real_unlabeled" / "sign_language_digits")
    parser.add_argument("--count", type=int, default=200,
                        help="sign-language photos (and a quarter as many synthetic backgrounds)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE overrides (DETECTOR.*)")


def hand_sets(args) -> tuple[list[ImageSet], tuple[ImageSet, list[np.ndarray]] | None, Path | None]:
    """The hand sets that are on disk, the Ge set with its joints, and the sign root if present."""
    sets = [folder_set("bundled synthetic samples (right)", BUNDLED_SAMPLES, "right")]
    if args.freihand_samples.is_dir():
        sets.append(folder_set("FreiHAND samples (right)", args.freihand_samples, "right"))
    else:
        print(f"skipped FreiHAND samples: {args.freihand_samples} not found")
    ge = ge_crops(args.ge_root) if (args.ge_root / "params.mat").is_file() else None
    if ge is None:
        print(f"skipped Ge et al. crops: {args.ge_root / 'params.mat'} not found")
    else:
        sets.append(ge[0])
    sign_root = args.sign_root if args.sign_root.is_dir() else None
    if sign_root is None:
        print(f"skipped sign-language photos: {args.sign_root} not found")
    else:
        sets.append(sign_set(sign_root, args.count))
    return sets, ge, sign_root


def run(args: argparse.Namespace) -> int:
    """Detect on every set and print the table and the wrong decisions; returns 0."""
    config = DetectorConfig.from_config(load_cfg(None, args.overrides).DETECTOR)
    detector = HandDetector(config)
    positives, ge, sign_root = hand_sets(args)
    rows = [(image_set, measure(detector, image_set)) for image_set in positives + negative_sets(args, ge, sign_root)]
    print(f"detector: {config}")
    print_table(rows)
    print_errors(rows)
    return 0
