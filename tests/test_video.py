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
