"""The demo path against the evaluation path on the bundled samples, with their ground truth.

Both paths frame hands through the model's one crop policy: the evaluation path crops the
dataset's known hand box (:func:`cmr.data.freihand.dataset_from_config`); the demo path finds
the hand with the offline detector, frames it around the detector's keypoints and re-crops
around its silhouette (:func:`cmr.engine.hands.predict_side`, the detector's side unless
``DEMO.SIDE`` forces one; the most confident hand of each sample). A sample where the detector
finds no hand is reported as missed by the demo path. Prints, per sample and path: how much of
the input the hand fills (its mesh's projected extent over the input side; training crops aim at
1 / BOX_SCALE, 0.77, jittered to 0.67-0.91), the mean distance between the two paths'
camera-space meshes, and each path's camera-space and Procrustes-aligned vertex errors (mm).
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
from cmr.detection import DetectorConfig, HandDetector
from cmr.engine.checkpoint import open_run
from cmr.engine.demo import BUNDLED_CHECKPOINT
from cmr.engine.hands import HandSettings, predict_side
from cmr.evaluation.metrics import align_w_scale
from cmr.fileio import read_rgb
from cmr.geometry.camera import project_points
from cmr.geometry.crop import hand_box
from cmr.models.prediction import predict
from cmr.registration import RegistrationConfig
from cmr.tools.samples import BUNDLED_GROUND_TRUTH, BUNDLED_SAMPLES

DESCRIPTION = __doc__.split("\n\n")[0]
PATHS = ("demo", "eval")


@dataclass
class PathOutput:
    """One path's answer for S samples (N vertices): vertices (S, N, 3) metres, camera space,
    NaN where the path found no hand; K (S, 3, 3) intrinsics of the inputs (NaN likewise);
    input_side: S, the inputs' side (pixels); sides: the side each hand was predicted as
    (None where missed)."""

    vertices: np.ndarray
    K: np.ndarray
    input_side: int
    sides: list[str | None]

    @property
    def found(self) -> np.ndarray:
        """(S,) bool: the path answered for the sample."""
        return np.isfinite(self.vertices).all(axis=(1, 2))


@dataclass
class PathComparison:
    """Per-sample figures (S samples), NaN where the demo path found no hand: fill per path
    ('demo', 'eval'), (S,) fraction of the input side; agreement_mm (S,) and camera_mm, pa_mm
    per path (S,), millimetres. found: (S,) bool, the detector found a hand (demo path).
    sides: the side the demo path predicted each hand as (None where missed)."""

    ids: list[str]
    found: np.ndarray
    sides: list[str | None]
    fill: dict[str, np.ndarray]
    agreement_mm: np.ndarray
    camera_mm: dict[str, np.ndarray]
    pa_mm: dict[str, np.ndarray]

    @property
    def missed(self) -> list[str]:
        """Ids of the samples where the detector found no hand."""
        return [sample for sample, found in zip(self.ids, self.found) if not found]


def _as_freihand(folder: Path, ids: list[str], Ks: list[np.ndarray]) -> Path:
    """The samples laid out as a FreiHAND evaluation split (images and K only)."""
    (folder / "evaluation" / "rgb").mkdir(parents=True)
    for index, sample in enumerate(ids):
        shutil.copyfile(BUNDLED_SAMPLES / f"{sample}_img.jpg", folder / "evaluation" / "rgb" / f"{index:08d}.jpg")
    (folder / "evaluation_K.json").write_text(json.dumps([K.tolist() for K in Ks]))
    return folder


def _eval_path(loaded) -> PathOutput:
    """The evaluation path on the dataset in ``DATA.ROOT`` (every sample answered)."""
    cfg = loaded.cfg
    dataset = dataset_from_config(cfg, "evaluation", loaded.template)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    prediction = predict(loaded.model, batch["image"], batch["K"], loaded.template.joint_regressor,
                         RegistrationConfig.from_config(cfg.REGISTRATION))
    return PathOutput(prediction.vertices.double().cpu().numpy(), prediction.K.double().cpu().numpy(),
                      prediction.mask.shape[-1], [None] * len(dataset))


def _demo_path(loaded, images: list[np.ndarray], Ks: list[np.ndarray]) -> PathOutput:
    """The demo path: the detector's most confident hand of each image, predicted by side."""
    cfg, count = loaded.cfg, len(images)
    settings = HandSettings.from_config(cfg)
    detector = HandDetector(DetectorConfig.from_config(cfg.DETECTOR))
    hands = [next(iter(detector.detect(image)), None) for image in images]
    sides = [None if hand is None else settings.side_of(hand) for hand in hands]
    vertices = np.full((count, loaded.template.num_vertices[0], 3), np.nan)
    input_Ks = np.full((count, 3, 3), np.nan)
    for side in ("right", "left"):
        rows = [k for k in range(count) if sides[k] == side]
        if rows:
            prediction = predict_side(loaded.model, [images[k] for k in rows], [Ks[k] for k in rows],
                                      [hands[k] for k in rows], loaded.template.joint_regressor, settings,
                                      side == "left")
            vertices[rows] = prediction.vertices.double().cpu().numpy()
            input_Ks[rows] = prediction.K.double().cpu().numpy()
    return PathOutput(vertices, input_Ks, settings.policy.size, sides)


