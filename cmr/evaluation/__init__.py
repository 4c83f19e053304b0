"""Evaluation: the FreiHAND benchmark's metrics, scores, PCK plots and submission files."""

from cmr.evaluation.freihand import (
    FreiHANDEvaluation,
    evaluate,
    evaluate_with_curves,
    load_ground_truth,
    load_submission,
    plot_pck,
    validate_predictions,
    write_scores,
    write_submission,
    zip_submission,
)

__all__ = [
    "FreiHANDEvaluation",
    "evaluate",
    "evaluate_with_curves",
    "load_ground_truth",
    "load_submission",
    "plot_pck",
    "validate_predictions",
    "write_scores",
    "write_submission",
    "zip_submission",
]
