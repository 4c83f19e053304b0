"""Benchmark of the hand / no-hand decision (:mod:`cmr.engine.hand_presence`).

Runs the demo's inference path (:func:`cmr.engine.inference.predict_images`) on real hands and
on images without a hand, and prints per set the number of images, the fraction judged "hand"
and the range of each signal the decision uses. Run
``python -m cmr bench hand_presence [--checkpoint PT] [--ge-root DIR] [--freihand-samples DIR]
[--sign-root DIR] [--count N] [--threads T]``.

Hands (should be kept):

* the bundled synthetic samples (``cmr/assets/samples``, with K files);
* FreiHAND crops (``<id>_img.jpg`` + ``<id>_K.npy``, right hands);
* Ge et al.'s real-world crops (``images/``, ``params.mat``; left hands, run with ``left``);
* a fixed random subset of the sign-language digit photos (100 x 100, handedness unknown: run
  as right and as left hands; K from a 45 degree field of view).

No hand (should be rejected; each set is run as right and as left hands, K from 45 degrees):

* patterns: gradients, black / white / grey / skin-coloured flats, uniform, Gaussian and
  blurred noise, colour blobs, checkerboards and stripes;
* the synthetic generator's backgrounds (:func:`cmr.data.synth_appearance.sample_background`
  and its camera effects), with no hand drawn;
* hand-free regions of the real photos: squares of the Ge crops away from the annotated hand
  (shop shelves, the closest thing to an empty room on disk) and the bare wall in the corners of
  the sign-language photos;
* hard cases, reported but known to pass: skin-coloured things that are not hands, a portrait
  (matplotlib's sample photo) and the generator's forearm drawn without its hand.

Sets whose data is missing are skipped with a message.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cmr import REPO_ROOT
from cmr.data.synth_appearance import draw_forearm, finish_image, sample_background, sample_skin_tone
from cmr.engine.hand_presence import CHECKS, all_passed, check_results, presence_signals
from cmr.config import get_cfg
from cmr.engine.demo import BUNDLED_CHECKPOINT
from cmr.fileio import read_rgb
from cmr.geometry.camera import intrinsics_from_fov, project_points
from cmr.tools.samples import BUNDLED_SAMPLES

DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
#: Side (pixels) of the generated negatives, and the field of view (degrees) of images without K
#: (the demo's, ``DEMO.FOV``).
NEGATIVE_SIZE = 224
FOV_DEG = float(get_cfg().DEMO.FOV)
#: Images predicted together.
BATCH_SIZE = 16
#: Hand-free squares of the Ge crops: smallest side (pixels) and distance kept from the joints.
MIN_REGION_SIDE = 40
JOINT_CLEARANCE_PX = 16


@dataclass
class ImageSet:
    """Images of one kind: names, (H, W, 3) uint8 RGB images, (3, 3) intrinsics.

    hand: whether the images show a hand (the expected answer). left: run them as left hands.
    """

    name: str
    hand: bool
    left: bool = False
    names: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    Ks: list[np.ndarray] = field(default_factory=list)

    def add(self, name: str, image: np.ndarray, K: np.ndarray | None = None) -> None:
        """Append an image (K from :data:`FOV_DEG` when None)."""
        image = np.ascontiguousarray(image)
        self.names.append(name)
        self.images.append(image)
        self.Ks.append(intrinsics_from_fov(image.shape[1], image.shape[0], FOV_DEG) if K is None else K)


# --------------------------------------------------------------------------------------------
# Hands


def folder_set(name: str, folder: Path) -> ImageSet:
    """The ``<id>_img.jpg`` images of a folder with their ``<id>_K.npy`` intrinsics."""
    images = ImageSet(name, hand=True)
    for path in sorted(folder.glob("*_img.jpg")):
        images.add(path.name, read_rgb(path), np.load(path.with_name(path.name.replace("_img.jpg", "_K.npy"))))
    return images


def ge_crops(root: Path) -> tuple[ImageSet, list[np.ndarray]]:
    """Ge et al.'s crops (left hands, K from ``params.mat``) and their joints' pixels (21, 2).

    K of a crop cut at (x, y) with side w from a frame with (fx, fy, u0, v0), resized by
    s = 256 / w: ``[[fx s, 0, (u0 - x) s], [0, fy s, (v0 - y) s], [0, 0, 1]]``.
    """
    from scipy.io import loadmat

    params = loadmat(str(root / "params.mat"))
    joints_cm = loadmat(str(root / "pose_gt.mat"))["pose_gt"]
    images, joints_uv = ImageSet("Ge et al. real (left)", hand=True, left=True), []
    for index, relative in enumerate(params["image_path"]):
        image = read_rgb(root / str(relative).strip())
        (fx, fy, u0, v0), (x, y, w, _) = params["cam_param"][index], params["bbox"][index]
        s = image.shape[1] / w
        K = np.array([[fx * s, 0.0, (u0 - x) * s], [0.0, fy * s, (v0 - y) * s], [0.0, 0.0, 1.0]])
        images.add(Path(str(relative).strip()).name, image, K)
        joints_uv.append(project_points(joints_cm[index], K))
    return images, joints_uv


def sign_paths(root: Path, count: int, seed: int = 0) -> list[Path]:
    """A fixed random subset of ``count`` sign-language photos (sorted paths, seeded)."""
    paths = sorted(path for path in root.glob("*/*") if path.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pick = np.random.default_rng(seed).choice(len(paths), min(count, len(paths)), replace=False)
    return [paths[i] for i in sorted(pick)]


def sign_sets(root: Path, count: int) -> list[ImageSet]:
    """The sign-language subset, as right hands and as left hands (handedness is unknown)."""
    paths = sign_paths(root, count)
    sets = []
    for left in (False, True):
        images = ImageSet(f"sign-language digits ({'left' if left else 'right'})", hand=True, left=left)
        for path in paths:
            images.add(f"{path.parent.name}/{path.name}", read_rgb(path))
        sets.append(images)
    return sets


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
    for index in range(count):
        rng = np.random.default_rng([seed, 1, index])
        canvas = sample_background(rng, size)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0],
                             [0.0, 0.0, 1.0]])
        wrist = np.array([0.02 * rng.standard_normal(), 0.02 * rng.standard_normal(), 0.5])
        draw_forearm(rng, canvas, wrist, rotation, K, sample_skin_tone(rng) * 0.8)
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
    """The no-hand sets, each once as right and once as left hands."""
    groups = [("patterns", pattern_images()), ("synthetic backgrounds", background_images(args.count // 4)),
              ("hard: portrait", portrait_images()), ("hard: forearm, no hand", forearm_images(args.count // 10))]
    photos = photo_regions(ge, sign_root, args.count)
    sets = []
    for left in (False, True):
        side = "left" if left else "right"
        for name, images in groups:
            image_set = ImageSet(f"{name} ({side})", hand=False, left=left)
            for image_name, image in images.items():
                image_set.add(image_name, image)
            if image_set.names:
                sets.append(image_set)
        if photos.names:
            sets.append(ImageSet(f"{photos.name} ({side})", False, left, photos.names, photos.images, photos.Ks))
    return sets


def measure(loaded, image_set: ImageSet) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Signals (field -> (N,) array) and the decision (N,) bool for every image of a set."""
    from cmr.engine.inference import predict_images
    from cmr.geometry.crop import CropPolicy
    from cmr.registration import RegistrationConfig

    config = RegistrationConfig.from_config(loaded.cfg.REGISTRATION)
    policy = CropPolicy.from_config(loaded.cfg.MODEL)
    values: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in CHECKS}
    found = []
    for start in range(0, len(image_set.images), BATCH_SIZE):
        images = image_set.images[start:start + BATCH_SIZE]
        prediction = predict_images(loaded.model, images, image_set.Ks[start:start + BATCH_SIZE],
                                    loaded.template.joint_regressor, config, policy, int(loaded.cfg.DEMO.PASSES),
                                    image_set.left)
        signals = presence_signals(prediction)
        passed = check_results(signals)
        found.append(all_passed(passed).cpu().numpy())
        for name in values:
            values[name].append(getattr(signals, name).cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in values.items()}, np.concatenate(found)


