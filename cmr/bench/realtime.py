"""End to end, frame by frame: ``python -m cmr bench realtime [--frames N] [--checkpoint PT] [--threads T]``.

The generated clip of ``bench video`` (the open hand model rendered moving along a known path,
320 x 240) runs through the stages of the video demo (:mod:`cmr.engine.video`) one frame at a time,
each timed: **tracking** (the detector: one landmark pass around the last keypoints, two with its
mirror image; the palm search on the first frame and every ``VIDEO.REDETECT_EVERY``), **network**
(each forward of the model: ``DEMO.PASSES`` re-crops + the final one), **crops + registration**
(the rest of the prediction: warping, output decoding, the camera-space registration, the
re-crops' silhouette search, placing the detector's 3D keypoints, mirroring, the depth carried
between silhouette frames with ``VIDEO.SILHOUETTE_EVERY``), **fit** (the hand
model, when ``FITTING.ENABLED``) and **smoothing** (the video demo's One Euro filters on mesh and
joints, :func:`cmr.engine.video.smooth_hand`). With ``VIDEO.TRACK_AHEAD`` (the demo's default)
the next frame is tracked in a second thread while the current one is predicted
(:func:`cmr.engine.video.tracked_frames`), so the shares can add up to more than the frame.

Printed per setting (:data:`SETTINGS`, from the demo's own to the fastest): milliseconds per hand
of each stage, its share of the clip's wall time, hands per second (wall clock, on ``--threads``
torch and onnxruntime threads; the detector's TFLite runtime has ``DETECTOR.THREADS``) and the
smoothed wrist's error against the true path (its constant offset, and the mean distance beyond
it), so that a faster setting shows what it costs.
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
from cmr.engine.video import HandTracker, SilhouetteSchedule, smooth_hand, tracked_frames

DESCRIPTION = __doc__.split("\n\n")[0]
STAGES = ("tracking", "network", "crops + registration", "fit", "smoothing")
#: The ONNX graph of the checkpoint, written for the settings that run onnxruntime.
ONNX_GRAPH = "{onnx}"
_FAST = ["FITTING.ENABLED", "False", "DEMO.PASSES", "0"]
#: Settings measured: title -> configuration overrides (``ONNX_GRAPH`` stands for the graph's path).
SETTINGS = {
    "demo defaults": [],
    "no fit": ["FITTING.ENABLED", "False"],
    "no re-crops, no fit": _FAST,
    "the same, tracked in turn": [*_FAST, "VIDEO.TRACK_AHEAD", "False"],
    "+ onnxruntime": [*_FAST, "DEMO.BACKEND", "onnx", "DEMO.ONNX", ONNX_GRAPH],
    "+ one landmark pass": [*_FAST, "DEMO.BACKEND", "onnx", "DEMO.ONNX", ONNX_GRAPH, "DETECTOR.FOLLOW_MIRRORED", "False"],
    "+ silhouette every 3rd frame": [*_FAST, "DEMO.BACKEND", "onnx", "DEMO.ONNX", ONNX_GRAPH, "DETECTOR.FOLLOW_MIRRORED",
                                     "False", "VIDEO.SILHOUETTE_EVERY", "3"],
    "+ no silhouette step": [*_FAST, "DEMO.BACKEND", "onnx", "DEMO.ONNX", ONNX_GRAPH, "DETECTOR.FOLLOW_MIRRORED", "False",
                             "REGISTRATION.USE_SILHOUETTE", "False"],
}


class _TimedSession:
    """An onnxruntime session whose runs add their wall time to ``seconds[0]``."""

    def __init__(self, session, seconds: list[float]) -> None:
        self.session, self.seconds = session, seconds

    def run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.session.run(*args, **kwargs)
        finally:
            self.seconds[0] += time.perf_counter() - start


@contextmanager
def forward_timer(model, seconds: list[float]):
    """Add the wall time of every forward of ``model`` (a torch module, or an onnxruntime
    network's session runs, which include the output decoding) to ``seconds[0]`` while inside."""
    if not isinstance(model, torch.nn.Module):
        session, model.session = model.session, _TimedSession(model.session, seconds)
        try:
            yield
        finally:
            model.session = session
        return
    started = []
    handles = [model.register_forward_pre_hook(lambda *_: started.append(time.perf_counter())),
               model.register_forward_hook(lambda *_: seconds.__setitem__(0, seconds[0] + time.perf_counter()
                                                                          - started.pop()))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class TimedTracker:
    """A :class:`HandTracker` whose every update adds its wall time to ``totals['tracking']``."""

    def __init__(self, tracker: HandTracker, totals: dict[str, float]) -> None:
        self.tracker, self.totals = tracker, totals

    def update(self, image: np.ndarray):
        start = time.perf_counter()
        followed = self.tracker.update(image)
        self.totals["tracking"] += time.perf_counter() - start
        return followed


def predict_frame(image: np.ndarray, K: np.ndarray, followed, loaded, schedule: SilhouetteSchedule,
                  totals: dict[str, float]) -> list:
    """Predict, fit and smooth one frame's tracked hands, adding each stage's seconds to
    ``totals``; returns the smoothed hands."""
    detections = [hand for _, hand in followed]
    network, smoothed = [0.0], []
    settings, full = schedule.next_frame(followed)
    with forward_timer(loaded.model, network):
        sides = predict_sides(loaded.model, [image] * len(detections), [K] * len(detections), detections,
                              loaded.template.joint_regressor, settings)
        for chosen, _, result, hands in sides:
            start = time.perf_counter()
            placed = [schedule.carry(followed[k][0], hand, full) for k, hand in zip(chosen, hands)]
            totals["crops + registration"] += result.predict_seconds + time.perf_counter() - start
            totals["fit"] += result.fit_seconds if result.fit is not None else 0.0
            start = time.perf_counter()
            smoothed += [smooth_hand(followed[k][0], hand) for k, hand in zip(chosen, placed)]
            totals["smoothing"] += time.perf_counter() - start
    totals["network"] += network[0]
    totals["crops + registration"] -= network[0]
    return smoothed


def time_clip(frames: list[np.ndarray], K: np.ndarray, checkpoint: Path,
              overrides: list[str]) -> tuple[dict, int, float, np.ndarray]:
    """Per-stage seconds, hands, total seconds and the first hand's smoothed wrist per frame
    ((T, 3) metres, NaN where no hand was found) over the clip with one setting."""
    loaded = open_run(checkpoint, None, ["DEVICE", "cpu", *overrides])
    cfg = loaded.cfg
    make_filters = lambda: tuple(OneEuroFilter(30.0, float(cfg.VIDEO.MIN_CUTOFF_HZ), float(cfg.VIDEO.BETA))  # noqa: E731
                                 for _ in range(2))
    detector = HandDetector(DetectorConfig.from_config(cfg.DETECTOR))
    settings, ahead = HandSettings.from_config(cfg), bool(cfg.VIDEO.TRACK_AHEAD)
    schedule = lambda: SilhouetteSchedule(settings, int(cfg.VIDEO.SILHOUETTE_EVERY))  # noqa: E731
    totals, hands = defaultdict(float), 0
    wrists = np.full((len(frames), 3), np.nan)
    with torch.no_grad():  # warm-up on a tracker of its own, so the timed one starts with the palm search
        warm_up = HandTracker(detector, int(cfg.VIDEO.REDETECT_EVERY), make_filters)
        predict_frame(frames[0], K, warm_up.update(frames[0]), loaded, schedule(), defaultdict(float))
        tracker = TimedTracker(HandTracker(detector, int(cfg.VIDEO.REDETECT_EVERY), make_filters), totals)
        timed_schedule = schedule()
        start = time.perf_counter()
        for index, image, followed in tracked_frames(enumerate(frames), tracker, ahead):
            smoothed = predict_frame(image, K, followed, loaded, timed_schedule, totals)
            hands += len(smoothed)
            if smoothed:
                wrists[index] = smoothed[0].fit["joints"][0]
    return dict(totals), hands, time.perf_counter() - start, wrists


def setting_overrides(overrides: list[str], onnx_graph: Path, threads: int) -> list[str]:
    """A setting's overrides with the graph's path in place of :data:`ONNX_GRAPH`, and the threads."""
    return ["NUM_THREADS", str(threads), *(str(onnx_graph) if value == ONNX_GRAPH else value for value in overrides)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=60, help="frames of the generated clip (default 60)")
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT, help="checkpoint (default: bundled)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and onnxruntime threads (default 1: the tracker has the other core)")


def run(args: argparse.Namespace) -> int:
    from cmr.bench.video import CLIP_FOV_DEG, CLIP_SIZE, wrist_error_mm, write_generated_clip
    from cmr.geometry.camera import intrinsics_from_fov
    from cmr.models.onnx_graph import export_onnx

    if args.frames < 1 or args.threads < 1:
        raise ValueError(f"--frames and --threads must be at least 1, got {args.frames} and {args.threads}")
    torch.set_num_threads(args.threads)
    K = intrinsics_from_fov(*CLIP_SIZE, CLIP_FOV_DEG)
    print(f"{args.frames} frames of {CLIP_SIZE[0]} x {CLIP_SIZE[1]}, {args.checkpoint.name}, {args.threads} threads; "
          "ms per hand (share of the clip's wall time); wrist error: offset / beyond it, mm")
    print(f"{'setting':26s} " + " ".join(f"{stage:>22s}" for stage in STAGES) + f" {'hands/s':>8s} {'wrist mm':>12s}")
    with tempfile.TemporaryDirectory() as scratch:
        clip, graph = Path(scratch) / "generated.avi", Path(scratch) / "network.onnx"
        truth = write_generated_clip(clip, args.frames)
        frames = [frame for _, frame in video_frames(open_video(str(clip))[0])]
        loaded = open_run(args.checkpoint, None, ["DEVICE", "cpu"])
        export_onnx(loaded.model, loaded.template.joint_regressor, loaded.cfg.MODEL.INPUT_SIZE, graph)
        for title, overrides in SETTINGS.items():
            totals, hands, seconds, wrists = time_clip(frames, K, args.checkpoint,
                                                       setting_overrides(overrides, graph, args.threads))
            per_hand = {stage: 1000.0 * totals.get(stage, 0.0) / max(hands, 1) for stage in STAGES}
            cells = " ".join(f"{per_hand[stage]:12.1f} ({100 * totals.get(stage, 0.0) / seconds:4.1f} %)"
                             for stage in STAGES)
            found = np.isfinite(wrists[:, 0])
            offset, beyond = wrist_error_mm(wrists[found], truth[found]) if found.any() else (np.nan, np.nan)
            print(f"{title:26s} {cells} {hands / seconds:8.1f} {offset:5.1f} / {beyond:4.1f}")
    return 0
