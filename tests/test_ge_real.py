"""Ge et al.'s real-world test set: the loader (shared dev subset and fake layouts), the joint
scores, the mean-pose baseline and the report files."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from cmr import REPO_ROOT
from cmr.data.ge_real import CROP_SIZE, GeRealWorld, crop_intrinsics, mirror_sample
from cmr.evaluation.ge_real import GE_SCORE_NAMES, evaluate_ge_joints, ge_joint_scores, mean_pose_baseline
from cmr.evaluation.ge_report import GE_PCK_PLOT_FILE, GE_SCORES_FILE, write_ge_report
from cmr.geometry.camera import project_points

GE_DEV = Path(os.environ.get("CMR_SHARED", REPO_ROOT.parent / "shared")) / "data" / "ge_real_dev"
CAM_PARAM = np.array([923.6, 923.8, 640.0, 362.3])


@pytest.fixture(scope="module")
def ge_dev() -> GeRealWorld:
    if not (GE_DEV / "params.mat").is_file():
        pytest.skip(f"Ge et al.'s real-world dev subset is not available at {GE_DEV}")
    return GeRealWorld(GE_DEV)


def _hand(rng: np.random.Generator, depth: float = 0.45) -> np.ndarray:
    """(21, 3) joints in metres: a hand-sized cloud around (0.01, 0.02, depth)."""
    return np.array([0.01, 0.02, depth]) + rng.normal(scale=0.03, size=(21, 3))


def _write_layout(root: Path, count: int = 3, cell_paths: bool = False, **overrides) -> dict:
    """A fake set of ``count`` images at ``root``; returns the variables written (cm, pixels)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    paths = [f"images/{index:05d}.jpg" for index in range(count)]
    for index, name in enumerate(paths):
        cv2.imwrite(str(root / name), np.full((CROP_SIZE, CROP_SIZE, 3), 40 * index, np.uint8))
    params = {"image_path": np.array(paths, dtype=object).reshape(-1, 1) if cell_paths else np.array(paths),
              "cam_param": np.tile(CAM_PARAM, (count, 1)),
              "bbox": np.array([[380 + 10 * i, 160, 490 + i, 490 + i] for i in range(count)], np.int32)}
    pose = {"pose_gt": np.stack([_hand(rng) for _ in range(count)]).astype(np.float32) * 100}
    params["pose_root"] = pose["pose_gt"][:, 0]
    params.update({key: value for key, value in overrides.items() if key != "pose_gt"})
    pose.update({key: value for key, value in overrides.items() if key == "pose_gt"})
    scipy.io.savemat(root / "params.mat", params)
    scipy.io.savemat(root / "pose_gt.mat", pose)
    return {**params, **pose}


# ---------------------------------------------------------------------------- loader


def test_dev_subset_loads_and_projects_onto_the_crops(ge_dev):
    assert len(ge_dev) == 60
    sample = ge_dev[0]
    assert sample.image.shape == (CROP_SIZE, CROP_SIZE, 3) and sample.image.dtype == np.uint8
    assert sample.K.shape == (3, 3) and sample.K.dtype == np.float64
    assert (sample.name, sample.side) == ("00000", "left")
    assert 0.3 < sample.joints[0, 2] < 0.6  # centimetres turned into metres: the wrist at ~0.42 m
    uv = project_points(ge_dev.joints, ge_dev.K)
    assert (uv > 0).all() and (uv < CROP_SIZE - 1).all()
    # The crops are square crops of the hand: the joints span a good part of each one.
    assert np.median(np.ptp(uv, axis=1).max(axis=1)) > 0.4 * CROP_SIZE


def test_mean_pose_baseline_on_the_dev_subset(ge_dev):
    scores = ge_joint_scores(mean_pose_baseline(ge_dev.joints), ge_dev.joints, ge_dev.K)
    assert scores["root_error_mm"] == pytest.approx(0.0, abs=1e-9)
    assert scores["camera_mpjpe_mm"] == pytest.approx(scores["root_relative_mpjpe_mm"])
    assert 12.0 < scores["pa_mpjpe_mm"] < 17.0  # 14.4 mm on these 60 images
    assert 30.0 < scores["root_relative_mpjpe_mm"] < 50.0