def print_table(rows: list[tuple[ImageSet, dict[str, np.ndarray], np.ndarray]]) -> None:
    """Per set: N, expected answer, fraction judged hand, min-max of each signal."""
    short = {"silhouette_confidence": "confidence", "skin_fraction": "skin", "joint_peak": "joint peak"}
    print(f"{'set':44s} {'N':>4s} {'hand?':>5s} {'kept':>6s}  "
          + "  ".join(f"{short[name] + ' >= ' + str(least):>17s}" for name, least, _ in CHECKS))
    for image_set, values, found in rows:
        ranges = "  ".join(f"{values[name].min():8.3f}-{values[name].max():<8.3f}" for name, _, _ in CHECKS)
        print(f"{image_set.name:44s} {len(found):4d} {'yes' if image_set.hand else 'no':>5s} "
              f"{found.mean():6.3f}  {ranges}")


def print_margins(rows: list[tuple[ImageSet, dict[str, np.ndarray], np.ndarray]]) -> None:
    """Per check: its threshold, the least value over all hands, and the share of the no-hand
    images (all sets together) that it rejects on its own account."""
    hands = [values for image_set, values, _ in rows if image_set.hand]
    others = [values for image_set, values, _ in rows if not image_set.hand]
    for name, least, text in CHECKS:
        lowest = min(float(values[name].min()) for values in hands) if hands else float("nan")
        rejected = np.concatenate([values[name] < least for values in others]).mean() if others else float("nan")
        print(f"{text}: threshold {least}, least over hands {lowest:.3f} (margin {lowest - least:+.3f}), "
              f"rejects {rejected:.1%} of the no-hand images")


