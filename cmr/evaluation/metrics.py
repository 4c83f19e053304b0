"""The FreiHAND benchmark's metrics, reproduced number for number in vectorised numpy.

Every function follows the official evaluation (``lmb-freiburg/freihand``: ``eval.py`` and
``utils/eval_util.py``), quirks included; see the project's reference notes (``shared/reference/freihand_metrics.md``):

* Procrustes alignment adds ``1e-8`` to both Frobenius norms (``eps``), so an aligned perfect
  prediction keeps about 1e-9 m of error, and it allows reflections (no ``det(R) = +1`` fix).
* PCK counts ``error <= threshold``; the F-score counts ``distance < threshold`` (strict).
* Mean errors and AUCs are computed per point (keypoint or vertex) over the samples and then
  averaged over the points.
* Predictions that are not 778-vertex meshes are aligned with the keypoints' transform through
  ``align_by_trafo``, which forgets to divide by the prediction's norm (a bug; see
  :func:`align_with_keypoint_fit`, whose ``official=False`` gives the corrected transform).

Inputs are arrays of points in metres: keypoints (N, 21, 3), vertices (N, V, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

#: PCK thresholds of the official scores: 0 to 5 cm in 100 steps, metres (T=100,).
PCK_THRESHOLDS_M = np.linspace(0.0, 0.05, 100)
#: F-score thresholds of the official scores, metres (5 mm and 15 mm).
F_SCORE_THRESHOLDS_M = (0.005, 0.015)
#: Added by the official ``align_w_scale`` to both Frobenius norms.
OFFICIAL_NORM_EPS = 1e-8


@dataclass(frozen=True)
class SimilarityFit:
    """Per-sample similarity transforms from the official ``align_w_scale`` (N samples).

    The aligned prediction is ``((pred - pred_centroid) / pred_norm) @ rotation.T * scale
    * gt_norm + gt_centroid``.

    Attributes:
        rotation: (N, 3, 3) orthogonal matrices (a reflection unless reflections are excluded).
        scale: (N,) sum of the singular values, the optimal scale between the normalised sets.
        gt_centroid: (N, 3) mean of the ground-truth points, metres.
        gt_norm: (N,) Frobenius norm of the centred ground truth plus ``eps``, metres.
        pred_centroid: (N, 3) mean of the predicted points, metres.
        pred_norm: (N,) Frobenius norm of the centred prediction plus ``eps``, metres.
    """

    rotation: np.ndarray
    scale: np.ndarray
    gt_centroid: np.ndarray
    gt_norm: np.ndarray
    pred_centroid: np.ndarray
    pred_norm: np.ndarray


def _centre_and_normalise(points: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (N, P, 3) points per sample and divide by their Frobenius norm plus ``eps``.

    Returns:
        (normalised (N, P, 3), centroid (N, 3), norm (N,)).
    """
    centroid = points.mean(axis=1)
    centred = points - centroid[:, None, :]
    norm = np.linalg.norm(centred, axis=(1, 2)) + eps
    return centred / norm[:, None, None], centroid, norm


def fit_similarity(
    gt: np.ndarray, pred: np.ndarray, eps: float = OFFICIAL_NORM_EPS, allow_reflection: bool = True
) -> SimilarityFit:
    """Fit the similarity transform (rotation, scale, translation) that maps ``pred`` onto ``gt``.

    This is ``align_w_scale(gt, pred, return_trafo=True)`` with ``scipy.linalg.orthogonal_procrustes``,
    done for every sample at once.

    Args:
        gt: (N, P, 3) ground-truth points, metres.
        pred: (N, P, 3) predicted points in correspondence with ``gt``, metres.
        eps: added to both Frobenius norms (the official 1e-8; 0 gives the exact fit).
        allow_reflection: the official fit may return a reflection; ``False`` restricts it to
            proper rotations (``det = +1``, as most HMR-style PA-MPJPE codes do).
    """
    gt_n, gt_centroid, gt_norm = _centre_and_normalise(gt, eps)
    pred_n, pred_centroid, pred_norm = _centre_and_normalise(pred, eps)
    cross = np.swapaxes(gt_n, 1, 2) @ pred_n                    # (N, 3, 3), gt_n^T pred_n
    u, singular, vt = np.linalg.svd(cross)
    if not allow_reflection:
        sign = np.sign(np.linalg.det(u @ vt))
        sign[sign == 0] = 1.0
        u = u.copy()
        u[:, :, -1] *= sign[:, None]
        singular = singular.copy()
        singular[:, -1] *= sign
    return SimilarityFit(
        rotation=u @ vt,
        scale=singular.sum(axis=1),
        gt_centroid=gt_centroid,
        gt_norm=gt_norm,
        pred_centroid=pred_centroid,
        pred_norm=pred_norm,
    )


