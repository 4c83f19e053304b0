"""The demo on a video (a file, or a webcam given by its index): hands tracked from frame to
frame, their camera-space meshes smoothed over time.

Each frame: every tracked hand is followed by one landmark pass around its keypoints of the
previous frame (:meth:`cmr.detection.HandDetector.follow`, no palm search); a hand that is not
found there is dropped, and the whole detector runs on the first frame, whenever no hand is
tracked and every ``VIDEO.REDETECT_EVERY`` frames, a hand it finds away from the tracked ones
starting a new track. The hands are predicted and fitted as in a photo (:mod:`cmr.engine.hands`;
the registration's silhouette step every ``VIDEO.SILHOUETTE_EVERY`` frames, :class:`SilhouetteSchedule`),
then each track's camera-space mesh, joints and translation pass through a One Euro filter
(:mod:`cmr.engine.smoothing`; ``VIDEO.*``). With ``VIDEO.TRACK_AHEAD`` the tracker reads the next
frame in a second thread while the current one is predicted (:func:`tracked_frames`; the same
answers, tracking and prediction on two cores at once). Written into the demo's output folder, with ``<v>``
the video's stem:

* ``<v>_overlay.mp4``: the frames with every hand's smoothed mesh;
* ``<v>_<frame>.json`` per frame: per hand its track, side, detector score and keypoints, the
  smoothed and raw camera-space joints (metres; the wrist is the first);
* ``<v>_video.json``: frames, tracks, hands, and the jitter (mean joint acceleration, mm per
  frame^2) of the raw and the smoothed joints.

K comes from ``<v>_K.npy`` beside the file, else from ``DEMO.FOV``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from cmr.detection import HandDetection, HandDetector
from cmr.engine.demo_outputs import photo_overlay
from cmr.engine.hands import HandSettings, PredictedHand
from cmr.data.intrinsics import read_intrinsics
from cmr.engine.inputs import InputImage, open_video, video_frames
from cmr.engine.smoothing import OneEuroFilter, jitter
from cmr.fileio import OutputFolder, atomic_write_json

MM_PER_M = 1000.0


@dataclass
class Track:
    """One hand followed over frames: id, last keypoints (21, 2) px, the palm score it started
    with, One Euro filters of its mesh, joints and translation, its joints per frame (raw
    and smoothed, metres) and the depth correction of its last silhouette frame
    (:class:`SilhouetteSchedule`; None before the first)."""

    id: int
    keypoints: np.ndarray
    palm_score: float
    filters: tuple
    raw: list = field(default_factory=list)
    smoothed: list = field(default_factory=list)
    depth_ratio: float | None = None


class HandTracker:
    """Tracks of a video (see the module docstring)."""

    def __init__(self, detector: HandDetector, redetect_every: int, make_filters) -> None:
        self.detector, self.redetect_every, self.make_filters = detector, redetect_every, make_filters
        self.tracks: list[Track] = []
        self.finished: list[Track] = []
        self._next_id, self._frame = 0, 0

    def update(self, image: np.ndarray) -> list[tuple[Track, HandDetection]]:
        """The hands of the next frame, each with its track."""
        followed = []
        for track in self.tracks:
            hand = self.detector.follow(image, track.keypoints, track.palm_score)
            (followed.append((track, hand)) if hand is not None else self.finished.append(track))
        self.tracks = [track for track, _ in followed]
        if not self.tracks or self._frame % self.redetect_every == 0:
            for hand in self.detector.detect(image):
                if not any(self.detector.same_hand(hand, other) for _, other in followed):
                    track = Track(self._next_id, hand.keypoints, hand.palm_score, self.make_filters())
                    self._next_id += 1
                    self.tracks.append(track)
                    followed.append((track, hand))
        for track, hand in followed:
            track.keypoints = hand.keypoints
        self._frame += 1
        return followed


def tracked_frames(frames: Iterable[tuple[object, np.ndarray]], tracker: HandTracker,
                   ahead: bool) -> Iterator[tuple[object, np.ndarray, list[tuple[Track, HandDetection]]]]:
    """(key, image, :meth:`HandTracker.update` of it) for each (key, (H, W, 3) uint8 RGB image)
    of ``frames``, in order. ``ahead``: the next frame is tracked in a second thread while the
    caller handles the current one; each frame is still tracked after the one before it, so the
    answers are the same as without."""
    if not ahead:
        for key, image in frames:
            yield key, image, tracker.update(image)
        return
    frames = iter(frames)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker") as pool:
        pending = [(key, image, pool.submit(tracker.update, image)) for key, image in itertools.islice(frames, 1)]
        while pending:
            key, image, future = pending.pop()
            followed = future.result()
            pending = [(k, i, pool.submit(tracker.update, i)) for k, i in itertools.islice(frames, 1)]
            yield key, image, followed


class SilhouetteSchedule:
    """The registration's silhouette step on every ``every``-th frame (``VIDEO.SILHOUETTE_EVERY``),
    and on any frame with a track that has not had one yet.

    The 2D step fixes the ray through the hand's root; the silhouette step mostly corrects the
    distance along it, which changes slowly from frame to frame. So a frame without the step
    moves each hand along its ray by its track's last correction (the fused over the 2D-only
    distance from the camera), which keeps the hand's projection and saves the step's cost.
    """

    def __init__(self, settings: HandSettings, every: int) -> None:
        if every < 1:
            raise ValueError(f"VIDEO.SILHOUETTE_EVERY must be at least 1, got {every}")
        if every > 1 and settings.fitting.enabled:
            raise ValueError("VIDEO.SILHOUETTE_EVERY > 1 moves the network's mesh after its registration, "
                             "which the fit does not follow: set FITTING.ENABLED False with it")
        self.every, self._frame = every, 0
        self.with_step = settings
        self.without_step = dataclasses.replace(
            settings, registration=dataclasses.replace(settings.registration, use_silhouette=False))

    def next_frame(self, followed: list[tuple[Track, HandDetection]]) -> tuple[HandSettings, bool]:
        """The settings to predict the next frame's hands with, and whether they run the step."""
        full = self._frame % self.every == 0 or any(track.depth_ratio is None for track, _ in followed)
        self._frame += 1
        return (self.with_step if full else self.without_step), full

    def carry(self, track: Track, hand: PredictedHand, full: bool) -> PredictedHand:
        """The hand as placed for its track: a full frame records its correction (a frame whose
        silhouette step could not run keeps the one before), another frame's hand is moved
        along its ray by the last one."""
        prediction = hand.prediction
        if full:
            if prediction.success and prediction.has_silhouette:
                track.depth_ratio = float(np.linalg.norm(prediction.translation) / np.linalg.norm(prediction.translation_2d))
            elif track.depth_ratio is None:  # no silhouette yet: nothing to carry
                track.depth_ratio = 1.0
            return hand
        shift = (track.depth_ratio - 1.0) * prediction.translation
        moved = dataclasses.replace(prediction, translation=prediction.translation + shift,
                                    vertices=prediction.vertices + shift, joints=prediction.joints + shift)
        return dataclasses.replace(hand, prediction=moved)