def test_fake_layout_reads_as_written(tmp_path):
    written = _write_layout(tmp_path, count=3)
    dataset = GeRealWorld(tmp_path)
    assert len(dataset) == 3 and dataset.image_paths[2] == "images/00002.jpg"
    np.testing.assert_allclose(dataset.joints, written["pose_gt"].astype(np.float64) / 100)
    x, y, w, h = written["bbox"][1]
    s = CROP_SIZE / w
    fx, fy, u0, v0 = CAM_PARAM
    expected = np.array([[fx * s, 0, (u0 - x) * s], [0, fy * s, (v0 - y) * s], [0, 0, 1]])
    np.testing.assert_allclose(dataset.K[1], expected)
    sample = dataset[2]
    assert sample.name == "00002" and abs(int(sample.image.mean()) - 80) <= 1
    # The crop's K is the frame's K followed by the crop-and-resize map.
    frame_K = np.array([[fx, 0, u0], [0, fy, v0], [0, 0, 1.0]])
    frame_uv = project_points(sample.joints, frame_K)
    x, y, w, _ = written["bbox"][2]
    np.testing.assert_allclose(project_points(sample.joints, sample.K), (frame_uv - [x, y]) * CROP_SIZE / w)


def test_cell_array_image_paths_read_the_same(tmp_path):
    _write_layout(tmp_path, count=2, cell_paths=True)
    assert GeRealWorld(tmp_path).image_paths == ["images/00000.jpg", "images/00001.jpg"]


def test_crop_intrinsics_of_a_non_square_box_scale_each_axis():
    K = crop_intrinsics(CAM_PARAM[None], np.array([[100, 50, 512, 256]]))[0]
    assert K[0, 0] == pytest.approx(CAM_PARAM[0] / 2) and K[1, 1] == pytest.approx(CAM_PARAM[1])
    assert K[0, 2] == pytest.approx((CAM_PARAM[2] - 100) / 2) and K[1, 2] == pytest.approx(CAM_PARAM[3] - 50)


def test_mirrored_sample_is_the_right_hand_view(tmp_path):
    _write_layout(tmp_path, count=1)
    sample = GeRealWorld(tmp_path)[0]
    sample = type(sample)(sample.image.copy(), sample.K, sample.joints, sample.name)
    sample.image[10, 3] = (255, 0, 0)
    mirrored = mirror_sample(sample)
    assert mirrored.side == "right"
    np.testing.assert_array_equal(mirrored.image[10, CROP_SIZE - 1 - 3], (255, 0, 0))
    uv, uv_mirrored = project_points(sample.joints, sample.K), project_points(mirrored.joints, mirrored.K)
    np.testing.assert_allclose(uv_mirrored[:, 0], CROP_SIZE - 1 - uv[:, 0])
    np.testing.assert_allclose(uv_mirrored[:, 1], uv[:, 1])
    back = mirror_sample(mirrored)
    assert back.side == "left"
    np.testing.assert_allclose(back.K, sample.K)
    np.testing.assert_allclose(back.joints, sample.joints)
    np.testing.assert_array_equal(back.image, sample.image)


@pytest.mark.parametrize("breakage, error, words", [
    (lambda root: (root / "params.mat").unlink(), FileNotFoundError, ["params.mat", "hand-graph-cnn"]),
    (lambda root: (root / "pose_gt.mat").write_bytes(b"junk"), ValueError, ["pose_gt.mat", "MATLAB"]),
    (lambda root: (root / "images" / "00001.jpg").unlink(), FileNotFoundError, ["00001.jpg", "1 of the 3"]),
])
def test_broken_files_are_named(tmp_path, breakage, error, words):
    _write_layout(tmp_path)
    breakage(tmp_path)
    with pytest.raises(error) as raised:
        GeRealWorld(tmp_path)
    assert all(word in str(raised.value) for word in words), str(raised.value)


