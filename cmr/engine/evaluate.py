"""FreiHAND evaluation: predictions for the evaluation split, the submission, and the scores.

``evaluate_checkpoint(cfg, checkpoint)`` runs the model on every evaluation image (the fixed
centre crop of the reference), registers each mesh in camera space with the crop's K, and writes
to ``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/eval/``::

    <EXP_NAME>.json   the FreiHAND submission [xyz_list, verts_list] (metres, camera space,
                      FreiHAND joint order)
    pred.zip          the same, as the ``pred.json`` the official server expects
    scores.json       the official metrics of pred.zip as the server computes them (read back
                      from the file, ground truth as stored): all of them with
                      evaluation_xyz.json and evaluation_verts.json, the keypoint ones with
                      evaluation_xyz.json alone, none without it
    pck.png           the PCK curves, likewise
    <index>_plot.jpg  the 5-panel plot of the first TEST.NUM_PLOTS images

Before the inference the folder is checked to be writable and these files of an earlier
evaluation are removed (nothing else), so no stale score sits beside a new submission.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from cmr.data.freihand import FreiHANDDataset
from cmr.engine.checkpoint import load_model
from cmr.engine.distributed import resolve_device
from cmr.engine.inference import predict
from cmr.engine.train import data_root, run_dir
from cmr.evaluation import (
    PCK_PLOT_FILE,
    SCORES_FILE,
    GroundTruth,
    read_ground_truth,
    score_submission,
    write_submission,
    zip_submission,
)
from cmr.fileio import writable_folder
from cmr.vis.plot import plot_prediction


def default_checkpoint(cfg) -> Path:
    """TEST.CHECKPOINT, else the run's checkpoint_best.pt, else its checkpoint_last.pt."""
    if cfg.TEST.CHECKPOINT:
        return Path(cfg.TEST.CHECKPOINT)
    folder = run_dir(cfg) / "checkpoints"
    best = folder / "checkpoint_best.pt"
    return best if best.is_file() else folder / "checkpoint_last.pt"


def _crop_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, S, S) normalised input -> (S, S, 3) uint8 RGB."""
    return ((image.permute(1, 2, 0).numpy() * 0.5 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)


def _earlier_outputs(out_dir: Path, exp_name: str) -> list[Path]:
    """The files in ``out_dir`` that an evaluation named ``exp_name`` writes (plots: any index)."""
    named = [out_dir / f"{exp_name}.json", out_dir / "pred.zip", out_dir / SCORES_FILE, out_dir / PCK_PLOT_FILE]
    plots = sorted(path for path in out_dir.glob("*_plot.jpg") if path.is_file() or path.is_symlink())
    return named + plots


def prepare_output(out_dir: Path, exp_name: str, gt_root: Path) -> GroundTruth:
    """Before the inference: check ``out_dir`` is writable, read the ground truth, drop earlier outputs.

    Returns:
        The evaluation ground truth under ``gt_root`` (missing files left None).

    Raises:
        ValueError: ``out_dir`` is (under) a regular file or not writable, or a ground-truth
            file is broken (the message names the folder or file).
        IsADirectoryError: a folder stands where an output file goes.
    """
    writable_folder(out_dir)
    ground_truth = read_ground_truth(gt_root)
    for path in _earlier_outputs(out_dir, exp_name):
        if path.is_dir() and not path.is_symlink():
            raise IsADirectoryError(f"{path}: a folder stands where the evaluation writes a file")
        path.unlink(missing_ok=True)
    return ground_truth


def write_and_score(out_dir: Path, exp_name: str, xyz: np.ndarray, verts: np.ndarray,
                    ground_truth: GroundTruth) -> dict:
    """Write the submission and pred.zip from (N, 21, 3) / (N, 778, 3) metres, then score pred.zip.

    Returns:
        ``{'submission', 'zip', 'scores' (None when nothing was scored), 'skipped', 'messages',
        'count'}``; see :class:`cmr.evaluation.ScoreReport` for the last three.
    """
    submission = write_submission(out_dir / f"{exp_name}.json", xyz.tolist(), verts.tolist())
    archive = zip_submission(submission, out_dir / "pred.zip")
    report = score_submission(archive, ground_truth, out_dir)
    return {"submission": submission, "zip": archive, "scores": report.scores or None,
            "skipped": report.skipped, "messages": report.messages, "count": len(xyz)}


def evaluate_checkpoint(cfg, checkpoint: str | Path) -> dict:
    """Predict the evaluation split with ``checkpoint`` and write the files listed above.

    ``cfg`` supplies the data root, output folder, registration and test settings; the model
    architecture comes from the checkpoint (or from ``cfg`` for an official CMR release).
    Returns what :func:`write_and_score` returns.
    """
    out_dir = run_dir(cfg) / "eval"
    ground_truth = prepare_output(out_dir, cfg.EXP_NAME, data_root(cfg))
    device = resolve_device(cfg.DEVICE)
    if cfg.NUM_THREADS > 0:
        torch.set_num_threads(cfg.NUM_THREADS)
    model, model_cfg, template = load_model(checkpoint, cfg, device)
    dataset = FreiHANDDataset(data_root(cfg), "evaluation", template, input_size=model_cfg.MODEL.INPUT_SIZE,
                              augment=False)
    loader = DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, shuffle=False, num_workers=cfg.DATA.NUM_WORKERS)
    xyz, verts = [], []
    plotted = 0
    for batch in tqdm(loader, desc="evaluate", unit="batch", file=sys.stderr, dynamic_ncols=True):
        prediction = predict(model, batch["image"], batch["K"], template, cfg.REGISTRATION)
        xyz.append(prediction.joints.cpu().numpy())
        verts.append(prediction.vertices.cpu().numpy())
        for i in range(len(batch["image"])):
            if plotted >= cfg.TEST.NUM_PLOTS:
                break
            index = int(batch["index"][i])
            plot_prediction(_crop_rgb(batch["image"][i]), prediction.sample(i), template.faces[0],
                            batch["K"][i].numpy(), out_dir / f"{index:08d}_plot.jpg",
                            cfg.REGISTRATION.MASK_THRESHOLD)
            plotted += 1
    return write_and_score(out_dir, cfg.EXP_NAME, np.concatenate(xyz), np.concatenate(verts), ground_truth)


def main(argv: list[str] | None = None) -> int:
    from cmr.config import load_cfg

    parser = argparse.ArgumentParser(
        prog="python -m cmr eval",
        description="Evaluate a checkpoint on a FreiHAND-layout evaluation split: writes the submission "
                    "JSON and pred.zip, and scores.json + pck.png when the ground truth is present.",
    )
    parser.add_argument("--config", default=None, help="YAML experiment (data root, output folder, ...)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file (default: TEST.CHECKPOINT, else the run's best, else last)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_cfg(args.config, args.overrides)
        result = evaluate_checkpoint(cfg, args.checkpoint or default_checkpoint(cfg))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{result['count']} predictions: {result['submission']} and {result['zip']}")
    for message in result["messages"]:
        print(f"note: {message}", file=sys.stderr)
    if result["scores"]:
        for name, value in result["scores"].items():
            print(f"  {name:14s} {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
