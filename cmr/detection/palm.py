"""Stage 1 of the detector: palms in a square view of the image (MediaPipe's palm detector).

The network sees a 192 x 192 view (RGB in [0, 1]) and scores 2016 anchors: a 24 x 24 grid of
stride 8 with 2 anchors per cell, then a 12 x 12 grid of stride 16 with 6 per cell, all of
unit size. Each anchor regresses a palm box (centre offset, width, height) and 7 palm keypoints
(0 wrist, 2 middle-finger knuckle, ...) in input pixels relative to its centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmr.geometry.pixel_maps import apply_affine

PALM_INPUT = 192
#: (stride, anchors per cell) of the anchor grids, in output order.
_GRIDS = ((8, 2), (16, 6))
#: Palm keypoints that give the hand's direction: the wrist and the middle finger's knuckle.
WRIST_KEYPOINT, MIDDLE_KNUCKLE_KEYPOINT = 0, 2
#: Raw scores are clipped to this before the sigmoid (as MediaPipe).
_SCORE_CLIP = 100.0


@dataclass(frozen=True)
class Palm:
    """One palm found in an image (pixels of that image).

    box: (4,) x0, y0, x1, y1. keypoints: (7, 2). score: detector confidence in [0, 1].
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float


def anchor_centres() -> np.ndarray:
    """(2016, 2) anchor centres in input pixels of the 192 px view (continuous coordinates)."""
    centres = []
    for stride, per_cell in _GRIDS:
        cells = PALM_INPUT // stride
        y, x = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([x.ravel() + 0.5, y.ravel() + 0.5], axis=1) * stride
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres)


_ANCHORS = anchor_centres()


def decode_palms(raw_boxes: np.ndarray, raw_scores: np.ndarray, min_score: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate palms of one network output, in the 192 px view's pixel-centre coordinates.

    raw_boxes: (2016, 18) regressions; raw_scores: (2016,) logits.
    Returns boxes (M, 4) x0, y0, x1, y1, keypoints (M, 7, 2) and scores (M,) for the anchors
    scoring at least ``min_score``.
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -_SCORE_CLIP, _SCORE_CLIP)))
    keep = scores >= min_score
    raw, anchors = raw_boxes[keep].astype(np.float64), _ANCHORS[keep]
    centre = raw[:, :2] + anchors
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1) - 0.5
    keypoints = raw[:, 4:18].reshape(-1, 7, 2) + anchors[:, None] - 0.5
    return boxes, keypoints, scores[keep]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(M,) intersection over union of one (4,) box with (M, 4) boxes (x0, y0, x1, y1)."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    overlap = np.prod(np.clip(high - low, 0.0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0.0, None), axis=-1)  # noqa: E731
    return overlap / np.maximum(area(box) + area(boxes) - overlap, 1e-9)


def box_containment(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(M,) fraction of the smaller of one (4,) box and each of (M, 4) boxes lying in the other."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    overlap = np.prod(np.clip(high - low, 0.0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0.0, None), axis=-1)  # noqa: E731
    return overlap / np.maximum(np.minimum(area(box), area(boxes)), 1e-9)


def merge_palms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float
                ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Weighted non-maximum suppression: each cluster of boxes overlapping the best remaining
    one by more than ``iou`` becomes its score-weighted mean box and keypoints, with the best
    score. Inputs as :func:`decode_palms`; returns (box, keypoints, score) best first."""
    order = np.argsort(-scores)
    remaining = order
    merged = []
    while len(remaining):
        cluster = remaining[box_iou(boxes[remaining[0]], boxes[remaining]) > iou]
        cluster = np.union1d(cluster, remaining[:1])
        weights = scores[cluster] / scores[cluster].sum()
        merged.append((np.tensordot(weights, boxes[cluster], 1),
                       np.tensordot(weights, keypoints[cluster], 1), float(scores[cluster].max())))
        remaining = np.setdiff1d(remaining, cluster, assume_unique=True)
        remaining = remaining[np.argsort(-scores[remaining])]
    return merged


def palms_in_view(raw_boxes: np.ndarray, raw_scores: np.ndarray, view_to_image: np.ndarray,
                  min_score: float, iou: float) -> list[Palm]:
    """Palms of one 192 px view, mapped to image pixels by the (3, 3) ``view_to_image`` map
    (a scale and shift, no rotation)."""
    boxes, keypoints, scores = decode_palms(raw_boxes, raw_scores, min_score)
    palms = []
    for box, points, score in merge_palms(boxes, keypoints, scores, iou):
        corners = apply_affine(view_to_image, box.reshape(2, 2)).ravel()
        palms.append(Palm(box=corners, keypoints=apply_affine(view_to_image, points), score=score))
    return palms