def smooth_hand(track: Track, hand: PredictedHand) -> PredictedHand:
    """The hand with its track's smoothed mesh (the fitted one when fitted); records the joints."""
    mesh_filter, joint_filter = track.filters
    joints = hand.fit["joints"] if hand.fit is not None else hand.prediction.joints
    smoothed_joints = joint_filter(joints)
    track.raw.append(np.asarray(joints, dtype=np.float64))
    track.smoothed.append(smoothed_joints)
    vertices = mesh_filter(hand.vertices)
    fit = dict(hand.fit or {}, vertices=vertices, joints=smoothed_joints)
    return dataclasses.replace(hand, fit=fit)


def _frame_record(index: int, fps: float, tracked: list[tuple[Track, PredictedHand, PredictedHand]]) -> dict:
    rounded = lambda a: np.round(np.asarray(a, dtype=np.float64), 5).tolist()  # noqa: E731
    return {"frame": index, "time_s": round(index / fps, 4), "hands": [
        {"track": track.id, "side": raw.side, "score": round(raw.detection.score, 4),
         "keypoints_px": np.round(raw.detection.keypoints, 2).tolist(),
         "joints_camera_m": rounded(smooth.fit["joints"]), "joints_camera_raw_m": rounded(track.raw[-1]),
         "wrist_camera_m": rounded(smooth.fit["joints"][0])} for track, raw, smooth in tracked]}


