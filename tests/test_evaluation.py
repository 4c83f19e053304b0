"""FreiHAND metrics on hand-computed cases, the official quirks, and the submission/ground-truth/score files."""

import json
import zipfile

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from cmr.evaluation import freihand, metrics
from cmr.evaluation.freihand import (
    KEYPOINT_SCORE_NAMES,
    SCORE_NAMES,
    evaluate,
    evaluate_keypoints_with_curves,
    evaluate_with_curves,
    load_ground_truth,
    load_submission,
    read_ground_truth,
    write_submission,
    zip_submission,
)
from cmr.evaluation.metrics import (
    PCK_THRESHOLDS_M,
    align_w_scale,
    align_with_keypoint_fit,
    f_score,
    fit_similarity,
    pck_per_point,
    point_errors,
    point_measures,
)
from cmr.evaluation.scoring import plot_pck, write_scores

#: Official aligned AUC of a perfect prediction: the +1e-8 leaves ~1e-9 m, so pck(0) = 0.
PERFECT_ALIGNED_AUC = 1.0 - 0.5 / 99.0


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A random proper rotation (3, 3)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _hands(rng: np.random.Generator, count: int, num_points: int) -> np.ndarray:
    """(count, num_points, 3) hand-sized point clouds ~0.6 m in front of the camera, metres."""
    return rng.normal(0.0, 0.04, (count, num_points, 3)) + np.array([0.0, 0.0, 0.6])


@pytest.fixture
def gt() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return _hands(rng, 4, 21), _hands(rng, 4, 778)


