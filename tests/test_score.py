"""Scores are the server's: the written submission against the stored ground truth, checked against
an independent transcription of the official FreiHAND definitions; the score command; the
evaluation folder (stale outputs, unwritable folders)."""

import json
import os
import re
import shutil
import zipfile

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import cKDTree

from cmr import REPO_ROOT
from cmr.cli import main as cli_main
from cmr.evaluation import (
    KEYPOINT_SCORE_NAMES,
    MESH_SCORE_NAMES,
    SCORE_NAMES,
    evaluate,
    score_submission,
    write_submission,
    zip_submission,
)

SAMPLES = 5


# ---------------------------------------------------------------- the official definitions, per sample
def official_align(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """align_w_scale: (P, 3) gt and pred, metres -> (P, 3) aligned pred."""
    gt_mean, pred_mean = gt.mean(axis=0), pred.mean(axis=0)
    gt_norm = np.linalg.norm(gt - gt_mean) + 1e-8
    pred_norm = np.linalg.norm(pred - pred_mean) + 1e-8
    rotation, scale = orthogonal_procrustes((gt - gt_mean) / gt_norm, (pred - pred_mean) / pred_norm)
    return ((pred - pred_mean) / pred_norm) @ rotation.T * scale * gt_norm + gt_mean


def official_mean_and_auc(errors: np.ndarray) -> tuple[float, float]:
    """(N, P) errors in metres -> (mean over samples then points, in cm; per-point AUC averaged)."""
    thresholds = np.linspace(0.0, 0.05, 100)
    means, aucs = [], []
    for point in range(errors.shape[1]):
        pck = np.array([np.mean(errors[:, point] <= t) for t in thresholds])
        aucs.append(np.trapezoid(pck, thresholds) / np.trapezoid(np.ones_like(thresholds), thresholds))
        means.append(np.mean(errors[:, point]))
    return float(np.mean(means)) * 100.0, float(np.mean(aucs))


def official_f_score(gt: np.ndarray, pred: np.ndarray, threshold: float) -> float:
    """calculate_fscore on (V, 3) / (W, 3) point sets, metres."""
    gt_to_pred = cKDTree(pred).query(gt, k=1)[0]
    pred_to_gt = cKDTree(gt).query(pred, k=1)[0]
    precision, recall = np.mean(gt_to_pred < threshold), np.mean(pred_to_gt < threshold)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def official_scores(pred_xyz, pred_verts, gt_xyz, gt_verts) -> dict:
    """The official scores.txt values of MANO predictions, every input float64 (N, P, 3) metres."""
    errors = {key: [] for key in ("xyz", "xyz_al", "mesh", "mesh_al")}
    f_values = {key: [] for key in ("f_score_5", "f_al_score_5", "f_score_15", "f_al_score_15")}
    for xyz, verts, xyz_gt, verts_gt in zip(pred_xyz, pred_verts, gt_xyz, gt_verts):
        verts_al = official_align(verts_gt, verts)
        errors["xyz"].append(np.linalg.norm(xyz_gt - xyz, axis=1))
        errors["xyz_al"].append(np.linalg.norm(xyz_gt - official_align(xyz_gt, xyz), axis=1))
        errors["mesh"].append(np.linalg.norm(verts_gt - verts, axis=1))
        errors["mesh_al"].append(np.linalg.norm(verts_gt - verts_al, axis=1))
        for millimetres in (5, 15):
            f_values[f"f_score_{millimetres}"].append(official_f_score(verts_gt, verts, millimetres / 1000))
            f_values[f"f_al_score_{millimetres}"].append(official_f_score(verts_gt, verts_al, millimetres / 1000))
    scores = {}
    for key, values in errors.items():
        scores[f"{key}_mean3d"], scores[f"{key}_auc3d"] = official_mean_and_auc(np.stack(values))
    scores.update({key: float(np.mean(values)) for key, values in f_values.items()})
    return scores


def official_scores_of_zip(zip_path, gt_root) -> dict:
    """What the server computes on pred.zip: json.load of pred.json and of the ground truth."""
    with zipfile.ZipFile(zip_path) as archive:
        pred_xyz, pred_verts = json.loads(archive.read("pred.json"))
    gt_xyz = json.loads((gt_root / "evaluation_xyz.json").read_text())
    gt_verts = json.loads((gt_root / "evaluation_verts.json").read_text())
    return official_scores(*(np.array(value, dtype=np.float64) for value in (pred_xyz, pred_verts, gt_xyz, gt_verts)))


# ---------------------------------------------------------------- generated predictions and ground truth
@pytest.fixture
def case(tmp_path):
    """(gt_root, float32 xyz (5, 21, 3), float32 verts (5, 778, 3)): GT on disk, noisy predictions."""
    rng = np.random.default_rng(11)
    gt_xyz = rng.normal(0.0, 0.04, (SAMPLES, 21, 3)) + [0.0, 0.0, 0.6]
    gt_verts = rng.normal(0.0, 0.04, (SAMPLES, 778, 3)) + [0.0, 0.0, 0.6]
    root = tmp_path / "gt"
    root.mkdir()
    (root / "evaluation_xyz.json").write_text(json.dumps(gt_xyz.tolist()))
    (root / "evaluation_verts.json").write_text(json.dumps(gt_verts.tolist()))
    xyz = (gt_xyz + rng.normal(0.0, 0.01, gt_xyz.shape)).astype(np.float32)
    verts = (gt_verts + rng.normal(0.0, 0.005, gt_verts.shape)).astype(np.float32)
    return root, xyz, verts


def _max_difference(scores: dict, reference: dict) -> float:
    assert list(scores) == list(SCORE_NAMES)
    return max(abs(scores[name] - reference[name]) for name in SCORE_NAMES)


def test_scores_json_is_what_the_official_script_computes_on_pred_zip(case, tmp_path):
    root, xyz, verts = case
    out = tmp_path / "eval"
    archive = zip_submission(write_submission(out / "run.json", list(xyz), list(verts)), out / "pred.zip")
    report = score_submission(archive, root, out)
    written = json.loads((out / "scores.json").read_text())
    reference = official_scores_of_zip(archive, root)
    assert _max_difference(written, reference) < 1e-9
    assert written == report.scores and report.skipped == () and report.messages == ()
    assert (out / "pck.png").read_bytes().startswith(b"\x89PNG")
    # Scoring the float32 predictions in memory against float32 ground truth (what the dataset
    # loader holds) misses the server's numbers by far more than that.
    gt_xyz32 = np.asarray(json.loads((root / "evaluation_xyz.json").read_text()), dtype=np.float32)
    gt_verts32 = np.asarray(json.loads((root / "evaluation_verts.json").read_text()), dtype=np.float32)
    assert _max_difference(evaluate(xyz, verts, gt_xyz32, gt_verts32), reference) > 1e-7


def test_evaluation_writes_server_scores_and_removes_only_its_stale_outputs(case, tmp_path):
    from cmr.engine.evaluate import prepare_output, write_and_score
    from cmr.fileio import OUTPUT_MANIFEST, OutputFolder

    root, xyz, verts = case
    out = tmp_path / "eval"
    stale = ["run.json", "pred.zip", "scores.json", "pck.png", "00000007_plot.jpg", "old_plot.jpg"]
    kept = ["notes.txt", "other.json", "plot.jpg", "scores.json.bak", "00000001_plot.jpg"]
    OutputFolder(out).record(*stale)  # what an earlier evaluation wrote
    for name in stale[:-1] + kept:
        (out / name).write_text("earlier")
    (out / "old_plot.jpg").mkdir()  # recorded, but a folder now: not the project's file, kept
    folder, ground_truth = prepare_output(out, root)
    assert sorted(path.name for path in out.iterdir()) == sorted(kept + ["old_plot.jpg", OUTPUT_MANIFEST])
    result = write_and_score(folder, "run", xyz, verts, ground_truth)
    written = json.loads((out / "scores.json").read_text())
    assert _max_difference(written, official_scores_of_zip(out / "pred.zip", root)) < 1e-9
    assert result["scores"] == written and result["count"] == SAMPLES
    assert all((out / name).read_text() == "earlier" for name in kept)


def test_evaluation_without_ground_truth_leaves_no_stale_scores(case, tmp_path):
    from cmr.engine.evaluate import prepare_output, write_and_score
    from cmr.fileio import OUTPUT_MANIFEST, OutputFolder

    _, xyz, verts = case
    out, images_only = tmp_path / "eval", tmp_path / "no_gt"
    images_only.mkdir()
    OutputFolder(out).record("scores.json", "pck.png")
    for name in ("scores.json", "pck.png"):
        (out / name).write_text("earlier")
    folder, ground_truth = prepare_output(out, images_only)
    result = write_and_score(folder, "run", xyz, verts, ground_truth)
    assert result["scores"] is None and result["skipped"] == SCORE_NAMES
    assert "evaluation_xyz.json" in result["messages"][0] and "no scores" in result["messages"][0]
    assert sorted(path.name for path in out.iterdir()) == sorted([OUTPUT_MANIFEST, "pred.zip", "run.json"])


def test_missing_vertices_give_the_keypoint_scores_only(case, tmp_path):
    root, xyz, verts = case
    out = tmp_path / "eval"
    archive = zip_submission(write_submission(out / "run.json", list(xyz), list(verts)), out / "pred.zip")
    reference = official_scores_of_zip(archive, root)
    (root / "evaluation_verts.json").unlink()
    report = score_submission(archive, root, out)
    written = json.loads((out / "scores.json").read_text())
    assert list(written) == list(KEYPOINT_SCORE_NAMES) and written == report.scores
    assert max(abs(written[name] - reference[name]) for name in KEYPOINT_SCORE_NAMES) < 1e-9
    assert report.skipped == MESH_SCORE_NAMES
    assert "evaluation_verts.json not found" in report.messages[0] and "mesh_mean3d" in report.messages[0]
    (root / "evaluation_xyz.json").unlink()
    (out / "scores.json").unlink()
    nothing = score_submission(archive, root, out)
    assert nothing.scores == {} and nothing.scores_path is None and not (out / "scores.json").exists()
    assert "evaluation_xyz.json and" in nothing.messages[0] and "evaluation_verts.json not found" in nothing.messages[0]


def test_non_mano_submission_gets_the_official_placeholders_and_a_note(case, tmp_path):
    root, xyz, verts = case
    path = write_submission(tmp_path / "sub.json", list(xyz), list(verts[:, :700]))
    report = score_submission(path, root, tmp_path)
    assert report.scores["mesh_mean3d"] == -100.0 and report.scores["mesh_al_auc3d"] == -1.0
    assert "700 vertices, not 778" in report.messages[0]


def test_checkpoint_evaluation_end_to_end_gives_the_server_scores(tmp_path):
    from cmr.data.synth import generate

    root = tmp_path / "synth"
    generate(root, num_training=0, num_evaluation=4, versions=1, seed=0, workers=1, progress=False)
    eval_dir = tmp_path / "out" / "FreiHAND_synth" / "compact_synth" / "eval"
    arguments = ["eval", "--checkpoint", str(REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"),
                 "DATA.ROOT", str(root), "OUTPUT_DIR", str(tmp_path / "out"), "DEVICE", "cpu",
                 "DATA.NUM_WORKERS", "0", "NUM_THREADS", "1"]
    assert cli_main([*arguments, "TEST.NUM_PLOTS", "4"]) == 0  # an earlier evaluation with more plots
    assert len(list(eval_dir.glob("*_plot.jpg"))) == 4
    assert cli_main([*arguments, "TEST.NUM_PLOTS", "1"]) == 0
    written = json.loads((eval_dir / "scores.json").read_text())
    assert _max_difference(written, official_scores_of_zip(eval_dir / "pred.zip", root)) < 1e-9
    assert len(json.loads((eval_dir / "compact_synth.json").read_text())[0]) == 4
    assert sorted(path.name for path in eval_dir.glob("*_plot.jpg")) == ["00000000_plot.jpg"]


# ---------------------------------------------------------------- the score command
def test_score_command_on_a_zip_and_on_a_json(case, tmp_path, capsys):
    root, xyz, verts = case
    submission = write_submission(tmp_path / "sub" / "run.json", list(xyz), list(verts))
    archive = zip_submission(submission, tmp_path / "sub" / "pred.zip")
    reference = official_scores_of_zip(archive, root)
    assert cli_main(["score", str(archive), "--root", str(root)]) == 0
    beside = json.loads((tmp_path / "sub" / "scores.json").read_text())
    assert _max_difference(beside, reference) < 1e-9 and (tmp_path / "sub" / "pck.png").is_file()
    assert "xyz_al_auc3d" in capsys.readouterr().out
    out = tmp_path / "elsewhere" / "run_scores.json"
    assert cli_main(["score", str(submission), "--root", str(root), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == beside and (out.parent / "pck.png").is_file()


def test_score_command_errors_name_the_file_and_what_was_expected(case, tmp_path, capsys):
    root, xyz, verts = case
    short = write_submission(tmp_path / "short.json", list(xyz[:3]), list(verts[:3]))
    cases = [
        ([str(tmp_path / "absent.zip"), "--root", str(root)], "absent.zip not found"),
        ([str(short), "--root", str(root)], "short.json holds 3 predictions but .*evaluation_xyz.json holds 5"),
        ([str(short), "--root", str(tmp_path / "absent")], "absent: folder not found"),
    ]
    gt_verts = json.loads((root / "evaluation_verts.json").read_text())
    (tmp_path / "bad").mkdir()
    shutil.copy(root / "evaluation_xyz.json", tmp_path / "bad")
    (tmp_path / "bad" / "evaluation_verts.json").write_text(json.dumps([mesh[:700] for mesh in gt_verts]))
    cases.append(([str(short), "--root", str(tmp_path / "bad")],
                  r"evaluation_verts.json: expected shape \(N, 778, 3\), got \(5, 700, 3\)"))
    (tmp_path / "no_xyz").mkdir()
    cases.append(([str(short), "--root", str(tmp_path / "no_xyz")], "evaluation_xyz.json not found"))
    for argv, message in cases:
        assert cli_main(["score", *argv]) == 2
        assert re.search(message, capsys.readouterr().err), message
    assert not (tmp_path / "scores.json").exists()


# ---------------------------------------------------------------- unwritable output folders
def test_score_command_refuses_an_output_folder_under_a_regular_file(case, tmp_path, capsys):
    root, xyz, verts = case
    submission = write_submission(tmp_path / "run.json", list(xyz), list(verts))
    (tmp_path / "file").write_text("x")
    assert cli_main(["score", str(submission), "--root", str(root), "--out", str(tmp_path / "file" / "s.json")]) == 2
    assert re.search(r"output folder .*file: .*file is a regular file", capsys.readouterr().err)


def test_read_only_output_folder_is_refused(case, tmp_path, capsys):
    root, xyz, verts = case
    submission = write_submission(tmp_path / "run.json", list(xyz), list(verts))
    folder = tmp_path / "read_only"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        try:
            (folder / "probe").write_text("x")
        except PermissionError:
            pass
        else:
            pytest.skip("this user can write into read-only folders (root)")
        assert cli_main(["score", str(submission), "--root", str(root), "--out", str(folder)]) == 2
        assert re.search(r"output folder .*read_only is not writable", capsys.readouterr().err)
    finally:
        os.chmod(folder, 0o755)


def test_evaluation_checks_the_output_folder_before_any_inference(tmp_path, capsys):
    (tmp_path / "output").write_text("a file, not a folder")
    status = cli_main(["eval", "--checkpoint", str(REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"),
                       "DATA.ROOT", str(tmp_path / "data"), "OUTPUT_DIR", str(tmp_path / "output")])
    assert status == 2
    assert "output is a regular file" in capsys.readouterr().err
