"""Small versions of the registration accuracy benchmark (``python -m cmr bench registration_accuracy``).

16 real hand meshes of the open hand model, framed by the crop policy in FreiHAND-like 224 px
crops, with silhouettes rasterised from the meshes (:mod:`cmr.bench.registration_scenes`). Each
bound is one the registration before the trust-weighted fusion failed (figures of both in the
comments: new / old).
"""

import math

import pytest
import torch

from cmr.bench.registration_scenes import CASES, case_inputs, make_scene, soft_silhouette
from cmr.registration import RegistrationConfig, register, robust_noise_px, silhouette_pad_px

CASE = {case.name: case for case in CASES}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene():
    return make_scene(16, 3)


def _run(scene, name: str):
    """The registration of one case, and (B,) errors in mm of its 2D, 1D and fused translations."""
    uv, confidence, mask = case_inputs(scene, CASE[name], 4)
    result = register(scene.vertices, scene.joints, uv, confidence, scene.K, mask)
    errors = [(t - scene.t).norm(dim=1) * 1e3 for t in
              (result.translation_2d, result.translation_1d, result.translation)]
    return result, *errors


def test_clean_joints_keep_their_inliers_and_the_silhouette_wins(scene):
    result, error_2d, error_1d, fused = _run(scene, "clean")
    assert result.inliers.sum(1).float().mean() > 20.5  # 20.9 / 16.2: 2 px noise is no outlier
    assert error_1d.mean() < 1.5  # 0.6 / 1.0
    assert fused.mean() < 0.5 * error_2d.mean()  # 0.7 vs 5.0 / 6.1 vs 6.1 (weight 0)


def test_outlying_joints_are_dropped_and_the_good_ones_kept(scene):
    result, error_2d, _, _ = _run(scene, "3 joints 20 px off")
    _, clean_2d, _, _ = _run(scene, "clean")
    moved = (case_inputs(scene, CASE["3 joints 20 px off"], 4)[0]
             - case_inputs(scene, CASE["clean"], 4)[0]).norm(dim=-1) > 10.0
    assert moved.sum(1).eq(3).all() and not (result.inliers & moved).any()
    good_dropped = (~result.inliers & ~moved).sum(1).float().mean()
    assert good_dropped < 0.5  # 0.25 / 3.7 per hand
    assert error_2d.mean() < 1.5 * clean_2d.mean()


def test_low_confidence_joints_barely_move_the_2d_answer(scene):
    _, error_2d, _, _ = _run(scene, "6 low-confidence joints")
    _, clean_2d, _, _ = _run(scene, "clean")
    assert error_2d.mean() < 1.1 * clean_2d.mean()  # 5.3 vs 5.0 / 7.0 vs 6.1


@pytest.mark.parametrize("name", ["clean", "soft silhouette"])
def test_silhouette_depth_is_unbiased_for_hard_and_soft_masks(scene, name):
    result, _, error_1d, _ = _run(scene, name)
    bias_mm = ((result.translation_1d - scene.t)[:, 2] * 1e3).mean()
    assert abs(bias_mm) < 0.5  # +0.11 both / +0.97 hard, -3.07 soft
    assert error_1d.mean() < 1.5


@pytest.mark.parametrize("name", ["eroded 2 px", "dilated 2 px"])
def test_eroded_and_dilated_silhouettes(scene, name):
    _, error_2d, error_1d, fused = _run(scene, name)
    assert error_1d.mean() < 6.0  # 3.1 and 3.3 / 20.0 and 16.3: the edge offset is modelled
    assert fused.mean() < error_2d.mean()


def test_a_forearm_does_not_drag_the_answer(scene):
    result, error_2d, error_1d, fused = _run(scene, "forearm")
    assert error_1d.mean() < 10.0  # 3.8 / 16.4
    assert fused.mean() < error_2d.mean()  # 2.8 vs 5.0 / 15.5 vs 6.1
    assert (fused - error_2d).max() < 8.0  # 5.3 / 64.5 mm


def test_robust_noise_estimate_ignores_outliers():
    generator = torch.Generator().manual_seed(0)
    sigma = 2.0
    error = (sigma * torch.randn(200, 21, 2, generator=generator, dtype=torch.float64)).norm(dim=-1)
    error[:, :3] += 20.0  # 3 outliers per row
    inliers = torch.ones_like(error, dtype=torch.bool)
    estimate = robust_noise_px(error, inliers)
    assert math.isclose(estimate.mean().item(), sigma * math.sqrt(42 / 39), rel_tol=0.12)
    assert (robust_noise_px(error, inliers & (torch.arange(21) < 1)) == 0).all()  # one joint


def test_the_edge_model_follows_how_the_mask_was_made(scene):
    config = RegistrationConfig.defaults()
    hard = silhouette_pad_px(scene.mask[:2], config)
    soft = silhouette_pad_px(soft_silhouette(scene.mask[:2]), config)
    binary = silhouette_pad_px(scene.mask[:2].double(), config)  # a hard mask as floats
    assert torch.allclose(hard, torch.full((2,), config.silhouette_pad_px))
    assert torch.allclose(binary.float(), hard)
    spread = (0.5 - config.mask_threshold) * config.silhouette_edge_width_px
    assert torch.allclose(soft, torch.full((2,), config.silhouette_pad_px - spread, dtype=torch.float64))
