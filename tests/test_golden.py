"""Golden test: the bundled checkpoint on the bundled samples, through the demo and evaluation paths.

The samples' ground truth ships in ``cmr/assets/sample_ground_truth.json``. Both paths go through
the model's one crop policy, so they must see the hand at the same scale and agree. The bounds are
the figures ``python -m cmr bench paths`` measured for the bundled checkpoint (README), plus a margin.
"""

import pytest

from cmr.bench.paths import compare_paths

#: Mean distance (mm) between the demo path's and the evaluation path's camera-space meshes
#: (measured 15.9; the whole-image demo of before measured 157.9).
AGREEMENT_MM = 30.0
#: Mean camera-space vertex error (mm) of either path against the ground truth (measured 120.7
#: demo, 125.7 evaluation; the whole-image demo of before 279.1).
CAMERA_MPVPE_MM = 170.0
#: Mean Procrustes-aligned vertex error (mm) of either path (measured 20.0 and 19.5).
PA_MPVPE_MM = 27.0
#: How much of the demo's input side the hand fills, per sample (measured 0.59-0.83, mean 0.71;
#: training crops: 1 / (BOX_SCALE +- SCALE_JITTER) = 0.67-0.91; the whole-image demo of before
#: 0.38-0.49).
DEMO_FILL = (0.5, 0.95)


@pytest.fixture(scope="module")
def comparison():
    return compare_paths()


def test_the_demo_frames_the_hand_as_training_does(comparison):
    fill = comparison.fill["demo"]
    assert ((fill > DEMO_FILL[0]) & (fill < DEMO_FILL[1])).all(), fill


def test_demo_and_evaluation_agree_and_stay_accurate(comparison):
    assert comparison.agreement_mm.mean() < AGREEMENT_MM
    for path in ("demo", "eval"):
        assert comparison.camera_mm[path].mean() < CAMERA_MPVPE_MM, path
        assert comparison.pa_mm[path].mean() < PA_MPVPE_MM, path
