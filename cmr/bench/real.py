"""The photo pipeline on real images: detection rate, 2D error, camera-space scores, time per hand.

``python -m cmr bench real [--ge DIR] [--folder DIR] [--checkpoint PT] [KEY VALUE ...]``

* ``--ge``: a folder in the layout of Ge et al.'s real-world test set (:mod:`cmr.data.ge_real`;
  the full public set or its development subset). Each crop goes through the evaluation
  pipeline (:mod:`cmr.engine.ge_eval`). Prints, per stage (the detector's 2D keypoints; the
  network's mesh registered; the detector's 3D keypoints placed by the 2D step) and for the
  mean-pose baseline: detection rate, 2D error (px), camera-space MPJPE, root error,
  root-relative MPJPE and PA-MPJPE (mm); then the time per hand of the detector, the model
  with registration, and the fit.
* ``--folder``: any photos (searched recursively), through the demo's pipeline with the
  demo's K (K file, EXIF, else ``DEMO.FOV``): how many contain a hand, hands per photo, sides,
  and the time of the detector per photo and of the model and the fit per hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from cmr.data.ge_real import GeRealWorld
from cmr.detection import DetectorConfig, HandDetector
from cmr.engine.checkpoint import open_run
from cmr.engine.demo import BUNDLED_CHECKPOINT
from cmr.engine.ge_eval import BATCH_SIZE, predict_ge, stage_joints
from cmr.engine.hands import HandSettings, predict_and_fit
from cmr.data.intrinsics import read_intrinsics
from cmr.evaluation.ge_real import ge_joint_scores, mean_pose_baseline
from cmr.fileio import IMAGE_SUFFIXES, read_rgb
from cmr.geometry.camera import project_points

DESCRIPTION = __doc__.split("\n\n")[0]
COLUMNS = (("found", "detection_rate", ".3f"), ("2D px", "uv_error_px", ".2f"), ("cam mm", "camera_mpjpe_mm", ".1f"),
           ("root mm", "root_error_mm", ".1f"), ("rel mm", "root_relative_mpjpe_mm", ".1f"),
           ("PA mm", "pa_mpjpe_mm", ".2f"))


def _row(name: str, scores: dict) -> str:
    cells = ["-" if scores.get(key) is None else format(scores[key], fmt) for _, key, fmt in COLUMNS]
    return f"{name:28s} " + " ".join(f"{cell:>8}" for cell in cells)


def detector_uv_error(uv: np.ndarray, dataset: GeRealWorld, found: np.ndarray) -> float:
    """Mean distance (px) of the detector's keypoints from the projected ground truth (found hands)."""
    truth = project_points(dataset.joints, dataset.K)
    return float(np.linalg.norm(uv[found] - truth[found], axis=-1).mean())


def bench_ge(root: Path, checkpoint: Path, overrides: list[str]) -> None:
    """Print the stage table on a Ge-layout folder."""
    loaded = open_run(checkpoint, None, ["DEVICE", "cpu", *overrides])
    dataset = GeRealWorld(root)
    settings = dataclasses.replace(HandSettings.from_config(loaded.cfg), side="left")
    detector = HandDetector(DetectorConfig.from_config(loaded.cfg.DETECTOR))
    result = predict_ge(loaded, settings, dataset, detector)
    found = result.found
    print(f"{len(dataset)} crops of {root}; keypoints for the registration: {settings.keypoints}")
    print(f"{'stage':28s} " + " ".join(f"{name:>8}" for name, _, _ in COLUMNS))
    print(_row("detector 2D keypoints", {"detection_rate": found.mean(),
                                         "uv_error_px": detector_uv_error(result.detector_uv, dataset, found)}))
    names = {"network": "network mesh, registered", "detector_3d": "detector 3D, placed by 2D",
             "detector_fitted": "hand fitted to detector", "fitted": "hand model fitted to all"}
    for stage, joints in stage_joints(result).items():
        print(_row(names[stage], ge_joint_scores(joints, dataset.joints, dataset.K, found)))
    baseline = mean_pose_baseline(dataset.joints)
    print(_row("mean pose at the true root", ge_joint_scores(baseline, dataset.joints, dataset.K)))
    hands = max(int(found.sum()), 1)
    print(f"time per hand: detector {1000 * result.detect_seconds / len(dataset):.0f} ms (per crop), "
          f"model + registration {1000 * result.predict_seconds / hands:.0f} ms, "
          f"fit {1000 * result.fit_seconds / hands:.0f} ms (batches of {BATCH_SIZE}; torch threads "
          f"{torch.get_num_threads()})")


def bench_folder(folder: Path, checkpoint: Path, overrides: list[str]) -> None:
    """Print what the photo pipeline finds in a folder of photos, and its time per hand."""
    loaded = open_run(checkpoint, None, ["DEVICE", "cpu", *overrides])
    settings = HandSettings.from_config(loaded.cfg)
    detector = HandDetector(DetectorConfig.from_config(loaded.cfg.DETECTOR))
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    counts, sides, seconds = [], {"left": 0, "right": 0}, np.zeros(3)
    for path in paths:
        image = read_rgb(path)
        start = time.perf_counter()
        hands = detector.detect(image)
        seconds[0] += time.perf_counter() - start
        counts.append(len(hands))
        for side in ("right", "left"):
            chosen = [hand for hand in hands if settings.side_of(hand) == side]
            sides[side] += len(chosen)
            if chosen:
                K, _ = read_intrinsics(path, image.shape[1], image.shape[0], float(loaded.cfg.DEMO.FOV))
                result = predict_and_fit(loaded.model, [image] * len(chosen), [K] * len(chosen), chosen,
                                         loaded.template.joint_regressor, settings, side)
                seconds[1:] += (result.predict_seconds, result.fit_seconds)
    counts = np.array(counts)
    hands = max(int(counts.sum()), 1)
    print(f"{len(paths)} photos of {folder}: with a hand {np.mean(counts > 0):.3f}, hands per photo "
          f"{counts.mean():.2f} (max {counts.max()}), left {sides['left']}, right {sides['right']}")
    print(f"time: detector {1000 * seconds[0] / len(paths):.0f} ms per photo; per hand, model + registration "
          f"{1000 * seconds[1] / hands:.0f} ms, fit {1000 * seconds[2] / hands:.0f} ms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ge", type=Path, default=None, help="folder in Ge et al.'s real-world test set layout")
    parser.add_argument("--folder", type=Path, default=None, help="folder of photos (searched recursively)")
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT, help="checkpoint (default: bundled)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE configuration overrides")


def run(args: argparse.Namespace) -> int:
    if args.ge is None and args.folder is None:
        raise ValueError("give --ge DIR (Ge et al.'s layout) and/or --folder DIR (photos)")
    if args.ge is not None:
        bench_ge(args.ge.absolute(), args.checkpoint.absolute(), list(args.overrides or []))
    if args.folder is not None:
        bench_folder(args.folder.absolute(), args.checkpoint.absolute(), list(args.overrides or []))
    return 0