def align_w_scale(
    gt: np.ndarray, pred: np.ndarray, eps: float = OFFICIAL_NORM_EPS, allow_reflection: bool = True
) -> np.ndarray:
    """Procrustes-align ``pred`` to ``gt`` with scale, as the official ``align_w_scale``.

    Args:
        gt: (N, P, 3) ground truth, metres.
        pred: (N, P, 3) prediction, metres.
        eps, allow_reflection: see :func:`fit_similarity`.

    Returns:
        (N, P, 3) aligned prediction, metres.
    """
    fit = fit_similarity(gt, pred, eps, allow_reflection)
    pred_n = (pred - fit.pred_centroid[:, None, :]) / fit.pred_norm[:, None, None]
    rotated = pred_n @ np.swapaxes(fit.rotation, 1, 2) * fit.scale[:, None, None]
    return rotated * fit.gt_norm[:, None, None] + fit.gt_centroid[:, None, :]


def align_with_keypoint_fit(vertices: np.ndarray, fit: SimilarityFit, official: bool = True) -> np.ndarray:
    """Move predicted vertices with the transform fitted on the keypoints (non-MANO predictions).

    ``official=True`` reproduces ``align_by_trafo`` exactly, bug included: it rotates the vertices
    about *their own* centroid, scales them by ``scale * gt_norm`` without dividing by
    ``pred_norm`` (so they come out about ``pred_norm`` ~ 0.2-0.3 times too small) and shifts
    them by the keypoint centroid difference. ``official=False`` applies the keypoint similarity
    transform itself, the same one :func:`align_w_scale` applies to the keypoints.

    Args:
        vertices: (N, V, 3) predicted vertices, metres.
        fit: transforms fitted on the keypoints of the same N samples.

    Returns:
        (N, V, 3) aligned vertices, metres.
    """
    rotation_t = np.swapaxes(fit.rotation, 1, 2)
    if official:
        centroid = vertices.mean(axis=1, keepdims=True)
        scaled = (vertices - centroid) @ rotation_t * fit.scale[:, None, None] * fit.gt_norm[:, None, None]
        return scaled + (fit.gt_centroid - fit.pred_centroid)[:, None, :] + centroid
    normalised = (vertices - fit.pred_centroid[:, None, :]) / fit.pred_norm[:, None, None]
    scaled = normalised @ rotation_t * fit.scale[:, None, None] * fit.gt_norm[:, None, None]
    return scaled + fit.gt_centroid[:, None, :]