@pytest.mark.parametrize("override, words", [
    ({"bbox": np.zeros((3, 3))}, ["params.mat", "'bbox'", "(3, 3)", "(N, 4)"]),
    ({"pose_gt": np.zeros((3, 20, 3))}, ["pose_gt.mat", "'pose_gt'", "(N, 21, 3)"]),
    ({"cam_param": np.tile(CAM_PARAM, (2, 1))}, ["disagree", "'cam_param' has 2", "'pose_gt' has 3"]),
    ({"bbox": np.array([[0, 0, 0, 0]] * 3)}, ["params.mat", "positive w, h"]),
    ({"image_path": np.array([1.0, 2.0, 3.0])}, ["params.mat", "'image_path'", "strings"]),
])
def test_unexpected_fields_are_named(tmp_path, override, words):
    _write_layout(tmp_path, **override)
    with pytest.raises(ValueError) as raised:
        GeRealWorld(tmp_path)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_missing_field_and_root_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset root not found"):
        GeRealWorld(tmp_path / "absent")
    _write_layout(tmp_path)
    params = scipy.io.loadmat(tmp_path / "params.mat")
    scipy.io.savemat(tmp_path / "params.mat", {k: v for k, v in params.items() if k not in ("bbox",) and
                                               not k.startswith("__")})
    with pytest.raises(ValueError, match=r"params.mat: no field 'bbox' \(fields present: .*cam_param"):
        GeRealWorld(tmp_path)


def test_image_of_the_wrong_size_is_named(tmp_path):
    _write_layout(tmp_path)
    cv2.imwrite(str(tmp_path / "images" / "00001.jpg"), np.zeros((100, 120, 3), np.uint8))
    dataset = GeRealWorld(tmp_path)
    with pytest.raises(ValueError, match=r"00001.jpg: image of 120x100 pixels, expected .* 256x256"):
        dataset[1]
    with pytest.raises(IndexError):
        dataset[3]


# ---------------------------------------------------------------------------- metrics


