"""The hand the network found in its input, as source-image pixels for the next re-crop.

The network only ever sees hands framed by the model's :class:`cmr.geometry.crop.CropPolicy`
(the one training and evaluation use). The demo frames a detected hand around its keypoints,
then re-crops it ``DEMO.PASSES`` times around the hand the network found in the previous pass
(:func:`hand_pixels`, used by :func:`cmr.engine.hands.predict_side`). Each input's
``input_from_image`` map takes source-image pixels to input pixels (see :mod:`cmr.geometry`);
:func:`hand_pixels` maps the hand back through its inverse.
"""

from __future__ import annotations

import cv2
import numpy as np

from cmr.geometry.crop import foreground_pixels, hand_box
from cmr.geometry.pixel_maps import apply_affine
from cmr.models.prediction import Prediction
from cmr.registration import RegistrationConfig

#: Fewest silhouette pixels of a pass that make a hand box to re-crop on.
MIN_BOX_PIXELS = 8
#: The silhouette counts only within this many times the confident keypoints' extent around
#: their centre (the predicted silhouette often runs on along the forearm, which the hand box of
#: training, a hand-only mask, leaves out).
KEYPOINT_BOX_MARGIN = 1.4
#: Fewest joints above the registration's confidence threshold for the keypoint restriction.
MIN_BOX_JOINTS = 2


def _largest_component(foreground: np.ndarray) -> np.ndarray:
    """(S, S) bool: the largest 8-connected component of a (S, S) bool mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    if count <= 2:
        return foreground
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def hand_pixels(prediction: Prediction, config: RegistrationConfig,
                keypoints: np.ndarray | None = None) -> list[np.ndarray | None]:
    """Per input, the source-image pixel centres (P, 2) of the hand it shows, or None.

    The hand is the largest connected part of the silhouette (probability > ``mask_threshold``),
    kept within :data:`KEYPOINT_BOX_MARGIN` times the box of the keypoints: ``keypoints``
    ((B, 21, 2) input pixels, e.g. a detector's, all trusted) when given, else the network's
    confident ones (confidence > ``confidence_threshold``) when there are at least
    :data:`MIN_BOX_JOINTS`; its pixels are mapped back to the image the input was cut from.
    Fewer than :data:`MIN_BOX_PIXELS` give None.
    """
    masks = (prediction.mask > config.mask_threshold).cpu().numpy()
    uv, confidence = prediction.uv.cpu().numpy(), prediction.confidence.cpu().numpy()
    if keypoints is not None:
        uv, confidence = np.asarray(keypoints), np.ones(np.shape(keypoints)[:2])
    points = []
    for mask, joints, scores in zip(masks, uv, confidence):
        pixels = foreground_pixels(_largest_component(mask))
        confident = joints[scores > config.confidence_threshold]
        if len(confident) >= MIN_BOX_JOINTS and len(pixels):
            centre, extent = hand_box(confident)
            pixels = pixels[(np.abs(pixels - centre) <= KEYPOINT_BOX_MARGIN * extent.max() / 2).all(axis=1)]
        points.append(pixels if len(pixels) >= MIN_BOX_PIXELS else None)
    maps = prediction.input_from_image.cpu().numpy()
    return [None if pixels is None else apply_affine(np.linalg.inv(matrix), pixels)
            for pixels, matrix in zip(points, maps)]
