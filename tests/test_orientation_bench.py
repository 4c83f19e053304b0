"""The error decomposition of ``python -m cmr bench orientation`` on joints with known errors."""

import numpy as np
import pytest
import torch

from cmr.bench.orientation import error_parts
from cmr.hand.conventions import hand_size


def _hands(count: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    joints = rng.normal(0.0, 0.04, size=(count, 21, 3))
    return joints - joints[:, :1]


def _about_z(degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])


def test_a_scaled_copy_is_all_size():
    gt = _hands()
    parts = error_parts(gt * 0.8, gt)
    assert parts["mpjpe_mm"] > 5.0
    assert parts["scaled_mm"] == pytest.approx(0.0, abs=1e-6) and parts["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-4)
    assert parts["size_ratio_median"] == pytest.approx(0.8) and parts["size_correlation"] == pytest.approx(1.0)
    assert parts["angle_percentiles_deg"][90] == pytest.approx(0.0, abs=1e-4)


def test_a_rotated_copy_is_all_rotation_and_its_angle_is_found():
    gt = _hands()
    half = len(gt) // 2
    pred = gt.copy()
    pred[:half] = gt[:half] @ _about_z(30.0).T
    pred[half:] = gt[half:] @ _about_z(120.0).T
    parts = error_parts(pred, gt)
    assert parts["rotated_mm"] == pytest.approx(0.0, abs=1e-6)
    assert parts["scaled_mm"] > 5.0
    assert parts["angle_percentiles_deg"][25] == pytest.approx(30.0, abs=1e-4)
    assert parts["angle_percentiles_deg"][90] == pytest.approx(120.0, abs=1e-4)
    assert parts["share_beyond_90_deg"] == pytest.approx(0.5)


def test_hand_size_sums_the_twenty_bones():
    joints = np.zeros((1, 21, 3))
    joints[0, 1:, 0] = 0.01  # every keypoint but the wrist 1 cm along x
    # bones from the wrist: 5 of 1 cm; bones within a digit: 15 of length 0
    assert hand_size(joints)[0] == pytest.approx(0.05)
    assert float(hand_size(torch.from_numpy(joints))[0]) == pytest.approx(0.05)  # torch tensors alike
