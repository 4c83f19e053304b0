"""Golden test: the bundled checkpoint on the bundled samples, through the demo and evaluation paths.

The samples' ground truth ships in ``cmr/assets/sample_ground_truth.json``. Both paths go through
the model's one crop policy, so they must see the hand at the same scale and agree. The demo path
finds the hand with the offline detector (skipped when it is not installed); its figures are over
the samples the detector found. The bounds are the figures ``python -m cmr bench paths`` measured
for the bundled checkpoint (README), plus a margin.
"""

import numpy as np
import pytest

from cmr.bench.paths import compare_paths

#: Mean distance (mm) between the demo path's and the evaluation path's camera-space meshes
#: (measured 33.0 over the 5 samples found, 3.4-84.0 per sample, with the four-stage lite model of
#: configs/lite_real_fresh.yaml; 21.7 with its first three stages, 49.2 with two, 32.8 with its
#: stage 1 alone; 38.2 with the compact model).
AGREEMENT_MM = 60.0
#: Mean camera-space vertex error (mm) of either path against the ground truth (measured 54.2
#: demo, 46.0 evaluation).
CAMERA_MPVPE_MM = 160.0
#: Mean Procrustes-aligned vertex error (mm) of either path (measured 11.3 and 11.0).
PA_MPVPE_MM = 24.0
#: How much of the demo's input side the hand fills, per sample found (measured 0.71-0.85, mean
#: 0.78 (0.785); training crops: 1 / (BOX_SCALE +- SCALE_JITTER) = 0.67-0.91). The re-crop keeps the
#: silhouette near the detector's keypoints, so a raised finger (sample 0005) stays in.
DEMO_FILL = (0.6, 0.95)
#: Samples where the detector finds no hand (measured 1: 0004). The detector is deterministic
#: and not trained with the model, so no margin.
MAX_MISSED = 1


@pytest.fixture(scope="module")
def comparison(hand_detector):
    return compare_paths()


def test_the_detector_finds_the_samples_as_right_hands(comparison):
    assert len(comparison.missed) <= MAX_MISSED, comparison.missed
    assert all(side == "right" for side, found in zip(comparison.sides, comparison.found) if found), comparison.sides


def test_the_demo_frames_the_hand_as_training_does(comparison):
    fill = comparison.fill["demo"][comparison.found]
    assert ((fill > DEMO_FILL[0]) & (fill < DEMO_FILL[1])).all(), fill


def test_demo_and_evaluation_agree_and_stay_accurate(comparison):
    assert np.nanmean(comparison.agreement_mm) < AGREEMENT_MM
    for path in ("demo", "eval"):
        assert np.nanmean(comparison.camera_mm[path]) < CAMERA_MPVPE_MM, path
        assert np.nanmean(comparison.pa_mm[path]) < PA_MPVPE_MM, path
