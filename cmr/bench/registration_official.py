"""The official CMR registration, re-implemented from its description, for the accuracy benchmark.

Written from ``shared/reference/cmr.md`` section 3 (``utils/vis.py: registration``), one sample
at a time in NumPy/SciPy, with the official choices kept:

* 2D step: joints with confidence > 0.1; SLSQP with SciPy's default settings and
  finite-difference gradients on the mean squared algebraic (depth-multiplied) residual,
  ``t_z`` in [0.3, 2] m, started from [0, 0, 0.6] and warm-started afterwards; at most 5 fits,
  repeated while the mean per-joint residual ``|sum_k (K (X + t) - z [u, v, 1])_k|`` (px*m) of
  the last fit's joints exceeds 2; after each fit the joints with residual < mean + std are kept
  for the next, unless fewer than 13 would remain (then the loop stops with that fit).
* 1D step: the largest external contour of the thresholded silhouette (> 0.3) and the
  24-number descriptor (min, max along 6 pairs of orthogonal axes) over the contour points
  and over all projected vertices, both divided by the image size; SLSQP from [0, 0, 0.6]
  on their mean squared difference, same bounds. It runs (the official code's OpenCV call
  failure that turns it off is not reproduced) and counts only when SLSQP reports success.
* Fusion: with ``d = |t_2D - t_1D|``, the 1D answer above 6 cm, a linear blend between 2 and
  6 cm, the 2D answer below.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import minimize

from cmr.geometry.camera import project_points

#: The official settings: start, depth bounds (metres), confidence threshold, attempts, fewest
#: joints, residual tolerance (px*m), silhouette threshold, fusion distances (metres).
START = np.array([0.0, 0.0, 0.6])
BOUNDS = ((None, None), (None, None), (0.3, 2.0))
CONFIDENCE, ATTEMPTS, MIN_JOINTS, TOLERANCE = 0.1, 5, 13, 2.0
MASK_THRESHOLD = 0.3
FUSION_NEAR, FUSION_FAR = 0.02, 0.06
#: Axis pairs (degrees) of the descriptor.
AXIS_PAIRS = ((0, 90), (-15, 75), (-30, 60), (-45, 45), (-60, 30), (-75, 15))


@dataclass
class OfficialResult:
    """One sample's official registration: translations (3,) metres of the 2D step (the start
    where it could not run), the 1D step (None where it failed or had no contour) and the fusion."""

    translation_2d: np.ndarray
    translation_1d: np.ndarray | None
    translation: np.ndarray


def _algebraic_residual(t: np.ndarray, joints: np.ndarray, uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(J, 3) px*m: ``K (X + t) - (X_z + t_z) [u, v, 1]`` (the last column is 0)."""
    camera = joints + t
    homogeneous = np.concatenate([uv, np.ones((len(uv), 1))], axis=1)
    return camera @ K.T - homogeneous * camera[:, 2:]


def official_2d(joints: np.ndarray, uv: np.ndarray, confidence: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The official 2D step. joints (21, 3) m root-relative, uv (21, 2) px, confidence (21,),
    K (3, 3). Returns t (3,) metres."""
    t = START.copy()
    selected = confidence > CONFIDENCE
    if not selected.any():
        return t
    joints, uv = joints[selected], uv[selected]
    keep = np.ones(len(joints), bool)
    residual = np.array([np.inf])
    for _ in range(ATTEMPTS):
        if residual.mean() <= TOLERANCE:
            break
        joints, uv = joints[keep], uv[keep]
        t = minimize(lambda x: np.mean(_algebraic_residual(x, joints, uv, K) ** 2), t, method="SLSQP",
                     bounds=BOUNDS).x
        residual = np.abs(_algebraic_residual(t, joints, uv, K).sum(axis=1))
        keep = residual < residual.mean() + residual.std()
        if keep.sum() < MIN_JOINTS:
            break
    return t


def descriptor(points: np.ndarray) -> np.ndarray:
    """(M, 2) pixels -> (24,) pixels: [min, max] along each axis of each pair, pair by pair."""
    values = []
    for first, second in AXIS_PAIRS:
        for angle in (first, second):
            along = points @ np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
            values += [along.min(), along.max()]
    return np.array(values)


def largest_contour(mask: np.ndarray) -> np.ndarray | None:
    """(M, 2) pixel centres of the largest external contour of ``mask > 0.3`` (or of a bool
    mask); None for an empty mask."""
    foreground = mask if mask.dtype == bool else mask > MASK_THRESHOLD
    contours, _ = cv2.findContours(foreground.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    return max(contours, key=cv2.contourArea)[:, 0].astype(np.float64)


def official_1d(vertices: np.ndarray, mask: np.ndarray, K: np.ndarray) -> np.ndarray | None:
    """The official 1D step. vertices (N, 3) m root-relative, mask (S, S) bool or
    probabilities, K (3, 3). Returns t (3,) metres, or None (no contour, or SLSQP failed)."""
    contour = largest_contour(mask)
    if contour is None:
        return None
    size = mask.shape[0]
    target = descriptor(contour) / size

    def objective(t):
        return np.mean((descriptor(project_points(vertices + t, K)) / size - target) ** 2)

    solution = minimize(objective, START, method="SLSQP", bounds=BOUNDS)
    return solution.x if solution.success else None


def official_fusion(t_2d: np.ndarray, t_1d: np.ndarray | None) -> np.ndarray:
    """The official adaptive fusion of the 2D and 1D translations (3,) metres."""
    if t_1d is None:
        return t_2d
    distance = np.linalg.norm(t_2d - t_1d)
    weight = np.clip((distance - FUSION_NEAR) / (FUSION_FAR - FUSION_NEAR), 0.0, 1.0)
    return t_2d + weight * (t_1d - t_2d)


def official_registration(vertices: np.ndarray, joints: np.ndarray, uv: np.ndarray, confidence: np.ndarray,
                          K: np.ndarray, mask: np.ndarray) -> OfficialResult:
    """The whole official registration of one sample (shapes as :func:`official_2d`,
    :func:`official_1d`)."""
    t_2d = official_2d(joints, uv, confidence, K)
    t_1d = official_1d(vertices, mask, K)
    return OfficialResult(t_2d, t_1d, official_fusion(t_2d, t_1d))