def test_procrustes_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    gt_points = _hands(rng, 3, 21)
    rotation, scale, shift = _rotation(rng), 1.7, np.array([0.1, -0.2, 0.3])
    pred = gt_points @ rotation.T * scale + shift
    aligned = align_w_scale(gt_points, pred)
    assert np.abs(point_errors(gt_points, aligned)).max() < 1e-8
    fit = fit_similarity(gt_points, pred, eps=0.0)
    np.testing.assert_allclose(fit.rotation, np.broadcast_to(rotation.T, (3, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(fit.scale * fit.gt_norm / fit.pred_norm, 1.0 / scale, rtol=1e-12)


def test_batched_fit_matches_scipy_orthogonal_procrustes():
    rng = np.random.default_rng(8)
    gt_points, pred = _hands(rng, 3, 21), _hands(rng, 3, 21)
    fit = fit_similarity(gt_points, pred)
    for index in range(3):
        gt_n = (gt_points[index] - gt_points[index].mean(0)) / fit.gt_norm[index]
        pred_n = (pred[index] - pred[index].mean(0)) / fit.pred_norm[index]
        rotation, scale = orthogonal_procrustes(gt_n, pred_n)
        np.testing.assert_allclose(fit.rotation[index], rotation, atol=1e-12)
        assert fit.scale[index] == pytest.approx(scale, abs=1e-12)


def test_quirk_procrustes_allows_reflections():
    rng = np.random.default_rng(1)
    gt_points = _hands(rng, 2, 21)
    mirrored = gt_points * np.array([-1.0, 1.0, 1.0])
    official = point_errors(gt_points, align_w_scale(gt_points, mirrored))
    proper = point_errors(gt_points, align_w_scale(gt_points, mirrored, allow_reflection=False))
    assert official.max() < 1e-8
    assert proper.mean() > 0.01


def test_quirk_norm_eps_shrinks_a_perfect_prediction():
    # Both norms get +1e-8, so the fitted scale is (n / (n + 1e-8))^2 instead of 1.
    gt_points = _hands(np.random.default_rng(2), 2, 21)
    centred = gt_points - gt_points.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=(1, 2))[:, None, None]
    expected_shift = -centred * (1.0 - (norm / (norm + 1e-8)) ** 2)    # ~1e-9 m
    np.testing.assert_allclose(align_w_scale(gt_points, gt_points) - gt_points, expected_shift, atol=1e-15)


def test_quirk_norm_eps_keeps_perfect_aligned_auc_below_one(gt):
    gt_xyz, gt_verts = gt
    scores = evaluate(gt_xyz, gt_verts, gt_xyz, gt_verts)
    assert scores["xyz_auc3d"] == 1.0 and scores["mesh_auc3d"] == 1.0
    assert scores["xyz_mean3d"] == 0.0
    assert scores["xyz_al_auc3d"] == pytest.approx(PERFECT_ALIGNED_AUC, abs=1e-12)
    assert scores["mesh_al_auc3d"] == pytest.approx(PERFECT_ALIGNED_AUC, abs=1e-12)
    assert 0.0 < scores["xyz_al_mean3d"] < 1e-5
    assert all(scores[name] == 1.0 for name in ("f_score_5", "f_al_score_5", "f_score_15", "f_al_score_15"))


def test_unaligned_error_of_a_constant_offset_is_the_offset(gt):
    gt_xyz, gt_verts = gt
    offset = np.array([0.003, 0.004, 0.0])  # 5 mm
    scores = evaluate(gt_xyz + offset, gt_verts + offset, gt_xyz, gt_verts)
    assert scores["xyz_mean3d"] == pytest.approx(0.5, abs=1e-12)
    assert scores["mesh_mean3d"] == pytest.approx(0.5, abs=1e-12)
    assert scores["xyz_al_mean3d"] < 1e-5  # a translation aligns away


def test_auc_is_one_for_zero_errors_and_zero_beyond_the_range():
    assert point_measures(np.zeros((5, 21))).auc == 1.0
    beyond = point_measures(np.full((5, 21), 0.0501))
    assert beyond.auc == 0.0 and beyond.mean_m == pytest.approx(0.0501)
    np.testing.assert_array_equal(beyond.pck, 0.0)


def test_pck_and_auc_by_hand():
    # One point, four samples, thresholds 0, 1, 2: PCK = 1/4, 3/4, 3/4 (<= counts the error of 1).
    thresholds = np.array([0.0, 1.0, 2.0])
    errors = np.array([[0.0], [0.5], [1.0], [3.0]])
    measures = point_measures(errors, thresholds)
    np.testing.assert_allclose(measures.pck, [0.25, 0.75, 0.75])
    # ((0.25 + 0.75) / 2 + (0.75 + 0.75) / 2) / 2
    assert measures.auc == pytest.approx(0.625)
    assert measures.mean_m == pytest.approx(1.125)


def test_quirk_pck_counts_errors_equal_to_the_threshold():
    # An error exactly on threshold 50 of 100 counts from there on: area (0.5 + 49) / 99 = 0.5.
    # With a strict < it would start one step later: 48.5 / 99.
    measures = point_measures(np.array([[PCK_THRESHOLDS_M[50]]]))
    assert measures.pck[49] == 0.0 and measures.pck[50] == 1.0
    assert measures.auc == pytest.approx(0.5, abs=1e-12)


def test_pck_matches_the_definition_per_threshold():
    rng = np.random.default_rng(3)
    errors = rng.uniform(0.0, 0.06, (40, 7))
    errors[0, :] = PCK_THRESHOLDS_M[[0, 10, 20, 30, 40, 50, 99]]
    expected = np.stack([(errors[:, p, None] <= PCK_THRESHOLDS_M).mean(axis=0) for p in range(7)])
    np.testing.assert_array_equal(pck_per_point(errors), expected)


def test_f_score_of_identical_and_far_point_sets():
    rng = np.random.default_rng(4)
    points = rng.normal(0.0, 0.04, (100, 3))
    np.testing.assert_array_equal(f_score(points, points), [1.0, 1.0])
    np.testing.assert_array_equal(f_score(points, points + np.array([0.0, 0.0, 0.5])), [0.0, 0.0])


def test_f_score_by_hand():
    # GT: 4 points 1 m apart. Prediction: 1 mm from GT 0 and GT 1, plus one point 10 m away.
    # Official "precision" (GT points matched) = 2/4, "recall" (predictions near GT) = 2/3:
    # F = 2 * 1/2 * 2/3 / (1/2 + 2/3) = 4/7, at both thresholds.
    gt_points = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]])
    pred = np.array([[0.0, 0.001, 0], [1.0, 0.001, 0], [10.0, 0, 0]])
    np.testing.assert_allclose(f_score(gt_points, pred), [4 / 7, 4 / 7])


