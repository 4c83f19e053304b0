"""FreiHAND evaluation: predictions for the evaluation split, the submission, and the scores.

``evaluate_model(cfg, loaded)`` runs the model on every evaluation image (framed by the model's
crop policy around the split's known hand box, :data:`cmr.data.layout.EVALUATION_HAND_BOX`),
registers each mesh in camera space with the crop's K, and writes to
``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/eval/``::

    <EXP_NAME>.json   the FreiHAND submission [xyz_list, verts_list] (metres, camera space,
                      FreiHAND joint order)
    pred.zip          the same, as the ``pred.json`` the official server expects
    scores.json       the official metrics of pred.zip as the server computes them (read back
                      from the file, ground truth as stored): all of them with
                      evaluation_xyz.json and evaluation_verts.json, the keypoint ones with
                      evaluation_xyz.json alone, none without it
    pck.png           the PCK curves, likewise
    <index>_plot.jpg  the 5-panel plot of the first TEST.NUM_PLOTS images

Before the inference the folder is checked to be writable and the files an earlier evaluation
recorded there are removed (:class:`cmr.fileio.OutputFolder`; nothing else), so no stale score
sits beside a new submission.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader
from tqdm import tqdm

from cmr.config import load_cfg, resolve_path
from cmr.data.augment import denormalise_image
from cmr.data.freihand import dataset_from_config
from cmr.engine.checkpoint import LoadedModel, open_run
from cmr.engine.command import add_config_arguments, flag_overrides
from cmr.engine.ge_eval import evaluate_ge
from cmr.engine.runs import data_root, run_dir
from cmr.evaluation import (
    PCK_PLOT_FILE,
    SCORES_FILE,
    GroundTruth,
    read_ground_truth,
    score_submission,
    write_submission,
    zip_submission,
)
from cmr.fileio import OutputFolder
from cmr.models.prediction import predict
from cmr.registration import RegistrationConfig
from cmr.vis.plot import plot_prediction

DESCRIPTION = ("Evaluate a checkpoint on a FreiHAND-layout evaluation split: writes the submission JSON and "
               "pred.zip, and scores.json + pck.png (the server's numbers on pred.zip) when the ground truth "
               "is present. The model's configuration comes from the checkpoint; --config and KEY VALUE "
               "overrides set the data, output and registration.")


def default_checkpoint(cfg) -> Path:
    """TEST.CHECKPOINT, else the run's checkpoint_best.pt, else its checkpoint_last.pt.

    Raises FileNotFoundError saying how to name one when the run has none.
    """
    if cfg.TEST.CHECKPOINT:
        return resolve_path(cfg.TEST.CHECKPOINT)
    folder = run_dir(cfg) / "checkpoints"
    for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no checkpoint to evaluate: {folder} holds neither checkpoint_best.pt nor checkpoint_last.pt. "
        "Train the run first, or name one with --checkpoint PATH (the bundled model: "
        "--checkpoint cmr/assets/lite_real.pt)"
    )


def prepare_output(out_dir: Path, gt_root: Path) -> tuple[OutputFolder, GroundTruth]:
    """Before the inference: the output folder (checked writable, an earlier evaluation's files
    removed, :class:`cmr.fileio.OutputFolder`) and the ground truth under ``gt_root`` (missing
    files left None).

    Raises ValueError naming the folder or file: ``out_dir`` is (under) a regular file or not
    writable, or a ground-truth file is broken.
    """
    folder = OutputFolder(out_dir)
    return folder, read_ground_truth(gt_root)


def write_and_score(folder: OutputFolder, exp_name: str, xyz: np.ndarray, verts: np.ndarray,
                    ground_truth: GroundTruth) -> dict:
    """Write the submission and pred.zip from (N, 21, 3) / (N, 778, 3) metres, then score pred.zip.

    Returns:
        ``{'submission', 'zip', 'scores' (None when nothing was scored), 'skipped', 'messages',
        'count'}``; see :class:`cmr.evaluation.ScoreReport` for the last three.
    """
    names = (f"{exp_name}.json", "pred.zip", SCORES_FILE, PCK_PLOT_FILE)
    folder.record(*names)  # recorded first: an interrupted run's files go with the next one
    submission = write_submission(folder.path / names[0], xyz.tolist(), verts.tolist())
    archive = zip_submission(submission, folder.path / names[1])
    report = score_submission(archive, ground_truth, folder.path)
    return {"submission": submission, "zip": archive, "scores": report.scores or None,
            "skipped": report.skipped, "messages": report.messages, "count": len(xyz)}


def evaluate_model(cfg, loaded: LoadedModel) -> dict:
    """Predict the evaluation split of ``DATA.ROOT`` with ``loaded`` and write the files listed above.

    cfg: the run's one configuration (:func:`cmr.engine.checkpoint.run_config`): the model's
    crop policy frames the split's known hand box; REGISTRATION, TEST and the output folder
    apply. Returns what :func:`write_and_score` returns.
    """
    folder, ground_truth = prepare_output(run_dir(cfg) / "eval", data_root(cfg))
    dataset = dataset_from_config(cfg, "evaluation", loaded.template, ground_truth=False)  # scored from pred.zip
    loader = DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, shuffle=False, num_workers=cfg.DATA.NUM_WORKERS)
    config, faces = RegistrationConfig.from_config(cfg.REGISTRATION), loaded.template.faces[0]
    xyz, verts = [], []
    for batch in tqdm(loader, desc="evaluate", unit="batch", file=sys.stderr, dynamic_ncols=True):
        prediction = predict(loaded.model, batch["image"], batch["K"], loaded.template.joint_regressor, config)
        xyz.append(prediction.joints.cpu().numpy())
        verts.append(prediction.vertices.cpu().numpy())
        for i, index in enumerate(batch["index"].tolist()):
            if index < cfg.TEST.NUM_PLOTS:
                plot = folder.path / f"{index:08d}_plot.jpg"
                folder.record(plot)
                plot_prediction(denormalise_image(batch["image"][i]), prediction.sample(i), faces, batch["K"][i].numpy(),
                                plot, config.mask_threshold)
    return write_and_score(folder, cfg.EXP_NAME, np.concatenate(xyz), np.concatenate(verts), ground_truth)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` (sugar for TEST.CHECKPOINT), ``--config`` and overrides."""
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file (TEST.CHECKPOINT; default: the run's best, else its last)")
    add_config_arguments(parser)


def _report_ge(result: dict) -> int:
    """Print the Ge real-world scores written by :func:`cmr.engine.ge_eval.evaluate_ge`."""
    print(f"Ge real-world set: scores and PCK plot in {result['folder']}")
    for name, value in result["scores"].items():
        print(f"  {name:24s} {'-' if value is None else format(value, '.4g')}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the written files and the scores."""
    overrides = flag_overrides(args, {"checkpoint": "TEST.CHECKPOINT"}, paths=("checkpoint",))
    path = default_checkpoint(load_cfg(args.config, overrides))
    loaded = open_run(path, args.config, overrides)
    if loaded.cfg.TEST.DATASET == "ge_real":
        return _report_ge(evaluate_ge(loaded.cfg, loaded))
    if loaded.cfg.TEST.DATASET != "freihand":
        raise ValueError(f"TEST.DATASET must be 'freihand' or 'ge_real', got {loaded.cfg.TEST.DATASET!r}")
    result = evaluate_model(loaded.cfg, loaded)
    print(f"{result['count']} predictions: {result['submission']} and {result['zip']}")
    for message in result["messages"]:
        print(f"note: {message}", file=sys.stderr)
    for name, value in (result["scores"] or {}).items():
        print(f"  {name:14s} {value:.4f}")
    return 0