def point_errors(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Euclidean distance between corresponding points: (N, P, 3) x2 -> (N, P), metres."""
    return np.sqrt(np.sum(np.square(gt - pred), axis=-1))


def trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoidal integral of ``y`` (..., T) over the sample points ``x`` (T,), as ``np.trapz``."""
    return (np.diff(x) * (y[..., 1:] + y[..., :-1]) / 2.0).sum(axis=-1)


def pck_per_point(errors: np.ndarray, thresholds: np.ndarray = PCK_THRESHOLDS_M) -> np.ndarray:
    """Fraction of samples whose error is ``<=`` each threshold, for every point.

    Args:
        errors: (N, P) per-sample point errors, metres (NaN never counts as correct).
        thresholds: (T,) increasing thresholds, metres.

    Returns:
        (P, T) PCK in [0, 1].
    """
    num_samples, num_points = errors.shape
    num_thresholds = len(thresholds)
    # First threshold index k with thresholds[k] >= error; the error counts for every k after it.
    first = np.searchsorted(thresholds, errors, side="left")   # (N, P) in [0, T]
    bins = np.arange(num_points)[None, :] * (num_thresholds + 1) + first
    counts = np.bincount(bins.ravel(), minlength=num_points * (num_thresholds + 1))
    counts = counts.reshape(num_points, num_thresholds + 1)[:, :num_thresholds]
    return np.cumsum(counts, axis=1) / num_samples


@dataclass(frozen=True)
class PointMeasures:
    """The official ``EvalUtil.get_measures`` outputs for one set of errors.

    Attributes:
        mean_m: per-point mean error over samples, averaged over points, metres.
        median_m: per-point median error, averaged over points, metres (not an official score).
        auc: per-point area under the PCK curve over the thresholds, normalised to [0, 1] and
            averaged over points.
        pck: (T,) PCK curve averaged over points, in [0, 1].
        thresholds_m: (T,) thresholds of the curve, metres.
    """

    mean_m: float
    median_m: float
    auc: float
    pck: np.ndarray
    thresholds_m: np.ndarray


def point_measures(errors: np.ndarray, thresholds: np.ndarray = PCK_THRESHOLDS_M) -> PointMeasures:
    """Mean error, PCK curve and AUC of (N, P) errors in metres, as ``get_measures(0, 0.05, 100)``."""
    pck = pck_per_point(errors, thresholds)                     # (P, T)
    auc = trapezoid(pck, thresholds) / trapezoid(np.ones_like(thresholds), thresholds)
    return PointMeasures(
        mean_m=float(np.mean(errors.mean(axis=0))),
        median_m=float(np.mean(np.median(errors, axis=0))),
        auc=float(np.mean(auc)),
        pck=pck.mean(axis=0),
        thresholds_m=np.asarray(thresholds, dtype=np.float64),
    )


def nearest_distances(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance from each query (M, 3) to its nearest point in (K, 3): (M,), same unit."""
    distances, _ = cKDTree(points).query(queries, k=1)
    return distances


def f_score(
    gt: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = F_SCORE_THRESHOLDS_M
) -> np.ndarray:
    """F-score of two point sets without correspondences, as the official ``calculate_fscore``.

    Precision is the fraction of ground-truth points with a predicted point closer than the
    threshold, recall the fraction of predicted points with a ground-truth point closer than it
    (the official names, swapped against the usual ones; F does not change). ``F = 2PR / (P + R)``,
    or 0 when ``P + R = 0`` or either set is empty.

    Args:
        gt: (V, 3) ground-truth vertices, metres.
        pred: (W, 3) predicted vertices, metres.
        thresholds: distances in metres; a point counts when its distance is strictly smaller.

    Returns:
        (len(thresholds),) F-scores in [0, 1].
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if len(gt) == 0 or len(pred) == 0:
        return np.zeros_like(thresholds)
    gt_to_pred = nearest_distances(gt, pred)
    pred_to_gt = nearest_distances(pred, gt)
    precision = np.mean(gt_to_pred[:, None] < thresholds, axis=0)
    recall = np.mean(pred_to_gt[:, None] < thresholds, axis=0)
    total = precision + recall
    return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1.0), 0.0)


def f_scores(
    gt: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = F_SCORE_THRESHOLDS_M
) -> np.ndarray:
    """Per-sample F-scores: gt (N, V, 3) and pred (N, W, 3) metres -> (N, len(thresholds))."""
    return np.stack([f_score(g, p, thresholds) for g, p in zip(gt, pred)])