def test_quirk_f_score_threshold_is_strict():
    # Points 1 m apart, prediction exactly 5 mm off in x: not counted at 5 mm, counted at 15 mm.
    gt_points = np.array([[0.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1]])
    np.testing.assert_array_equal(f_score(gt_points, gt_points + np.array([0.005, 0, 0])), [0.0, 1.0])


def test_quirk_non_mano_prediction_uses_the_buggy_keypoint_transform(gt):
    gt_xyz, gt_verts = gt
    rng = np.random.default_rng(5)
    rotation, scale, shift = _rotation(rng), 1.3, np.array([0.02, 0.01, 0.05])
    pred_xyz = gt_xyz @ rotation.T * scale + shift
    pred_verts = gt_verts[:, :500] @ rotation.T * scale + shift  # a "non-MANO" 500-point mesh
    official = evaluate(pred_xyz, pred_verts, gt_xyz, gt_verts)
    corrected = evaluate(pred_xyz, pred_verts, gt_xyz, gt_verts, fix_non_mano_alignment=True)
    for name in ("mesh_mean3d", "mesh_al_mean3d"):
        assert official[name] == -100.0
    for name in ("mesh_auc3d", "mesh_al_auc3d"):
        assert official[name] == -1.0
    # The corrected transform puts every predicted vertex back on its GT vertex; the official
    # one shrinks the mesh by the keypoints' norm (~0.4 here), so far fewer vertices match.
    on_gt = np.mean([f_score(g, g[:500]) for g in gt_verts], axis=0)
    assert [corrected["f_al_score_5"], corrected["f_al_score_15"]] == pytest.approx(on_gt, abs=1e-12)
    assert official["f_al_score_5"] < 0.5 * corrected["f_al_score_5"]


def test_official_keypoint_transform_on_vertices_misses_the_prediction_norm():
    rng = np.random.default_rng(6)
    gt_xyz, pred_xyz, verts = _hands(rng, 2, 21), _hands(rng, 2, 21), _hands(rng, 2, 50)
    fit = fit_similarity(gt_xyz, pred_xyz)
    official = align_with_keypoint_fit(verts, fit)
    corrected = align_with_keypoint_fit(verts, fit, official=False)

    def spread(points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - points.mean(axis=1, keepdims=True), axis=(1, 2))

    np.testing.assert_allclose(spread(official) / spread(corrected), fit.pred_norm, rtol=1e-10)


def test_scores_have_the_official_names_in_order(gt):
    gt_xyz, gt_verts = gt
    result = evaluate_with_curves(gt_xyz + 0.01, gt_verts + 0.01, gt_xyz, gt_verts)
    assert tuple(result.scores) == SCORE_NAMES
    assert set(result.curves) == {"xyz", "xyz_al", "mesh", "mesh_al"}
    assert all(isinstance(value, float) for value in result.scores.values())