def _predict_both(checkpoint_path: Path, root: Path, ids: list[str], Ks: list[np.ndarray],
                  overrides: list[str]) -> dict[str, PathOutput]:
    """{'demo', 'eval'} -> that path's answer for every sample."""
    loaded = open_run(checkpoint_path, None, ["DATA.ROOT", str(root), "DEVICE", "cpu", *overrides])
    images = [read_rgb(BUNDLED_SAMPLES / f"{sample}_img.jpg") for sample in ids]
    return {"eval": _eval_path(loaded), "demo": _demo_path(loaded, images, Ks)}


def _vertex_errors(truth: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,) camera-space and (S,) Procrustes-aligned mean vertex errors (mm) of (S, N, 3) metres
    against the (S, N, 3) truth; NaN where ``vertices`` is."""
    camera, pa = np.full(len(truth), np.nan), np.full(len(truth), np.nan)
    rows = np.isfinite(vertices).all(axis=(1, 2))
    if rows.any():
        camera[rows] = np.linalg.norm(vertices[rows] - truth[rows], axis=-1).mean(1) * 1000
        aligned = align_w_scale(truth[rows], vertices[rows], allow_reflection=False)
        pa[rows] = np.linalg.norm(aligned - truth[rows], axis=-1).mean(1) * 1000
    return camera, pa


def compare_paths(checkpoint_path: Path = BUNDLED_CHECKPOINT, overrides: list[str] | None = None) -> PathComparison:
    """Run both paths on the bundled samples and measure them against the bundled ground truth.

    overrides: ``KEY VALUE`` pairs for the run's configuration (e.g. ``DEMO.PASSES 0``).
    """
    truth = json.loads(BUNDLED_GROUND_TRUTH.read_text())
    ids = sorted(truth)
    Ks = [np.load(BUNDLED_SAMPLES / f"{sample}_K.npy") for sample in ids]
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        outputs = _predict_both(checkpoint_path, _as_freihand(Path(folder), ids, Ks), ids, Ks, list(overrides or []))
    verts = np.array([truth[sample]["verts"] for sample in ids])
    fill = {name: np.array([hand_box(project_points(mesh, K))[1].max() / out.input_side if np.isfinite(K).all()
                            else np.nan for mesh, K in zip(verts, out.K)])
            for name, out in outputs.items()}
    errors = {name: _vertex_errors(verts, out.vertices) for name, out in outputs.items()}
    agreement = np.linalg.norm(outputs["demo"].vertices - outputs["eval"].vertices, axis=-1).mean(1) * 1000
    return PathComparison(ids, outputs["demo"].found, outputs["demo"].sides, fill, agreement,
                          {name: errors[name][0] for name in PATHS}, {name: errors[name][1] for name in PATHS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint to compare, and the demo path's settings."""
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT, help="checkpoint (default: bundled)")
    parser.add_argument("--passes", type=int, default=None,
                        help="re-crops of the demo path after the keypoint crop (DEMO.PASSES; 0: none)")
    parser.add_argument("--side", choices=("auto", "left", "right"), default=None,
                        help="side of the demo path's hands (DEMO.SIDE; default auto: the detector's)")


def _cell(value: float, style: str) -> str:
    return f"{'-' if np.isnan(value) else format(value, style):>12}"


def run(args: argparse.Namespace) -> int:
    """Print the per-sample table, the means and the samples the demo path missed.

    Means: each path over the samples it answered ('mean'), and both over the samples the
    detector found ('common').
    """
    overrides = [] if args.passes is None else ["DEMO.PASSES", str(args.passes)]
    result = compare_paths(args.checkpoint.absolute(), overrides + ([] if args.side is None else ["DEMO.SIDE", args.side]))
    columns = (("fill demo", result.fill["demo"], ".3f"), ("fill eval", result.fill["eval"], ".3f"),
               ("demo-eval mm", result.agreement_mm, ".1f"), ("cam demo", result.camera_mm["demo"], ".1f"),
               ("cam eval", result.camera_mm["eval"], ".1f"), ("PA demo", result.pa_mm["demo"], ".1f"),
               ("PA eval", result.pa_mm["eval"], ".1f"))
    print(f"{'sample':>6} {'side':>6} " + " ".join(f"{name:>12}" for name, _, _ in columns))
    for index, sample in enumerate(result.ids):
        side = result.sides[index] or "missed"
        print(f"{sample:>6} {side:>6} " + " ".join(_cell(values[index], style) for _, values, style in columns))
    found = result.found
    for name, rows in (("mean", slice(None)), ("common", found)):
        print(f"{name:>6} {'':>6} " + " ".join(_cell(np.nanmean(values[rows]), style) for _, values, style in columns))
    print(f"demo path: the detector found {int(found.sum())} of {len(found)} samples"
          + (f"; missed {', '.join(result.missed)}" if result.missed else ""))
    return 0
