"""Smoothing and the demo on a video (a clip the test renders)."""

import json

import cv2
import numpy as np
import pytest

from cmr import REPO_ROOT
from cmr.bench.video import path_error_mm, write_generated_clip
from cmr.cli import main as cli_main
from cmr.engine.smoothing import OneEuroFilter, jitter


def test_the_filter_passes_a_still_signal_and_damps_noise():
    rng = np.random.default_rng(0)
    still = OneEuroFilter(30.0, 1.0, 2.0)
    assert all(np.allclose(still(np.ones((21, 3))), 1.0) for _ in range(5))
    noisy = 0.4 + 0.005 * rng.standard_normal((90, 21, 3))
    smooth = OneEuroFilter(30.0, 1.0, 2.0)
    filtered = np.stack([smooth(sample) for sample in noisy])
    assert jitter(filtered) < 0.2 * jitter(noisy) and np.abs(filtered[30:] - 0.4).mean() < 0.002


def test_the_filter_follows_a_fast_move_with_little_lag():
    times = np.arange(60) / 30.0
    ramp = np.stack([np.stack([0.5 * times, 0 * times, 0 * times + 0.4], 1)] * 21, 1)  # 0.5 m/s
    follow = OneEuroFilter(30.0, 1.0, 2.0)
    lag = np.abs(np.stack([follow(sample) for sample in ramp]) - ramp)[30:, :, 0].mean()
    slow = OneEuroFilter(30.0, 1.0, 0.0)
    slow_lag = np.abs(np.stack([slow(sample) for sample in ramp]) - ramp)[30:, :, 0].mean()
    assert lag < 0.5 * slow_lag


