"""Video smoothing: jitter of the tracked joints with and without the One Euro filter.

``python -m cmr bench video [--frames N] [--ge DIR]``. Two clips: a generated one, the open hand
model rendered by the project's rasteriser moving along a known path (a sideways sine with a
slow turn; the error against the path is reported too), and, with ``--ge``, the crops of Ge et
al.'s real-world layout played as frames. Each runs through the demo's video path
(:mod:`cmr.engine.video`) with the bundled model; prints frames, hands, jitter (mm per
frame^2) raw and smoothed, and for the generated clip the wrist's error against the path
(its constant offset, and what is left beyond it: jitter and the filter's lag).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from cmr.engine.checkpoint import open_run
from cmr.engine.demo import BUNDLED_CHECKPOINT, PhotoPipeline
from cmr.engine.video import run_video
from cmr.fileio import OutputFolder, read_rgb
from cmr.geometry.camera import intrinsics_from_fov
from cmr.hand.model import HandModel
from cmr.hand.poses import sample_poses
from cmr.render.renderer import render

DESCRIPTION = __doc__.split("\n\n")[0]
CLIP_SIZE = (320, 240)
CLIP_FOV_DEG = 60.0
SKIN, BACKGROUND = (0.85, 0.62, 0.5), (0.35, 0.4, 0.45)


def hand_path(frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose (T, 16, 3) and translation (T, 3) metres of the generated clip's hand: an open right
    hand seen from the back, swaying 6 cm sideways over 2 s (at 30 frames/s) and turning slowly."""
    time = torch.arange(frames, dtype=torch.float32) / 30.0
    pose = sample_poses("open", 1, 0).repeat(frames, 1, 1)
    pose[:, 0] = torch.stack([torch.full_like(time, math.pi), torch.zeros_like(time), 0.2 * torch.sin(time)], dim=1)
    translation = torch.stack([0.06 * torch.sin(math.pi * time) - 0.02, torch.full_like(time, 0.02),
                               torch.full_like(time, 0.45)], dim=1)
    return pose, translation


def write_generated_clip(path: Path, frames: int) -> np.ndarray:
    """Render the clip to ``path`` (MJPG AVI, 30 frames/s) with its K beside it; returns the true
    wrist positions (T, 3) metres."""
    model = HandModel()
    pose, translation = hand_path(frames)
    width, height = CLIP_SIZE
    K = intrinsics_from_fov(width, height, CLIP_FOV_DEG)
    np.save(path.with_name(f"{path.stem}_K.npy"), K)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    wrists = []
    with torch.no_grad():
        for start in range(0, frames, 8):
            hand = model(pose[start:start + 8], trans=translation[start:start + 8])
            batch = len(hand.vertices)
            images = render(hand.vertices, model.faces, torch.tensor(K, dtype=torch.float32).expand(batch, 3, 3),
                            (height, width), torch.tensor(SKIN).expand(batch, 778, 3),
                            background=torch.tensor(BACKGROUND)).image
            for image in (images.clamp(0, 1).numpy() * 255).round().astype(np.uint8):
                writer.write(image[:, :, ::-1].copy())
            wrists.append(hand.joints[:, 0].numpy())
    writer.release()
    return np.concatenate(wrists)


def write_frames_clip(path: Path, images: list[Path]) -> None:
    """A clip (MJPG AVI, 30 frames/s) of still images of one size, in order."""
    first = read_rgb(images[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (first.shape[1], first.shape[0]))
    for image in images:
        writer.write(cv2.imread(str(image)))
    writer.release()


def run_clip(clip: Path, folder: Path, overrides: list[str]) -> tuple[dict, list[dict]]:
    """The video demo on a clip with the bundled model: its summary and per-frame records."""
    loaded = open_run(BUNDLED_CHECKPOINT, None, ["DEVICE", "cpu", *overrides])
    summary = run_video(str(clip), PhotoPipeline(loaded.cfg, loaded), OutputFolder(folder), loaded.cfg)
    frames = [json.loads(path.read_text()) for path in sorted(folder.glob(f"{clip.stem}_[0-9]*.json"))]
    return summary, frames


def path_error_mm(frames: list[dict], truth: np.ndarray, key: str) -> tuple[float, float]:
    """The first track's wrist (``key``: smoothed or raw joints) against the true path
    (:func:`wrist_error_mm`)."""
    found = [f for f in frames if f["hands"]]
    if not found:
        return float("nan"), float("nan")
    return wrist_error_mm(np.stack([f["hands"][0][key][0] for f in found]), truth[[f["frame"] for f in found]])


def wrist_error_mm(wrists: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Found wrists (T, 3) metres against the true ones (T, 3): the mean offset (mm; the
    pipeline's depth error on renders) and the mean distance once that constant offset is removed
    (mm; what jitter and lag add)."""
    offsets = np.asarray(wrists, dtype=np.float64) - truth
    mean = offsets.mean(axis=0)
    return 1000.0 * float(np.linalg.norm(mean)), 1000.0 * float(np.linalg.norm(offsets - mean, axis=1).mean())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=60, help="frames of the generated clip (default 60)")
    parser.add_argument("--ge", type=Path, default=None, help="a folder in Ge et al.'s layout: its crops as a clip")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        truth = write_generated_clip(scratch / "generated.avi", args.frames)
        clips = [("generated", scratch / "generated.avi")]
        if args.ge is not None:
            write_frames_clip(scratch / "ge.avi", sorted((args.ge / "images").glob("*.jpg")))
            clips.append(("Ge crops as frames", scratch / "ge.avi"))
        print(f"{'clip':20s} {'frames':>6} {'hands':>6} {'tracks':>6} {'raw jitter':>11} {'smoothed':>9}")
        for name, clip in clips:
            summary, frames = run_clip(clip, scratch / name.replace(" ", "_"), [])
            jitter = summary["jitter"]
            print(f"{name:20s} {summary['frames']:6d} {summary['hands']:6d} {summary['tracks']:6d} "
                  f"{jitter['raw_mm']:11.2f} {jitter['smoothed_mm']:9.2f}")
            if name == "generated":
                (offset, raw), (_, smoothed) = (path_error_mm(frames, truth, key)
                                                for key in ("joints_camera_raw_m", "joints_camera_m"))
                print(f"  wrist against the true path: mean offset {offset:.0f} mm; beyond it, raw {raw:.1f} mm, "
                      f"smoothed {smoothed:.1f} mm")
    print("jitter: mean joint acceleration, mm per frame^2")
    return 0