def jitter_summary(tracks: list[Track]) -> dict:
    """Mean jitter (mm per frame^2) of the raw and smoothed joints over tracks of 3+ frames."""
    long = [track for track in tracks if len(track.raw) >= 3]
    mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
    return {"raw_mm": mean([jitter(np.stack(t.raw)) * MM_PER_M for t in long]),
            "smoothed_mm": mean([jitter(np.stack(t.smoothed)) * MM_PER_M for t in long])}


class VideoWriter:
    """An MP4 written to a temporary name and moved into place when complete."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path, self.partial = path, path.with_name(f".{path.stem}.partial{path.suffix}")
        self.writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise ValueError(f"{path}: OpenCV cannot write an MP4 video here")

    def write(self, image_rgb: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(image_rgb[:, :, ::-1]))

    def close(self) -> None:
        self.writer.release()
        os.replace(self.partial, self.path)


def run_video(source: str, pipeline, folder: OutputFolder, cfg) -> dict:
    """Track, predict, smooth and write every frame of a video (see the module docstring);
    ``pipeline`` is the demo's :class:`cmr.engine.demo.PhotoPipeline`. Returns the summary."""
    capture, name, fps = open_video(source)
    video_cfg = cfg.VIDEO
    make_filters = lambda: tuple(OneEuroFilter(fps, float(video_cfg.MIN_CUTOFF_HZ), float(video_cfg.BETA))  # noqa: E731
                                 for _ in range(2))
    tracker = HandTracker(pipeline.detector, int(video_cfg.REDETECT_EVERY), make_filters)
    schedule = SilhouetteSchedule(pipeline.settings, int(video_cfg.SILHOUETTE_EVERY))
    writer, frames, hands_seen = None, 0, 0
    overlay_path = folder.path / f"{name}_overlay.mp4"
    folder.record(overlay_path, folder.path / f"{name}_video.json")
    stream = video_frames(capture)
    if int(video_cfg.MAX_FRAMES) > 0:
        stream = itertools.islice(stream, int(video_cfg.MAX_FRAMES))
    tracked_stream = tracked_frames(stream, tracker, bool(video_cfg.TRACK_AHEAD))
    for index, image, followed in tqdm(tracked_stream, desc=name, unit="frame", file=sys.stderr):
        if writer is None:
            K, source_of_K = read_intrinsics(Path(source), image.shape[1], image.shape[0], float(cfg.DEMO.FOV))
            writer = VideoWriter(overlay_path, fps, (image.shape[1], image.shape[0]))
        item = InputImage(f"{name}#{index}", f"{name}_{index:06d}", image, K, source_of_K)
        settings, full = schedule.next_frame(followed)
        raw_hands = [schedule.carry(track, raw, full) for (track, _), raw in
                     zip(followed, pipeline.predict(item, [hand for _, hand in followed], settings))]
        tracked = [(track, raw, smooth_hand(track, raw)) for (track, _), raw in zip(followed, raw_hands)]
        smoothed = [smooth for _, _, smooth in tracked]
        writer.write(photo_overlay(item, smoothed, pipeline.faces) if smoothed else image)
        record = folder.path / f"{item.id}.json"
        folder.record(record)
        atomic_write_json(record, _frame_record(index, fps, tracked))
        hands_seen += len(tracked)
        frames = index + 1
    capture.release()
    if writer is None:
        raise ValueError(f"{source}: no frame could be read")
    writer.close()
    tracks = tracker.finished + tracker.tracks
    summary = {"video": name, "frames": frames, "fps": fps, "K_source": source_of_K, "hands": hands_seen,
               "tracks": len(tracks), "jitter": jitter_summary(tracks)}
    atomic_write_json(folder.path / f"{name}_video.json", summary)
    return summary