def test_bad_filter_settings_and_samples_are_refused():
    with pytest.raises(ValueError, match="positive rate"):
        OneEuroFilter(0.0, 1.0, 1.0)
    smooth = OneEuroFilter(30.0, 1.0, 1.0)
    smooth(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(2,\) after \(3,\)"):
        smooth(np.zeros(2))
    assert np.isnan(jitter(np.zeros((2, 21, 3))))


@pytest.mark.slow
def test_the_demo_tracks_and_smooths_a_generated_clip(tmp_path, hand_detector):
    clip = tmp_path / "clip.avi"
    truth = write_generated_clip(clip, 16)
    output = tmp_path / "out"
    assert cli_main(["demo", "--checkpoint", str(REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"),
                     "--input", str(clip), "--output", str(output), "DEVICE", "cpu"]) == 0
    summary = json.loads((output / "clip_video.json").read_text())
    assert summary["frames"] == 16 and summary["hands"] == 16 and summary["tracks"] == 1
    assert summary["K_source"] == "K file clip_K.npy"
    assert summary["jitter"]["smoothed_mm"] < 0.5 * summary["jitter"]["raw_mm"]
    frames = [json.loads((output / f"clip_{k:06d}.json").read_text()) for k in range(16)]
    assert {hand["track"] for frame in frames for hand in frame["hands"]} == {0}
    _, raw = path_error_mm(frames, truth, "joints_camera_raw_m")
    _, smoothed = path_error_mm(frames, truth, "joints_camera_m")
    assert smoothed < 1.5 * raw  # the filter's lag on a moving hand stays small against the raw error
    video = cv2.VideoCapture(str(output / "clip_overlay.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 16 and video.read()[1].shape == (240, 320, 3)


@pytest.mark.parametrize("follow_mirrored", [True, False])
def test_tracking_ahead_gives_the_frames_tracked_in_turn(tmp_path, hand_detector, follow_mirrored):
    from cmr.detection import DetectorConfig, HandDetector
    from cmr.engine.inputs import open_video, video_frames
    from cmr.engine.video import HandTracker, tracked_frames

    write_generated_clip(tmp_path / "clip.avi", 6)
    frames = [frame for _, frame in video_frames(open_video(str(tmp_path / "clip.avi"))[0])]
    detector = HandDetector(DetectorConfig.defaults(follow_mirrored=follow_mirrored))
    answers = []
    for ahead in (False, True):
        tracker = HandTracker(detector, 4, lambda: (None, None))
        answers.append([(key, [(track.id, hand.keypoints, hand.confidence) for track, hand in followed])
                        for key, _, followed in tracked_frames(enumerate(frames), tracker, ahead)])
    (in_turn, ahead) = answers
    assert [key for key, _ in ahead] == list(range(6)) and all(len(hands) == 1 for _, hands in ahead)
    for (_, first), (_, second) in zip(in_turn, ahead):
        for (track, points, confidence), (track_2, points_2, confidence_2) in zip(first, second):
            assert track == track_2 and np.array_equal(points, points_2) and np.array_equal(confidence, confidence_2)
    followed = [hands[0][2] for _, hands in ahead[1:4]]  # frames 1-3: followed, no palm search
    assert all(confidence.shape == (21,) for confidence in followed)
    # one pass: no disagreement to lower a keypoint's confidence below the hand's presence score
    assert all((np.ptp(confidence) == 0) != follow_mirrored for confidence in followed)


def _placed_hand(translation, translation_2d, has_silhouette=True):
    from cmr.engine.hands import PredictedHand
    from cmr.models.prediction import SamplePrediction

    relative = np.random.default_rng(0).normal(scale=0.03, size=(778, 3))
    prediction = SamplePrediction(
        vertices=relative + translation, joints=relative[:21] + translation, vertices_relative=relative,
        uv=np.zeros((21, 2)), confidence=np.ones(21), mask=np.zeros((8, 8)), K=np.eye(3), input_from_image=np.eye(3),
        translation=np.asarray(translation, dtype=np.float64), translation_2d=np.asarray(translation_2d, dtype=np.float64),
        success=True, has_silhouette=has_silhouette)
    return PredictedHand(None, "right", prediction, np.zeros((21, 3)), None)


def test_the_silhouette_schedule_carries_each_tracks_depth_between_its_frames():
    from cmr.config import get_cfg
    from cmr.engine.hands import HandSettings
    from cmr.engine.video import SilhouetteSchedule, Track

    cfg = get_cfg()
    cfg.FITTING.ENABLED = False
    settings = HandSettings.from_config(cfg)
    schedule = SilhouetteSchedule(settings, 3)
    track = Track(0, np.zeros((21, 2)), 1.0, ())
    first, run = schedule.next_frame([(track, None)])
    assert run and first.registration.use_silhouette
    full = schedule.carry(track, _placed_hand([0.02, 0.0, 0.55], [0.02, 0.0, 0.5]), True)
    assert track.depth_ratio == pytest.approx(np.linalg.norm([0.02, 0.0, 0.55]) / np.linalg.norm([0.02, 0.0, 0.5]))
    assert full.prediction.translation[2] == 0.55  # a full frame's hand is left as registered
    skipped = [schedule.next_frame([(track, None)]) for _ in range(3)]
    assert [run for _, run in skipped] == [False, False, True]
    assert not skipped[0][0].registration.use_silhouette and skipped[2][0].registration.use_silhouette
    hand = _placed_hand([0.04, -0.02, 0.6], [0.04, -0.02, 0.6], has_silhouette=False)
    moved = schedule.carry(track, hand, False).prediction
    t = moved.translation
    assert t[2] == pytest.approx(0.6 * track.depth_ratio)
    np.testing.assert_allclose(t[:2] / t[2], [0.04 / 0.6, -0.02 / 0.6])  # along its ray: the same projection
    np.testing.assert_allclose(moved.vertices - t, hand.prediction.vertices - hand.prediction.translation, atol=1e-12)
    np.testing.assert_allclose(moved.joints - t, hand.prediction.joints - hand.prediction.translation, atol=1e-12)
    ratio = track.depth_ratio
    schedule.carry(track, _placed_hand([0.0, 0.0, 0.7], [0.0, 0.0, 0.6], has_silhouette=False), True)
    assert track.depth_ratio == ratio  # a full frame without a silhouette keeps the last correction
    newcomer = Track(1, np.zeros((21, 2)), 1.0, ())
    schedule.carry(newcomer, _placed_hand([0.0, 0.0, 0.7], [0.0, 0.0, 0.6], has_silhouette=False), True)
    assert newcomer.depth_ratio == 1.0  # nothing to carry yet
    newcomer.depth_ratio = None
    assert not schedule.next_frame([(track, None)])[1]  # frame 4
    assert schedule.next_frame([(track, None), (newcomer, None)])[1]  # frame 5: a new track has no depth yet


def test_the_silhouette_schedule_refuses_bad_settings():
    from cmr.config import get_cfg
    from cmr.engine.hands import HandSettings
    from cmr.engine.video import SilhouetteSchedule

    with pytest.raises(ValueError, match="FITTING.ENABLED False"):
        SilhouetteSchedule(HandSettings.from_config(get_cfg()), 2)  # the demo's defaults fit the hand
    with pytest.raises(ValueError, match="at least 1, got 0"):
        SilhouetteSchedule(HandSettings.from_config(get_cfg()), 0)
