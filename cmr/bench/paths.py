"""The demo path against the evaluation path on the bundled samples, with their ground truth.

Both paths frame hands through the model's one crop policy: the evaluation path crops the
dataset's known hand box (:func:`cmr.data.freihand.dataset_from_config`), the demo path finds the
hand on the whole image and re-crops around its silhouette
(:func:`cmr.engine.inference.predict_images`). Prints, per sample and path: how much of the input
the hand fills (its mesh's projected extent over the input side; training crops aim at 1 / BOX_SCALE,
0.77, jittered to 0.67-0.91), the mean distance between the two paths' camera-space meshes, and
each path's camera-space and Procrustes-aligned vertex errors (mm).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cmr.data.freihand import dataset_from_config
from cmr.engine.checkpoint import open_run
from cmr.engine.demo import BUNDLED_CHECKPOINT
from cmr.engine.inference import predict_images
from cmr.evaluation.metrics import align_w_scale
from cmr.fileio import read_rgb
from cmr.geometry.camera import project_points
from cmr.geometry.crop import CropPolicy, hand_box
from cmr.models.prediction import predict
from cmr.registration import RegistrationConfig
from cmr.tools.samples import BUNDLED_GROUND_TRUTH, BUNDLED_SAMPLES

DESCRIPTION = __doc__.split("\n\n")[0]


@dataclass
class PathComparison:
    """Per-sample figures (S samples): fill per path ('demo', 'eval'), (S,) fraction of the input
    side; agreement_mm (S,) and camera_mm, pa_mm per path (S,), millimetres."""

    ids: list[str]
    fill: dict[str, np.ndarray]
    agreement_mm: np.ndarray
    camera_mm: dict[str, np.ndarray]
    pa_mm: dict[str, np.ndarray]


def _as_freihand(folder: Path, ids: list[str], Ks: list[np.ndarray]) -> Path:
    """The samples laid out as a FreiHAND evaluation split (images and K only)."""
    (folder / "evaluation" / "rgb").mkdir(parents=True)
    for index, sample in enumerate(ids):
        shutil.copyfile(BUNDLED_SAMPLES / f"{sample}_img.jpg", folder / "evaluation" / "rgb" / f"{index:08d}.jpg")
    (folder / "evaluation_K.json").write_text(json.dumps([K.tolist() for K in Ks]))
    return folder


def _predict_both(checkpoint_path: Path, root: Path, ids: list[str], Ks: list[np.ndarray],
                  overrides: list[str]) -> dict:
    """{'demo', 'eval'} -> the Prediction of that path for every sample."""
    loaded = open_run(checkpoint_path, None, ["DATA.ROOT", str(root), "DEVICE", "cpu", *overrides])
    cfg = loaded.cfg
    config, regressor = RegistrationConfig.from_config(cfg.REGISTRATION), loaded.template.joint_regressor
    dataset = dataset_from_config(cfg, "evaluation", loaded.template)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    images = [read_rgb(BUNDLED_SAMPLES / f"{sample}_img.jpg") for sample in ids]
    return {"eval": predict(loaded.model, batch["image"], batch["K"], regressor, config),
            "demo": predict_images(loaded.model, images, Ks, regressor, config, CropPolicy.from_config(cfg.MODEL),
                                   int(cfg.DEMO.PASSES))}


def compare_paths(checkpoint_path: Path = BUNDLED_CHECKPOINT, overrides: list[str] | None = None) -> PathComparison:
    """Run both paths on the bundled samples and measure them against the bundled ground truth.

    overrides: ``KEY VALUE`` pairs for the run's configuration (e.g. ``DEMO.PASSES 0``).
    """
    truth = json.loads(BUNDLED_GROUND_TRUTH.read_text())
    ids = sorted(truth)
    Ks = [np.load(BUNDLED_SAMPLES / f"{sample}_K.npy") for sample in ids]
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        predictions = _predict_both(checkpoint_path, _as_freihand(Path(folder), ids, Ks), ids, Ks, list(overrides or []))
    verts = np.array([truth[sample]["verts"] for sample in ids])
    vertices = {name: p.vertices.double().cpu().numpy() for name, p in predictions.items()}
    fill = {name: np.array([hand_box(project_points(mesh, K))[1].max() / p.mask.shape[-1]
                            for mesh, K in zip(verts, p.K.double().cpu().numpy())])
            for name, p in predictions.items()}
    camera = {name: np.linalg.norm(v - verts, axis=-1).mean(1) * 1000 for name, v in vertices.items()}
    pa = {name: np.linalg.norm(align_w_scale(verts, v, allow_reflection=False) - verts, axis=-1).mean(1) * 1000
          for name, v in vertices.items()}
    agreement = np.linalg.norm(vertices["demo"] - vertices["eval"], axis=-1).mean(1) * 1000
    return PathComparison(ids, fill, agreement, camera, pa)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint to compare."""
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT, help="checkpoint (default: bundled)")
    parser.add_argument("--passes", type=int, default=None,
                        help="re-crops of the demo path (DEMO.PASSES; 0: the whole image only)")


def run(args: argparse.Namespace) -> int:
    """Print the per-sample table and the means."""
    result = compare_paths(args.checkpoint.absolute(), [] if args.passes is None else ["DEMO.PASSES", str(args.passes)])
    columns = (("fill demo", result.fill["demo"], ".3f"), ("fill eval", result.fill["eval"], ".3f"),
               ("demo-eval mm", result.agreement_mm, ".1f"), ("cam demo", result.camera_mm["demo"], ".1f"),
               ("cam eval", result.camera_mm["eval"], ".1f"), ("PA demo", result.pa_mm["demo"], ".1f"),
               ("PA eval", result.pa_mm["eval"], ".1f"))
    print(f"{'sample':>6} " + " ".join(f"{name:>12}" for name, _, _ in columns))
    for index, sample in enumerate(result.ids + ["mean"]):
        print(f"{sample:>6} " + " ".join(
            f"{(values[index] if index < len(values) else values.mean()):>12{style}}" for _, values, style in columns))
    return 0
