"""From images to camera-space hands: frame each hand with the model's crop policy, predict.

The network only ever sees hands framed by the model's :class:`cmr.geometry.crop.CropPolicy`
(the one training and evaluation use). An image without a known hand box is first predicted
whole (letterboxed), which finds the hand, then re-cropped by the policy around the hand found
in the previous pass, ``passes`` times (:func:`predict_images`, :func:`hand_pixels`). Left hands are mirrored in (image and K),
predicted as right hands, and mirrored out (:func:`cmr.models.prediction.mirror_prediction`).

Cropping, padding, resizing and mirroring change only ``K`` (and the pixels), never the camera
frame, so every camera-space output is in the camera of the original image; each input's
``input_from_image`` map takes original pixels to input pixels (see :mod:`cmr.geometry`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from cmr.data.augment import normalise_image
from cmr.geometry.camera import mirror_intrinsics
from cmr.geometry.crop import Crop, CropPolicy, foreground_pixels, hand_box, letterbox_crop, warp_image
from cmr.geometry.pixel_maps import apply_affine
from cmr.models.prediction import Prediction, mirror_prediction, predict
from cmr.registration import RegistrationConfig

#: Fewest silhouette pixels of a pass that make a hand box to re-crop on.
MIN_BOX_PIXELS = 8
#: The silhouette counts only within this many times the confident keypoints' extent around
#: their centre (the predicted silhouette often runs on along the forearm, which the hand box of
#: training, a hand-only mask, leaves out).
KEYPOINT_BOX_MARGIN = 1.4
#: Fewest joints above the registration's confidence threshold for the keypoint restriction.
MIN_BOX_JOINTS = 2


def predict_crops(model: nn.Module, images_rgb: list[np.ndarray], crops: list[Crop], joint_regressor,
                  config: RegistrationConfig) -> Prediction:
    """Warp each image by its crop (which carries the input's K) and predict.

    images_rgb: B arrays (H_i, W_i, 3) uint8. crops: B :class:`Crop` of the same side S.
    joint_regressor: (21, N).
    """
    inputs = torch.stack([torch.from_numpy(normalise_image(warp_image(image, crop)))
                          for image, crop in zip(images_rgb, crops)])
    return predict(model, inputs, np.stack([crop.K for crop in crops]), joint_regressor, config,
                   np.stack([crop.matrix for crop in crops]))


def _largest_component(foreground: np.ndarray) -> np.ndarray:
    """(S, S) bool: the largest 8-connected component of a (S, S) bool mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    if count <= 2:
        return foreground
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def hand_pixels(prediction: Prediction, config: RegistrationConfig) -> list[np.ndarray | None]:
    """Per input, the source-image pixel centres (P, 2) of the hand it shows, or None.

    The hand is the largest connected part of the silhouette (probability > ``mask_threshold``),
    kept within :data:`KEYPOINT_BOX_MARGIN` times the box of the confident keypoints (confidence
    > ``confidence_threshold``) when there are at least :data:`MIN_BOX_JOINTS`; its pixels are
    mapped back to the image the input was cut from. Fewer than :data:`MIN_BOX_PIXELS` give None.
    """
    masks = (prediction.mask > config.mask_threshold).cpu().numpy()
    uv, confidence = prediction.uv.cpu().numpy(), prediction.confidence.cpu().numpy()
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


def predict_images(model: nn.Module, images_rgb: list[np.ndarray], Ks: list[np.ndarray], joint_regressor,
                   config: RegistrationConfig, policy: CropPolicy, passes: int, left: bool = False) -> Prediction:
    """Predict one hand per image, framed by ``policy``.

    images_rgb: B arrays (H_i, W_i, 3) uint8 RGB. Ks: B (3, 3) intrinsics (pixels).
    joint_regressor: (21, N). config: registration settings. passes: re-crops (``DEMO.PASSES``).
    left: the images show left hands.
    Each image is first predicted whole, then re-cropped ``passes`` times around the hand found
    in the previous pass (:func:`hand_pixels`; an image where none is found keeps its last crop).
    Returns a :class:`Prediction` in the original images' cameras.
    """
    if left:
        Ks = [mirror_intrinsics(K, image.shape[1]) for image, K in zip(images_rgb, Ks)]
        images_rgb = [np.ascontiguousarray(image[:, ::-1]) for image in images_rgb]
    crops = [letterbox_crop(image.shape[1], image.shape[0], K, policy.size) for image, K in zip(images_rgb, Ks)]
    for _ in range(passes):
        found = hand_pixels(predict_crops(model, images_rgb, crops, joint_regressor, config), config)
        crops = [crop if points is None else policy.around_points(points, K) for crop, points, K in zip(crops, found, Ks)]
    prediction = predict_crops(model, images_rgb, crops, joint_regressor, config)
    return mirror_prediction(prediction, [image.shape[1] for image in images_rgb]) if left else prediction
