"""Joint scores on Ge et al.'s real-world test set (:mod:`cmr.data.ge_real`), and a mean-pose baseline.

The set has joints but no meshes, so predictions are scored on their 21 camera-space joints
(FreiHAND order, metres) against the ground truth, with the crops' intrinsics for the 2D error:

* ``camera_mpjpe_mm``: mean joint error in camera space (absolute position: root and pose);
* ``root_error_mm``: error of the wrist (keypoint 0) alone, i.e. the camera-space root;
* ``root_relative_mpjpe_mm``: mean joint error after moving both wrists to the origin (over
  all 21 joints, the wrist's zero included);
* ``pa_mpjpe_mm`` (and ``pa_mpjpe_median_mm``): mean (median) joint error after Procrustes
  alignment of the prediction (rotation, scale, translation;
  :func:`cmr.evaluation.metrics.align_w_scale` restricted to proper rotations, so that a
  prediction mirrored left-for-right is not forgiven);
* ``uv_error_px``: mean distance between the joints projected with K, pixels;
* ``*_auc``: area under the PCK curve (3D: 0-50 mm, :data:`PCK_3D_THRESHOLDS_M`; 2D: 0-30 px,
  :data:`PCK_2D_THRESHOLDS_PX`), normalised to [0, 1], as :func:`cmr.evaluation.metrics.point_measures`.

**Missed hands.** A pipeline may find no hand in an image (``found`` False, or NaN joints).
Means, medians and the plain AUCs are over the found hands only and come with
``detection_rate`` = found / images; the ``*_auc_all`` AUCs (and the ``*_all`` curves) are over
every image, a missed hand counting as an infinite error (never within any threshold). With no
hand found the found-only scores are None. Means and AUCs are computed per joint over the
images and then averaged over the joints (the FreiHAND convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmr.evaluation.metrics import PCK_THRESHOLDS_M, PointMeasures, align_w_scale, point_errors, point_measures
from cmr.geometry.camera import project_points
from cmr.hand.conventions import NUM_KEYPOINTS, ROOT_KEYPOINT

#: 3D PCK thresholds: 0 to 50 mm in 100 steps, metres (T,).
PCK_3D_THRESHOLDS_M = PCK_THRESHOLDS_M
#: 2D PCK thresholds: 0 to 30 px in 100 steps, pixels (T,).
PCK_2D_THRESHOLDS_PX = np.linspace(0.0, 30.0, 100)
MM_PER_M = 1000.0
#: Error kinds: curve key -> (mean score, AUC score, unit scale to the score's unit).
ERROR_KINDS = {
    "camera": ("camera_mpjpe_mm", "camera_auc", MM_PER_M),
    "root_relative": ("root_relative_mpjpe_mm", "root_relative_auc", MM_PER_M),
    "procrustes": ("pa_mpjpe_mm", "pa_auc", MM_PER_M),
    "uv": ("uv_error_px", "uv_auc", 1.0),
}
#: Score names in the order they are reported.
GE_SCORE_NAMES = (
    "images", "found", "detection_rate",
    "camera_mpjpe_mm", "root_error_mm", "root_relative_mpjpe_mm", "pa_mpjpe_mm", "uv_error_px",
    "pa_mpjpe_median_mm",
    "camera_auc", "root_relative_auc", "pa_auc", "uv_auc",
    "camera_auc_all", "root_relative_auc_all", "pa_auc_all", "uv_auc_all",
)


@dataclass(frozen=True)
class GeEvaluation:
    """Scores of a set of predictions and the PCK curves behind them.

    Attributes:
        scores: :data:`GE_SCORE_NAMES` -> value (counts, a rate in [0, 1], mm, px, AUCs in
            [0, 1]); found-only scores are None when no hand was found.
        curves: ``'camera'``, ``'root_relative'``, ``'procrustes'`` (thresholds in metres) and
            ``'uv'`` (thresholds in pixels) over the found hands (absent when none was found),
            and the same keys with ``'_all'`` over every image (misses never correct).
    """

    scores: dict[str, float | None]
    curves: dict[str, PointMeasures]


def _points(value, name: str, tail: tuple[int, ...]) -> np.ndarray:
    """``value`` as float64 (N, *tail), or ValueError naming ``name`` and the expected shape."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != len(tail) + 1 or array.shape[1:] != tail:
        raise ValueError(f"{name}: expected shape (N, {', '.join(str(n) for n in tail)}), got {array.shape}")
    return array


