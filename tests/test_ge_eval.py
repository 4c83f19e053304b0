"""The photo pipeline scored on Ge et al.'s real-world layout (a 6-crop subset of the dev images)."""

import json
import shutil

import numpy as np
import pytest
import scipy.io

from cmr import REPO_ROOT
from cmr.cli import main as cli_main

PICKED = [0, 11, 23, 34, 46, 57]


@pytest.fixture(scope="module")
def ge_subset(ge_real_dir, tmp_path_factory):
    """A Ge-layout folder holding 6 of the development crops."""
    root = tmp_path_factory.mktemp("ge_subset")
    (root / "images").mkdir()
    params = scipy.io.loadmat(ge_real_dir / "params.mat")
    pose = scipy.io.loadmat(ge_real_dir / "pose_gt.mat")["pose_gt"]
    paths = [str(params["image_path"][k]).strip() for k in PICKED]
    for path in paths:
        shutil.copy(ge_real_dir / path, root / path)
    scipy.io.savemat(root / "params.mat", {"image_path": np.array(paths), "cam_param": params["cam_param"][PICKED],
                                           "bbox": params["bbox"][PICKED]})
    scipy.io.savemat(root / "pose_gt.mat", {"pose_gt": pose[PICKED]})
    return root


def test_eval_on_the_ge_layout_scores_every_stage(ge_subset, tmp_path, hand_detector):
    checkpoint = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"
    assert cli_main(["eval", "--checkpoint", str(checkpoint), "TEST.DATASET", "ge_real", "DATA.ROOT", str(ge_subset),
                     "OUTPUT_DIR", str(tmp_path), "DEVICE", "cpu"]) == 0
    folder = next(tmp_path.rglob("eval_ge"))
    assert {"ge_scores.json", "ge_pck.png", "ge_predictions.npz", "ge_scores_by_stage.json"} <= {
        p.name for p in folder.iterdir()}
    stages = json.loads((folder / "ge_scores_by_stage.json").read_text())
    assert stages["network"]["images"] == 6 and stages["network"]["detection_rate"] == 1.0
    detector = stages["detector_3d"]
    assert detector["pa_mpjpe_mm"] < 15 and detector["root_error_mm"] < 60 and detector["uv_error_px"] < 15
    predictions = np.load(folder / "ge_predictions.npz")
    assert predictions["joints"].shape == (6, 21, 3) and predictions["found"].all()


def test_an_unknown_evaluation_set_is_refused(tmp_path, capsys):
    checkpoint = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"
    assert cli_main(["eval", "--checkpoint", str(checkpoint), "TEST.DATASET", "ho3d", "OUTPUT_DIR", str(tmp_path)]) == 2
    assert "TEST.DATASET must be 'freihand' or 'ge_real'" in capsys.readouterr().err