def test_mismatched_counts_and_shapes_raise_clear_errors(tmp_path, gt):
    gt_xyz, gt_verts = gt
    with pytest.raises(ValueError, match="3 keypoint predictions for 4 ground-truth samples"):
        evaluate(gt_xyz[:3], gt_verts, gt_xyz, gt_verts)
    with pytest.raises(ValueError, match="5 mesh predictions for 4 ground-truth samples"):
        evaluate(gt_xyz, np.concatenate([gt_verts, gt_verts[:1]]), gt_xyz, gt_verts)
    with pytest.raises(ValueError, match=r"predicted keypoints: expected shape \(N, 21, 3\)"):
        evaluate(gt_xyz[:, :20], gt_verts, gt_xyz, gt_verts)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.full_like(gt_xyz, np.nan), gt_verts, gt_xyz, gt_verts)
    with pytest.raises(ValueError, match="ragged"):
        ragged = [np.zeros((21, 3)), np.zeros((20, 3))]
        write_submission(tmp_path / "pred.json", ragged, [np.zeros((778, 3))] * 2)


def test_submission_json_and_zip_round_trip(tmp_path, gt):
    gt_xyz, gt_verts = gt
    xyz, verts = gt_xyz + 1.23456789e-7, gt_verts
    json_path = write_submission(tmp_path / "cmr.json", list(xyz), list(verts))
    content = json.loads(json_path.read_text())
    assert len(content) == 2
    assert np.shape(content[0]) == (4, 21, 3) and np.shape(content[1]) == (4, 778, 3)
    first = zip_submission(json_path, tmp_path / "a.zip").read_bytes()
    second = zip_submission(json_path, tmp_path / "b.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == ["pred.json"]
        assert archive.read("pred.json") == json_path.read_bytes()
    loaded_xyz, loaded_verts = load_submission(tmp_path / "a.zip")
    np.testing.assert_array_equal(loaded_xyz, np.round(xyz, 6))
    np.testing.assert_array_equal(loaded_verts, np.round(verts, 6))
    assert np.abs(loaded_xyz - xyz).max() <= 5e-7


def _write_ground_truth(root, xyz, verts) -> None:
    (root / "evaluation_xyz.json").write_text(json.dumps(np.asarray(xyz).tolist()))
    (root / "evaluation_verts.json").write_text(json.dumps(np.asarray(verts).tolist()))


def test_load_ground_truth_and_its_errors(tmp_path, gt):
    gt_xyz, gt_verts = gt
    with pytest.raises(FileNotFoundError, match="evaluation_xyz.json"):
        load_ground_truth(tmp_path)
    _write_ground_truth(tmp_path, gt_xyz, gt_verts)
    xyz, verts = load_ground_truth(tmp_path)
    np.testing.assert_array_equal(xyz, gt_xyz)
    np.testing.assert_array_equal(verts, gt_verts)
    _write_ground_truth(tmp_path, gt_xyz, gt_verts[:3])
    with pytest.raises(ValueError, match="holds 4 samples but .*evaluation_verts.json holds 3"):
        load_ground_truth(tmp_path)
    _write_ground_truth(tmp_path, gt_xyz, gt_verts[:, :777])
    with pytest.raises(ValueError, match=r"verts.json: expected shape \(N, 778, 3\), got \(4, 777, 3\)"):
        load_ground_truth(tmp_path)


def test_write_scores_is_atomic(tmp_path, monkeypatch, gt):
    gt_xyz, gt_verts = gt
    scores = evaluate(gt_xyz, gt_verts, gt_xyz, gt_verts)
    path = write_scores(tmp_path / "scores.json", scores)
    assert json.loads(path.read_text()) == scores
    before = path.read_bytes()

    def failing_fsync(_fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("cmr.fileio.os.fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_scores(path, {name: 0.0 for name in scores})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.json"]


def test_plot_pck_writes_a_png_also_without_mesh_curves(tmp_path, gt):
    gt_xyz, gt_verts = gt
    full = evaluate_with_curves(gt_xyz + 0.005, gt_verts + 0.005, gt_xyz, gt_verts)
    keypoints_only = evaluate_with_curves(gt_xyz + 0.005, gt_verts[:, :100], gt_xyz, gt_verts)
    assert set(keypoints_only.curves) == {"xyz", "xyz_al"}
    for name, result in (("full.png", full), ("keypoints.png", keypoints_only)):
        data = plot_pck(result.curves, tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


def test_module_constants_match_the_official_settings():
    assert metrics.F_SCORE_THRESHOLDS_M == (0.005, 0.015)
    assert PCK_THRESHOLDS_M.shape == (100,) and PCK_THRESHOLDS_M[0] == 0.0 and PCK_THRESHOLDS_M[-1] == 0.05
    assert freihand.SUBMISSION_MEMBER == "pred.json"


def test_ground_truth_with_700_vertices_is_an_error_naming_file_and_shape(tmp_path, gt):
    gt_xyz, gt_verts = gt
    _write_ground_truth(tmp_path, gt_xyz, gt_verts[:, :700])
    expected = r"evaluation_verts.json: expected shape \(N, 778, 3\), got \(4, 700, 3\)"
    with pytest.raises(ValueError, match=expected):
        read_ground_truth(tmp_path)


def test_read_ground_truth_reports_missing_files_and_keeps_float64(tmp_path, gt):
    gt_xyz, gt_verts = gt
    _write_ground_truth(tmp_path, gt_xyz, gt_verts)
    (tmp_path / "evaluation_verts.json").unlink()
    ground_truth = read_ground_truth(tmp_path)
    assert ground_truth.xyz.dtype == np.float64
    np.testing.assert_array_equal(ground_truth.xyz, gt_xyz)  # exactly as stored, not via float32
    assert ground_truth.verts is None and ground_truth.missing == (tmp_path / "evaluation_verts.json",)
    with pytest.raises(FileNotFoundError, match="evaluation_verts.json not found"):
        load_ground_truth(tmp_path)
    (tmp_path / "evaluation_xyz.json").unlink()
    assert len(read_ground_truth(tmp_path).missing) == 2
    with pytest.raises(FileNotFoundError, match="no_such_folder: folder not found"):
        read_ground_truth(tmp_path / "no_such_folder")


def test_broken_json_errors_name_the_file(tmp_path, gt):
    gt_xyz, gt_verts = gt
    _write_ground_truth(tmp_path, gt_xyz, gt_verts)
    (tmp_path / "evaluation_verts.json").write_text("[[[0.1, 0.2")
    with pytest.raises(ValueError, match=r"evaluation_verts.json is not valid JSON .*expected a list of M x 778 x 3"):
        read_ground_truth(tmp_path)
    (tmp_path / "evaluation_xyz.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="evaluation_xyz.json is not valid JSON"):
        read_ground_truth(tmp_path)
    with zipfile.ZipFile(tmp_path / "pred.zip", "w") as archive:
        archive.writestr("pred.json", "[[1, 2")
    with pytest.raises(ValueError, match=r"pred.zip:pred.json is not valid JSON"):
        load_submission(tmp_path / "pred.zip")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("predictions.json", "[]")
    with pytest.raises(ValueError, match=r"other.zip has no member 'pred.json'"):
        load_submission(tmp_path / "other.zip")
    with pytest.raises(FileNotFoundError, match="missing.zip not found: expected a submission"):
        load_submission(tmp_path / "missing.zip")


def test_keypoint_scores_alone_equal_those_of_the_full_evaluation(gt):
    gt_xyz, gt_verts = gt
    rng = np.random.default_rng(9)
    pred_xyz = gt_xyz + rng.normal(0.0, 0.01, gt_xyz.shape)
    full = evaluate_with_curves(pred_xyz, gt_verts, gt_xyz, gt_verts)
    keypoints = evaluate_keypoints_with_curves(pred_xyz, gt_xyz)
    assert keypoints.scores == {name: full.scores[name] for name in KEYPOINT_SCORE_NAMES}
    assert set(keypoints.curves) == {"xyz", "xyz_al"}
    with pytest.raises(ValueError, match="3 keypoint predictions for 4 ground-truth samples"):
        evaluate_keypoints_with_curves(pred_xyz[:3], gt_xyz)
