"""Scoring a written submission as the FreiHAND server does, and the files that record it.

:func:`score_submission` reads the submission back from disk (JSON numbers parsed to float64,
as the official ``eval.py`` reads ``pred.json``) and the ground truth as stored (float64 too), so
``scores.json`` holds the server's numbers for exactly the bytes that are uploaded, not those of
the unrounded float32 predictions still in memory. Missing ground truth is reported, never
scored: without ``evaluation_verts.json`` only the keypoint scores are written; without
``evaluation_xyz.json`` nothing is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from cmr.evaluation.freihand import (
    CM_PER_M,
    MANO_VERTICES,
    MESH_SCORE_NAMES,
    SCORE_NAMES,
    FreiHANDEvaluation,
    GroundTruth,
    evaluate_keypoints_with_curves,
    evaluate_with_curves,
    load_submission,
    read_ground_truth,
)
from cmr.evaluation.metrics import PointMeasures
from cmr.fileio import atomic_write_json
from cmr.vis.pck import PckCurve, PckPanel, plot_pck_panels

#: Default name of the scores file and the name of the PCK plot written beside it.
SCORES_FILE = "scores.json"
PCK_PLOT_FILE = "pck.png"


def write_scores(path: str | os.PathLike, scores: Mapping[str, float]) -> Path:
    """Write the scores as a JSON object (full precision, in the mapping's order) atomically."""
    return atomic_write_json(path, {name: float(value) for name, value in scores.items()})


def plot_pck(curves: Mapping[str, PointMeasures], path: str | os.PathLike) -> Path:
    """Save the keypoint PCK and mesh PCV curves (unaligned and aligned, AUC in the legend) as PNG.

    Args:
        curves: as :attr:`FreiHANDEvaluation.curves` (thresholds in metres, drawn in cm); missing
            mesh curves leave their panel empty.
        path: output ``.png``.
    """
    panels = []
    for prefix, title, points in (("xyz", "Keypoints (PCK)", "keypoints"), ("mesh", "Mesh (PCV)", "vertices")):
        drawn = [PckCurve(f"{label}", curves[key].thresholds_m * CM_PER_M, curves[key].pck, curves[key].auc, colour)
                 for key, label, colour in ((prefix, "unaligned", "C0"), (f"{prefix}_al", "Procrustes-aligned", "C1"))
                 if key in curves]
        panels.append(PckPanel(title, "threshold (cm)", drawn, f"fraction of correct {points}"))
    return plot_pck_panels(panels, path)


@dataclass(frozen=True)
class ScoreReport:
    """What :func:`score_submission` computed, left out and wrote.

    Attributes:
        scores: official score name -> value, in :data:`SCORE_NAMES` order (means in cm, AUCs and
            F-scores in [0, 1]); only the scores that could be computed, empty when none.
        skipped: the names of the scores left out for want of ground truth.
        messages: one line per thing the user should know (a missing file and the scores it
            cost, a non-MANO prediction scored with the official -100 / -1).
        scores_path: the scores JSON written, None when nothing was scored.
        plot_path: the PCK plot written beside it, None when nothing was scored.
    """

    scores: dict[str, float]
    skipped: tuple[str, ...]
    messages: tuple[str, ...]
    scores_path: Path | None
    plot_path: Path | None


def score_submission(
    submission_path: str | os.PathLike,
    ground_truth: str | os.PathLike | GroundTruth,
    out_dir: str | os.PathLike,
    scores_name: str = SCORES_FILE,
) -> ScoreReport:
    """Score a submission file as the official server would and write ``scores_name`` + ``pck.png``.

    Args:
        submission_path: the ``.json`` ``[xyz_list, verts_list]`` or the ``.zip`` of ``pred.json``
            as written for the server (N x 21 x 3 keypoints, N x W x 3 vertices, metres).
        ground_truth: a FreiHAND-layout folder holding ``evaluation_xyz.json`` (M, 21, 3) and
            ``evaluation_verts.json`` (M, 778, 3), metres, or what :func:`read_ground_truth`
            returned for one.
        out_dir: folder for the scores JSON and the PCK plot (created when missing).
        scores_name: file name of the scores JSON inside ``out_dir``.

    Raises:
        FileNotFoundError: the submission (or the ground-truth folder) does not exist.
        ValueError: a file is not JSON, a shape is wrong (the message names the file, its shape
            and the expected one), or the submission's count differs from the ground truth's.
    """
    if not isinstance(ground_truth, GroundTruth):
        ground_truth = read_ground_truth(ground_truth)
    if ground_truth.xyz is None:
        missing = " and ".join(str(path) for path in ground_truth.missing)
        message = f"{missing} not found: no scores computed (every score needs the keypoint ground truth)"
        return ScoreReport({}, SCORE_NAMES, (message,), None, None)
    pred_xyz, pred_verts = load_submission(submission_path)
    if len(pred_xyz) != len(ground_truth.xyz):
        raise ValueError(
            f"{submission_path} holds {len(pred_xyz)} predictions but {ground_truth.xyz_path} holds "
            f"{len(ground_truth.xyz)} samples: expected one prediction per evaluation sample"
        )
    result, messages = _evaluate_against(ground_truth, pred_xyz, pred_verts, submission_path)
    out_dir = Path(out_dir)
    plot_path = plot_pck(result.curves, out_dir / PCK_PLOT_FILE)
    scores_path = write_scores(out_dir / scores_name, result.scores)
    skipped = tuple(name for name in SCORE_NAMES if name not in result.scores)
    return ScoreReport(result.scores, skipped, messages, scores_path, plot_path)


def _evaluate_against(
    ground_truth: GroundTruth, pred_xyz, pred_verts, submission_path: str | os.PathLike
) -> tuple[FreiHANDEvaluation, tuple[str, ...]]:
    """Every score the ground truth allows for (N, 21, 3) / (N, W, 3) float64 predictions, and notes."""
    if ground_truth.verts is None:
        note = (f"{ground_truth.verts_path} not found: keypoint scores only, skipped "
                f"{', '.join(MESH_SCORE_NAMES)}")
        return evaluate_keypoints_with_curves(pred_xyz, ground_truth.xyz), (note,)
    notes = ()
    if pred_verts.shape[1] != MANO_VERTICES:
        notes = (f"{submission_path}: predicted meshes have {pred_verts.shape[1]} vertices, not "
                 f"{MANO_VERTICES}: as on the official server, mesh_mean3d and mesh_al_mean3d read -100 "
                 f"and mesh_auc3d and mesh_al_auc3d -1",)
    return evaluate_with_curves(pred_xyz, pred_verts, ground_truth.xyz, ground_truth.verts), notes
