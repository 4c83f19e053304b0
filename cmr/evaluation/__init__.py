"""Evaluation: the FreiHAND benchmark's metrics, scores, PCK plots and submission files; the joint
scores and report files of Ge et al.'s real-world test set."""

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
from cmr.evaluation.ge_real import (
    GE_SCORE_NAMES,
    GeEvaluation,
    evaluate_ge_joints,
    ge_joint_scores,
    mean_pose_baseline,
)
from cmr.evaluation.ge_report import GE_PCK_PLOT_FILE, GE_SCORES_FILE, plot_ge_pck, write_ge_report
from cmr.evaluation.scoring import (
    PCK_PLOT_FILE,
    SCORES_FILE,
    ScoreReport,
    plot_pck,
    score_submission,
    write_scores,
)

__all__ = [
    "GE_PCK_PLOT_FILE",
    "GE_SCORES_FILE",
    "GE_SCORE_NAMES",
    "GeEvaluation",
    "evaluate_ge_joints",
    "ge_joint_scores",
    "mean_pose_baseline",
    "plot_ge_pck",
    "write_ge_report",
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
