"""End to end, frame by frame: ``python -m cmr bench realtime [--frames N] [--checkpoint PT] [--threads T]``.

The generated clip of ``bench video`` (the open hand model rendered moving along a known path,
320 x 240) runs through the stages of the video demo (:mod:`cmr.engine.video`) one frame at a time,
each timed: **tracking** (the detector: one landmark pass around the last keypoints; the palm
search on the first frame and every ``VIDEO.REDETECT_EVERY``), **network** (each forward of the
model: ``DEMO.PASSES`` re-crops + the final one), **crops + registration** (the rest of the
prediction: warping, output decoding, the camera-space registration, the re-crops' silhouette
search, placing the detector's 3D keypoints, mirroring), **fit** (the hand model,
when ``FITTING.ENABLED``) and **smoothing** (the video demo's One Euro filters on mesh and joints,
:func:`cmr.engine.video.smooth_hand`). Printed per
setting (the demo's; without the fit; without re-crops or fit): milliseconds per hand of each
stage, its share of the frame, and hands per second, wall clock, on ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from cmr.detection import DetectorConfig, HandDetector
from cmr.engine.checkpoint import open_run
from cmr.engine.demo import BUNDLED_CHECKPOINT
from cmr.engine.hands import HandSettings, predict_sides
from cmr.engine.inputs import open_video, video_frames
from cmr.engine.smoothing import OneEuroFilter
from cmr.engine.video import HandTracker, smooth_hand

DESCRIPTION = __doc__.split("\n\n")[0]
STAGES = ("tracking", "network", "crops + registration", "fit", "smoothing")
#: Settings measured: title -> configuration overrides.
SETTINGS = {"demo defaults": [], "no fit": ["FITTING.ENABLED", "False"],
            "no re-crops, no fit": ["FITTING.ENABLED", "False", "DEMO.PASSES", "0"]}


@contextmanager
def forward_timer(model: torch.nn.Module, seconds: list[float]):
    """Add the wall time of every forward of ``model`` to ``seconds[0]`` while inside."""
    started = []
    handles = [model.register_forward_pre_hook(lambda *_: started.append(time.perf_counter())),
               model.register_forward_hook(lambda *_: seconds.__setitem__(0, seconds[0] + time.perf_counter()
                                                                          - started.pop()))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def time_frame(image: np.ndarray, K: np.ndarray, tracker: HandTracker, loaded, settings: HandSettings,
               totals: dict[str, float]) -> int:
    """Run one frame through every stage, adding each stage's seconds to ``totals``; returns the hands."""
    start = time.perf_counter()
    followed = tracker.update(image)
    totals["tracking"] += time.perf_counter() - start
    detections = [hand for _, hand in followed]
    network = [0.0]
    with forward_timer(loaded.model, network):
        sides = predict_sides(loaded.model, [image] * len(detections), [K] * len(detections), detections,
                              loaded.template.joint_regressor, settings)
        for chosen, _, result, hands in sides:
            totals["crops + registration"] += result.predict_seconds
            totals["fit"] += result.fit_seconds if result.fit is not None else 0.0
            start = time.perf_counter()
            for k, hand in zip(chosen, hands):
                smooth_hand(followed[k][0], hand)
            totals["smoothing"] += time.perf_counter() - start
    totals["network"] += network[0]
    totals["crops + registration"] -= network[0]
    return len(followed)


def time_clip(frames: list[np.ndarray], K: np.ndarray, checkpoint: Path, overrides: list[str]) -> tuple[dict, int, float]:
    """Per-stage seconds, hands and total seconds over the clip with one setting."""
    loaded = open_run(checkpoint, None, ["DEVICE", "cpu", *overrides])
    cfg = loaded.cfg
    make_filters = lambda: tuple(OneEuroFilter(30.0, float(cfg.VIDEO.MIN_CUTOFF_HZ), float(cfg.VIDEO.BETA))  # noqa: E731
                                 for _ in range(2))
    detector = HandDetector(DetectorConfig.from_config(cfg.DETECTOR))
    settings = HandSettings.from_config(cfg)
    totals, hands = defaultdict(float), 0
    with torch.no_grad():  # warm-up on a tracker of its own, so the timed one starts with the palm search
        time_frame(frames[0], K, HandTracker(detector, int(cfg.VIDEO.REDETECT_EVERY), make_filters), loaded,
                   settings, defaultdict(float))
        tracker = HandTracker(detector, int(cfg.VIDEO.REDETECT_EVERY), make_filters)
        start = time.perf_counter()
        for image in frames:
            hands += time_frame(image, K, tracker, loaded, settings, totals)
    return dict(totals), hands, time.perf_counter() - start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=60, help="frames of the generated clip (default 60)")
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT, help="checkpoint (default: bundled)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")


def run(args: argparse.Namespace) -> int:
    from cmr.bench.video import CLIP_FOV_DEG, CLIP_SIZE, write_generated_clip
    from cmr.geometry.camera import intrinsics_from_fov

    if args.frames < 1 or args.threads < 1:
        raise ValueError(f"--frames and --threads must be at least 1, got {args.frames} and {args.threads}")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "generated.avi"
        write_generated_clip(clip, args.frames)
        frames = [frame for _, frame in video_frames(open_video(str(clip))[0])]
    K = intrinsics_from_fov(*CLIP_SIZE, CLIP_FOV_DEG)
    print(f"{len(frames)} frames of {CLIP_SIZE[0]} x {CLIP_SIZE[1]}, {args.checkpoint.name}, {args.threads} torch threads; "
          "ms per hand (share of the frame)")
    print(f"{'setting':22s} " + " ".join(f"{stage:>22s}" for stage in STAGES) + f" {'hands/s':>8s}")
    for title, overrides in SETTINGS.items():
        totals, hands, seconds = time_clip(frames, K, args.checkpoint, overrides)
        per_hand = {stage: 1000.0 * totals.get(stage, 0.0) / max(hands, 1) for stage in STAGES}
        cells = " ".join(f"{per_hand[stage]:12.1f} ({100 * totals.get(stage, 0.0) / seconds:4.1f} %)"
                         for stage in STAGES)
        print(f"{title:22s} {cells} {hands / seconds:8.1f}")
    return 0