def _synthetic_set(count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(count, 21, 3) ground-truth joints (m) and (count, 3, 3) crop intrinsics."""
    rng = np.random.default_rng(1)
    gt = np.stack([_hand(rng, depth=0.35 + 0.02 * i) for i in range(count)])
    K = crop_intrinsics(np.tile(CAM_PARAM, (count, 1)), np.array([[400, 150, 480, 480]] * count))
    return gt, K


def test_a_constant_offset_is_a_camera_space_error_only():
    gt, K = _synthetic_set()
    scores = ge_joint_scores(gt + [0.006, 0.0, 0.008], gt, K)  # 10 mm
    assert scores["camera_mpjpe_mm"] == pytest.approx(10.0)
    assert scores["root_error_mm"] == pytest.approx(10.0)
    assert scores["root_relative_mpjpe_mm"] == pytest.approx(0.0, abs=1e-9)
    assert scores["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-4)
    assert scores["detection_rate"] == 1.0 and scores["images"] == scores["found"] == 8
    assert list(scores) == list(GE_SCORE_NAMES)


def test_a_known_pixel_shift():
    gt, K = _synthetic_set()
    shift_px = 3.0
    pred = gt.copy()
    pred[..., 0] += gt[..., 2] * shift_px / K[:, None, 0, 0]  # moves every projection by 3 px in u
    scores = ge_joint_scores(pred, gt, K)
    assert scores["uv_error_px"] == pytest.approx(shift_px)
    assert scores["uv_auc"] == pytest.approx(1.0 - shift_px / 30.0, abs=0.02)


def test_similarity_transforms_and_mirroring_under_procrustes():
    gt, K = _synthetic_set()
    angle = np.radians(25.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    centre = gt.mean(axis=1, keepdims=True)
    moved = (gt - centre) @ rotation.T * 1.1 + centre + [0.0, 0.0, 0.01]
    scores = ge_joint_scores(moved, gt, K)
    assert scores["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-4) and scores["root_relative_mpjpe_mm"] > 5.0
    mirrored = gt.copy()
    mirrored[..., 0] = 2 * centre[..., 0] - gt[..., 0]  # the other hand: not forgiven by the alignment
    assert ge_joint_scores(mirrored, gt, K)["pa_mpjpe_mm"] > 5.0


def test_missed_hands_count_apart_and_as_failures():
    gt, K = _synthetic_set()
    rng = np.random.default_rng(2)
    pred = gt + rng.normal(scale=0.01, size=gt.shape)
    found = np.arange(len(gt)) % 2 == 0
    with_misses = np.where(found[:, None, None], pred, np.nan)
    evaluation = evaluate_ge_joints(with_misses, gt, K)  # found inferred from the NaN rows
    subset = ge_joint_scores(pred[found], gt[found], K[found])
    scores = evaluation.scores
    assert scores["found"] == 4 and scores["detection_rate"] == 0.5
    for name in ("camera_mpjpe_mm", "root_error_mm", "pa_mpjpe_mm", "uv_error_px", "pa_auc"):
        assert scores[name] == pytest.approx(subset[name])
    for name in ("camera_auc", "root_relative_auc", "pa_auc", "uv_auc"):
        assert scores[f"{name}_all"] == pytest.approx(0.5 * scores[name])
    assert evaluate_ge_joints(pred, gt, K, found).scores == scores  # an explicit mask ignores the rows
    for key, measures in evaluation.curves.items():
        assert (np.diff(measures.pck) >= 0).all() and 0.0 <= measures.pck.min() <= measures.pck.max() <= 1.0, key


def test_no_hand_found():
    gt, K = _synthetic_set(3)
    evaluation = evaluate_ge_joints(np.full_like(gt, np.nan), gt, K)
    assert evaluation.scores["detection_rate"] == 0.0 and evaluation.scores["pa_mpjpe_mm"] is None
    assert evaluation.scores["pa_auc_all"] == 0.0 and "procrustes" not in evaluation.curves


def test_pck_grows_with_the_error_threshold_and_auc_falls_with_the_error():
    gt, K = _synthetic_set()
    rng = np.random.default_rng(3)
    noise = rng.normal(size=gt.shape)
    aucs = [ge_joint_scores(gt + sigma * noise, gt, K)["camera_auc"] for sigma in (0.0, 0.005, 0.01, 0.02)]
    assert aucs[0] == pytest.approx(1.0) and all(a > b for a, b in zip(aucs, aucs[1:]))


@pytest.mark.parametrize("change, words", [
    (lambda p, g, K, f: (p[:, :20], g, K, f), ["pred_joints", "(N, 21, 3)"]),
    (lambda p, g, K, f: (p, g, K[:3], f), ["disagree on N"]),
    (lambda p, g, K, f: (p, g, K, f.astype(int)), ["found", "bool"]),
    (lambda p, g, K, f: (np.full_like(p, np.nan), g, K, f), ["marked found", "NaN"]),
])
def test_bad_metric_inputs_are_named(change, words):
    gt, K = _synthetic_set()
    with pytest.raises(ValueError) as raised:
        evaluate_ge_joints(*change(gt.copy(), gt, K, np.ones(len(gt), bool)))
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_mean_pose_baseline_places_the_mean_at_the_true_root():
    gt, _ = _synthetic_set()
    pred = mean_pose_baseline(gt[:2], reference_joints=gt)
    np.testing.assert_allclose(pred[:, 0], gt[:2, 0])
    np.testing.assert_allclose(pred[0] - pred[0, 0], (gt - gt[:, :1]).mean(axis=0))


def test_report_files_are_written(tmp_path):
    gt, K = _synthetic_set()
    pred = np.where((np.arange(len(gt)) < 6)[:, None, None], gt + 0.004, np.nan)
    evaluation = evaluate_ge_joints(pred, gt, K)
    scores_path, plot_path = write_ge_report(evaluation.scores, evaluation.curves, tmp_path / "report")
    assert scores_path == tmp_path / "report" / GE_SCORES_FILE and plot_path.name == GE_PCK_PLOT_FILE
    written = json.loads(scores_path.read_text())
    assert list(written) == list(GE_SCORE_NAMES) and written["found"] == 6 and isinstance(written["found"], int)
    assert written["detection_rate"] == pytest.approx(0.75)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    none_found = evaluate_ge_joints(np.full_like(gt, np.nan), gt, K)
    scores_path, _ = write_ge_report(none_found.scores, none_found.curves, tmp_path / "none")
    assert json.loads(scores_path.read_text())["pa_mpjpe_mm"] is None
