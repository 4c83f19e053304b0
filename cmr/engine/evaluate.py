"""FreiHAND evaluation: predictions for the evaluation split, the submission, and the scores.

``evaluate_checkpoint(cfg, checkpoint)`` runs the model on every evaluation image (the fixed
centre crop of the reference), registers each mesh in camera space with the crop's K, and writes
to ``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/eval/``::

    <EXP_NAME>.json   the FreiHAND submission [xyz_list, verts_list] (metres, camera space,
                      FreiHAND joint order)
    pred.zip          the same, as the ``pred.json`` the official server expects
    scores.json       every official metric, when evaluation_xyz/verts.json are present
    pck.png           the PCK curves, likewise
    <index>_plot.jpg  the 5-panel plot of the first TEST.NUM_PLOTS images
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
from cmr.evaluation import evaluate_with_curves, plot_pck, write_scores, write_submission, zip_submission
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


def evaluate_checkpoint(cfg, checkpoint: str | Path) -> dict:
    """Predict the evaluation split with ``checkpoint`` and write the files listed above.

    ``cfg`` supplies the data root, output folder, registration and test settings; the model
    architecture comes from the checkpoint (or from ``cfg`` for an official CMR release).
    Returns ``{'submission', 'zip', 'scores' (or None), 'count'}``.
    """
    device = resolve_device(cfg.DEVICE)
    if cfg.NUM_THREADS > 0:
        torch.set_num_threads(cfg.NUM_THREADS)
    model, model_cfg, template = load_model(checkpoint, cfg, device)
    dataset = FreiHANDDataset(data_root(cfg), "evaluation", template, input_size=model_cfg.MODEL.INPUT_SIZE,
                              augment=False)
    loader = DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, shuffle=False, num_workers=cfg.DATA.NUM_WORKERS)
    out_dir = run_dir(cfg) / "eval"
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
    xyz, verts = np.concatenate(xyz), np.concatenate(verts)
    submission = write_submission(out_dir / f"{cfg.EXP_NAME}.json", xyz.tolist(), verts.tolist())
    archive = zip_submission(submission, out_dir / "pred.zip")
    scores = None
    if dataset.xyz is not None and dataset.verts is not None:
        result = evaluate_with_curves(xyz, verts, dataset.xyz, dataset.verts)
        scores = result.scores
        write_scores(out_dir / "scores.json", scores)
        plot_pck(result.curves, out_dir / "pck.png")
    return {"submission": submission, "zip": archive, "scores": scores, "count": len(xyz)}


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
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{result['count']} predictions: {result['submission']} and {result['zip']}")
    if result["scores"]:
        for name, value in result["scores"].items():
            print(f"  {name:14s} {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
