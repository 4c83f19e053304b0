"""Evaluation: the FreiHAND benchmark's metrics, scores, PCK plots and submission files."""

from cmr.evaluation.freihand import (
    KEYPOINT_SCORE_NAMES,
    MESH_SCORE_NAMES,
    SCORE_NAMES,
    FreiHANDEvaluation,
    GroundTruth,
    evaluate,
    evaluate_keypoints_with_curves,
    evaluate_with_curves,
    load_ground_truth,
    load_submission,
    read_ground_truth,
    validate_predictions,
    write_submission,
    zip_submission,
)
from cmr.evaluation.scoring import (
    PCK_PLOT_FILE,
    SCORES_FILE,
    ScoreReport,
    plot_pck,
    score_submission,
    write_scores,
)

__all__ = [
    "KEYPOINT_SCORE_NAMES",
    "MESH_SCORE_NAMES",
    "PCK_PLOT_FILE",
    "SCORES_FILE",
    "SCORE_NAMES",
    "FreiHANDEvaluation",
    "GroundTruth",
    "ScoreReport",
    "evaluate",
    "evaluate_keypoints_with_curves",
    "evaluate_with_curves",
    "load_ground_truth",
    "load_submission",
    "plot_pck",
    "read_ground_truth",
    "score_submission",
    "validate_predictions",
    "write_scores",
    "write_submission",
    "zip_submission",
]
