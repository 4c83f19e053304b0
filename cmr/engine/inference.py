"""From images to camera-space hands: frame each hand with the model's crop policy, predict.

The network only ever sees hands framed by the model's :class:`cmr.geometry.crop.CropPolicy`
(the one training and evaluation use). An image without a known hand box is predicted twice:
first whole (letterboxed), which finds the hand's silhouette, then cropped around that
silhouette by the policy (:func:`predict_images`). Left hands are mirrored in (image and K),
predicted as right hands, and mirrored out (:func:`cmr.models.prediction.mirror_prediction`).

Cropping, padding, resizing and mirroring change only ``K`` (and the pixels), never the camera
frame, so every camera-space output is in the camera of the original image; each input's
``input_from_image`` map takes original pixels to input pixels (see :mod:`cmr.geometry`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cmr.data.augment import normalise_image
from cmr.geometry.camera import mirror_intrinsics
from cmr.geometry.crop import Crop, CropPolicy, foreground_pixels, letterbox_crop, warp_image
from cmr.geometry.pixel_maps import apply_affine
from cmr.models.prediction import Prediction, mirror_prediction, predict
from cmr.registration import RegistrationConfig

#: Fewest silhouette pixels of the first (whole-image) pass that make a hand box to re-crop on.
MIN_BOX_PIXELS = 8


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


def silhouette_boxes(prediction: Prediction, threshold: float) -> list[np.ndarray | None]:
    """Per input, the source-image pixel centres (P, 2) of its predicted silhouette, or None.

    The foreground (mask > ``threshold``) pixels of each input are mapped back to the image it
    was cut from; fewer than :data:`MIN_BOX_PIXELS` give None.
    """
    points = []
    masks = (prediction.mask > threshold).cpu().numpy()
    maps = prediction.input_from_image.cpu().numpy()
    for mask, input_from_image in zip(masks, maps):
        pixels = foreground_pixels(mask)
        points.append(apply_affine(np.linalg.inv(input_from_image), pixels) if len(pixels) >= MIN_BOX_PIXELS else None)
    return points


def predict_images(model: nn.Module, images_rgb: list[np.ndarray], Ks: list[np.ndarray], joint_regressor,
                   config: RegistrationConfig, policy: CropPolicy, left: bool = False,
                   boxes: list | None = None) -> Prediction:
    """Predict one hand per image, framed by ``policy``.

    images_rgb: B arrays (H_i, W_i, 3) uint8 RGB. Ks: B (3, 3) intrinsics (pixels).
    joint_regressor: (21, N). config: registration settings. left: the images show left hands.
    boxes: optional B hand boxes ``(centre (2,), extent)`` in image pixels (e.g. a detector's);
    without them each image is first predicted whole and then re-cropped around the silhouette
    found there (an image where none is found keeps its whole-image prediction).
    Returns a :class:`Prediction` in the original images' cameras.
    """
    if left:
        Ks = [mirror_intrinsics(K, image.shape[1]) for image, K in zip(images_rgb, Ks)]
        images_rgb = [np.ascontiguousarray(image[:, ::-1]) for image in images_rgb]
    if boxes is not None:
        crops = [policy.around_box(centre, extent, K) for (centre, extent), K in zip(boxes, Ks)]
    else:
        crops = [letterbox_crop(image.shape[1], image.shape[0], K, policy.size) for image, K in zip(images_rgb, Ks)]
        first = predict_crops(model, images_rgb, crops, joint_regressor, config)
        found = silhouette_boxes(first, config.mask_threshold)
        crops = [crop if points is None else policy.around_points(points, K)
                 for crop, points, K in zip(crops, found, Ks)]
    prediction = predict_crops(model, images_rgb, crops, joint_regressor, config)
    return mirror_prediction(prediction, [image.shape[1] for image in images_rgb]) if left else prediction