def print_errors(rows: list[tuple[ImageSet, dict[str, np.ndarray], np.ndarray]]) -> None:
    """The images decided wrongly, with the checks they failed (hands) or passed (others)."""
    for image_set, values, found in rows:
        wrong = np.nonzero(found != image_set.hand)[0]
        if len(wrong):
            print(f"{image_set.name}: {len(wrong)} decided wrongly: "
                  + ", ".join(image_set.names[i] for i in wrong[:12]) + (" ..." if len(wrong) > 12 else ""))


DESCRIPTION = "Hand / no-hand decision on real hands and on images without a hand."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (sets whose folder is missing are skipped)."""
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT, help="checkpoint (default: bundled)")
    parser.add_argument("--ge-root", type=Path, default=DATA_ROOT / "ge_real_dev")
    parser.add_argument("--freihand-samples", type=Path, default=DATA_ROOT / "freihand_samples")
    parser.add_argument("--sign-root", type=Path, default=DATA_ROOT / "real_unlabeled" / "sign_language_digits")
    parser.add_argument("--count", type=int, default=200,
                        help="sign-language photos (and a quarter as many synthetic backgrounds)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def hand_sets(args) -> tuple[list[ImageSet], tuple[ImageSet, list[np.ndarray]] | None, Path | None]:
    """The hand sets that are on disk, the Ge set with its joints, and the sign root if present."""
    sets = [folder_set("bundled synthetic samples", BUNDLED_SAMPLES)]
    if args.freihand_samples.is_dir():
        sets.append(folder_set("FreiHAND samples (right)", args.freihand_samples))
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
        sets.extend(sign_sets(sign_root, args.count))
    return sets, ge, sign_root


def run(args: argparse.Namespace) -> int:
    """Predict every set and print the table, the margins and the wrong decisions; returns 0."""
    from cmr.engine.checkpoint import open_run

    loaded = open_run(args.checkpoint, None, ["DEVICE", "cpu", "NUM_THREADS", str(args.threads)])
    positives, ge, sign_root = hand_sets(args)
    rows = [(image_set, *measure(loaded, image_set))
            for image_set in positives + negative_sets(args, ge, sign_root)]
    print(f"checkpoint {args.checkpoint}")
    print_table(rows)
    print_margins(rows)
    print_errors(rows)
    return 0