def _check_inputs(pred, gt, K, found) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated (pred, gt, K, found) float64 / bool arrays of one length N (see :func:`evaluate_ge_joints`)."""
    pred = _points(pred, "pred_joints", (NUM_KEYPOINTS, 3))
    gt = _points(gt, "gt_joints", (NUM_KEYPOINTS, 3))
    K = _points(K, "K", (3, 3))
    if not len(pred) == len(gt) == len(K):
        raise ValueError(f"pred_joints, gt_joints and K disagree on N: {len(pred)}, {len(gt)}, {len(K)}")
    if len(gt) == 0:
        raise ValueError("gt_joints: no images to score (N = 0)")
    if not (np.isfinite(gt).all() and np.isfinite(K).all()):
        raise ValueError("gt_joints and K must be finite")
    finite = np.isfinite(pred).all(axis=(1, 2))
    if found is None:
        return pred, gt, K, finite
    found = np.asarray(found)
    if found.shape != (len(pred),) or found.dtype != bool:
        raise ValueError(f"found: expected a bool array of shape ({len(pred)},), got {found.dtype} {found.shape}")
    if (found & ~finite).any():
        bad = np.flatnonzero(found & ~finite)
        raise ValueError(f"pred_joints: images {bad[:5].tolist()} are marked found but hold NaN or infinite joints")
    return pred, gt, K, found


def ge_joint_errors(pred: np.ndarray, gt: np.ndarray, K: np.ndarray) -> dict[str, np.ndarray]:
    """Per-joint errors of finite predictions.

    Args:
        pred: (M, 21, 3) predicted camera-space joints, metres.
        gt: (M, 21, 3) ground-truth joints, metres.
        K: (M, 3, 3) intrinsics of each image, pixels.

    Returns:
        ``'camera'``, ``'root_relative'``, ``'procrustes'``: (M, 21) metres; ``'uv'``: (M, 21)
        pixels (both projected with K; predictions behind the camera are clamped by
        :func:`cmr.geometry.camera.project_points`).
    """
    root = slice(ROOT_KEYPOINT, ROOT_KEYPOINT + 1)
    relative_pred, relative_gt = pred - pred[:, root], gt - gt[:, root]
    aligned = align_w_scale(gt, pred, allow_reflection=False)
    return {
        "camera": point_errors(gt, pred),
        "root_relative": point_errors(relative_gt, relative_pred),
        "procrustes": point_errors(gt, aligned),
        "uv": np.linalg.norm(project_points(pred, K) - project_points(gt, K), axis=-1),
    }


def _plain(value) -> int | float | None:
    """A score as a JSON-ready Python number: counts stay int, other numbers become float."""
    return value if value is None or isinstance(value, int) else float(value)


def _thresholds(kind: str) -> np.ndarray:
    """(T,) PCK thresholds of an error kind: pixels for ``'uv'``, metres otherwise."""
    return PCK_2D_THRESHOLDS_PX if kind == "uv" else PCK_3D_THRESHOLDS_M


def _found_scores(errors: dict[str, np.ndarray], root_errors: np.ndarray) -> tuple[dict, dict]:
    """Scores and curves over the found hands from their (M, 21) errors and (M,) root errors (m)."""
    scores, curves = {}, {}
    for kind, (mean_name, auc_name, unit) in ERROR_KINDS.items():
        curves[kind] = point_measures(errors[kind], _thresholds(kind))
        scores[mean_name] = curves[kind].mean_m * unit
        scores[auc_name] = curves[kind].auc
    scores["root_error_mm"] = float(root_errors.mean()) * MM_PER_M
    scores["pa_mpjpe_median_mm"] = curves["procrustes"].median_m * MM_PER_M
    return scores, curves


def evaluate_ge_joints(pred_joints, gt_joints, K, found=None) -> GeEvaluation:
    """Score camera-space joint predictions on Ge et al.'s set (see the module docstring).

    Args:
        pred_joints: (N, 21, 3) predicted camera-space joints, metres, FreiHAND order, in the
            camera of each image as stored (left hands: mirror right-hand predictions back);
            rows of missed images may hold anything (NaN by convention).
        gt_joints: (N, 21, 3) ground truth, metres (:attr:`cmr.data.ge_real.GeRealWorld.joints`).
        K: (N, 3, 3) intrinsics, pixels (:attr:`cmr.data.ge_real.GeRealWorld.K`).
        found: (N,) bool, True where a hand was found; None: where ``pred_joints`` is finite.

    Returns:
        :class:`GeEvaluation`: scores (:data:`GE_SCORE_NAMES`) and PCK curves.

    Raises:
        ValueError: a shape is wrong, N differs or is 0, the ground truth or K is not finite, or a
            found image's prediction is not finite.
    """
    pred, gt, K, found = _check_inputs(pred_joints, gt_joints, K, found)
    count = int(found.sum())
    scores: dict[str, float | None] = dict.fromkeys(GE_SCORE_NAMES)
    scores.update(images=len(gt), found=count, detection_rate=count / len(gt))
    curves: dict[str, PointMeasures] = {}
    errors = {kind: np.full((len(gt), NUM_KEYPOINTS), np.inf) for kind in ERROR_KINDS}
    if count:
        found_errors = ge_joint_errors(pred[found], gt[found], K[found])
        for kind, values in found_errors.items():
            errors[kind][found] = values
        found_scores, curves = _found_scores(found_errors, found_errors["camera"][:, ROOT_KEYPOINT])
        scores.update(found_scores)
    for kind, (_, auc_name, _) in ERROR_KINDS.items():
        curves[f"{kind}_all"] = point_measures(errors[kind], _thresholds(kind))
        scores[f"{auc_name}_all"] = curves[f"{kind}_all"].auc
    return GeEvaluation(scores={name: _plain(value) for name, value in scores.items()}, curves=curves)


def ge_joint_scores(pred_joints, gt_joints, K, found=None) -> dict[str, float | None]:
    """The scores of :func:`evaluate_ge_joints` alone (:data:`GE_SCORE_NAMES` -> value)."""
    return evaluate_ge_joints(pred_joints, gt_joints, K, found).scores


def mean_pose_baseline(gt_joints, reference_joints=None) -> np.ndarray:
    """The mean-pose baseline: the mean root-relative pose placed at each true root.

    Args:
        gt_joints: (N, 21, 3) ground-truth joints, metres (their wrists place the mean pose).
        reference_joints: (M, 21, 3) joints, metres, whose root-relative mean is the pose;
            None: ``gt_joints`` themselves.

    Returns:
        (N, 21, 3) predictions, metres: the camera-space root error is 0 by construction, so
        the camera-space and root-relative errors are equal and PA-MPJPE measures the pose
        variation of the set.
    """
    gt = _points(gt_joints, "gt_joints", (NUM_KEYPOINTS, 3))
    reference = gt if reference_joints is None else _points(reference_joints, "reference_joints",
                                                            (NUM_KEYPOINTS, 3))
    if len(reference) == 0:
        raise ValueError("reference_joints: at least one pose is needed for a mean")
    root = slice(ROOT_KEYPOINT, ROOT_KEYPOINT + 1)
    mean = (reference - reference[:, root]).mean(axis=0)
    return mean[None] + gt[:, root]
