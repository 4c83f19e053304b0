"""From detected hands to camera-space hands: frame each with the model's crop policy, predict,
register with the best 2D evidence, mirror left hands in and out.

Each detected hand is first framed around its keypoints by the crop policy
(:meth:`cmr.geometry.crop.CropPolicy.around_keypoints`: the hand's silhouette, which training
frames, reaches past the keypoints). It is then re-cropped ``passes`` times around the
hand the network found there (its silhouette near the detector's keypoints,
:func:`cmr.engine.inference.hand_pixels`). Left hands are
mirrored in (image, K, keypoints), predicted as right hands, and mirrored out, so every output
is in the camera of the original image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cmr.data.augment import normalise_image
from cmr.detection import HandDetection
from cmr.engine.inference import hand_pixels
from cmr.fitting import FittingConfig, HandFit, fit_hand
from cmr.fitting.detected import place_world_keypoints
from cmr.geometry.camera import mirror_intrinsics
from cmr.geometry.crop import Crop, CropPolicy, warp_image
from cmr.geometry.pixel_maps import apply_affine, mirror_map
from cmr.models.prediction import Prediction, SamplePrediction, mirror_prediction, predict
from cmr.registration import RegistrationConfig
from cmr.registration.evidence import KEYPOINT_SOURCES

SIDES = ("auto", "left", "right")


@dataclass(frozen=True)
class HandSettings:
    """How detected hands are predicted: registration settings, the model's crop policy,
    re-crops after the keypoint crop (``DEMO.PASSES``), the registration's 2D evidence
    (``REGISTRATION.KEYPOINTS``), which side to assume (``DEMO.SIDE``: auto = the detector's)
    and the hand-model fit (``FITTING.*``; run when ``FITTING.ENABLED``)."""

    registration: RegistrationConfig
    policy: CropPolicy
    passes: int
    keypoints: str
    side: str
    fitting: FittingConfig

    @classmethod
    def from_config(cls, cfg) -> "HandSettings":
        if cfg.DEMO.SIDE not in SIDES:
            raise ValueError(f"DEMO.SIDE must be one of {SIDES}, got {cfg.DEMO.SIDE!r}")
        if cfg.REGISTRATION.KEYPOINTS not in KEYPOINT_SOURCES:
            raise ValueError(f"REGISTRATION.KEYPOINTS must be one of {KEYPOINT_SOURCES}, got {cfg.REGISTRATION.KEYPOINTS!r}")
        return cls(RegistrationConfig.from_config(cfg.REGISTRATION), CropPolicy.from_config(cfg.MODEL),
                   int(cfg.DEMO.PASSES), str(cfg.REGISTRATION.KEYPOINTS), str(cfg.DEMO.SIDE),
                   FittingConfig.from_config(cfg))

    def side_of(self, detection: HandDetection) -> str:
        """The side a hand is predicted as: the forced one, else the detector's."""
        return detection.side if self.side == "auto" else self.side


@dataclass
class _Framed:
    """Hands of one side, as the network sees them: (mirrored) images, Ks and keypoints."""

    images: list[np.ndarray]
    Ks: list[np.ndarray]
    keypoints: list[np.ndarray]
    confidence: list[np.ndarray]


def _framed(images, Ks, detections, left: bool) -> _Framed:
    """Mirror images, K and keypoints of left hands (u -> W - 1 - u); right hands as they are."""
    if not left:
        return _Framed(list(images), list(Ks), [d.keypoints for d in detections], [d.confidence for d in detections])
    widths = [image.shape[1] for image in images]
    return _Framed([np.ascontiguousarray(image[:, ::-1]) for image in images],
                   [mirror_intrinsics(K, width) for K, width in zip(Ks, widths)],
                   [apply_affine(mirror_map(width), d.keypoints) for d, width in zip(detections, widths)],
                   [d.confidence for d in detections])


def _keypoints_in(crops: list[Crop], framed: _Framed) -> np.ndarray:
    """(B, 21, 2) the detector's keypoints in the pixels of each hand's crop."""
    return np.stack([apply_affine(crop.matrix, points) for crop, points in zip(crops, framed.keypoints)])


def _predict(model, framed: _Framed, crops: list[Crop], keypoints: np.ndarray, regressor,
             settings: HandSettings) -> Prediction:
    """Predict the crops, with ``keypoints`` (:func:`_keypoints_in`) as the detector's evidence."""
    inputs = torch.stack([torch.from_numpy(normalise_image(warp_image(image, crop)))
                          for image, crop in zip(framed.images, crops)])
    return predict(model, inputs, np.stack([crop.K for crop in crops]), regressor, settings.registration,
                   np.stack([crop.matrix for crop in crops]), (keypoints, np.stack(framed.confidence)),
                   settings.keypoints)


def predict_side(model: nn.Module, images: list[np.ndarray], Ks: list[np.ndarray],
                 detections: list[HandDetection], regressor, settings: HandSettings, left: bool) -> Prediction:
    """Predict B hands of one side.

    images: B (H_i, W_i, 3) uint8 RGB (the image of each hand; repeats allowed). Ks: B (3, 3).
    detections: B hands found in them. regressor: (21, N) joint regressor of the model's
    template. left: predict them as left hands. Returns a :class:`Prediction` in the original
    images' cameras.
    """
    framed = _framed(images, Ks, detections, left)
    crops = [settings.policy.around_keypoints(points, K) for points, K in zip(framed.keypoints, framed.Ks)]
    for _ in range(settings.passes):
        keypoints = _keypoints_in(crops, framed)
        found = hand_pixels(_predict(model, framed, crops, keypoints, regressor, settings), settings.registration,
                            keypoints)
        crops = [crop if points is None else settings.policy.around_points(points, K)
                 for crop, points, K in zip(crops, found, framed.Ks)]
    prediction = _predict(model, framed, crops, _keypoints_in(crops, framed), regressor, settings)
    return mirror_prediction(prediction, [image.shape[1] for image in images]) if left else prediction


def place_detector_joints(detections: list[HandDetection], Ks: list[np.ndarray],
                          config: RegistrationConfig) -> np.ndarray:
    """(B, 21, 3) metres: each detection's 3D keypoints placed in camera space
    (:func:`cmr.fitting.detected.place_world_keypoints`)."""
    return place_world_keypoints(np.stack([d.world for d in detections]), np.stack([d.keypoints for d in detections]),
                                 np.stack([d.confidence for d in detections]), np.stack(Ks), config)


def fit_predicted(prediction: Prediction, detections: list[HandDetection], detector_joints: np.ndarray,
                  side: str, config: FittingConfig) -> HandFit:
    """Fit the open hand model to B predicted hands of one side: the network's mesh, moved so
    its wrist sits on the detector's placed 3D wrist (the 2D step places the detector's metric
    keypoints better than the network's, see the README), the detector's 3D keypoints
    (``detector_joints`` (B, 21, 3) metres, :func:`place_detector_joints`), its 2D keypoints
    with their confidences and the network's silhouette, all in each input's pixel grid."""
    maps = prediction.input_from_image.cpu().numpy()
    keypoints = np.stack([apply_affine(matrix, d.keypoints) for matrix, d in zip(maps, detections)])
    joints = torch.as_tensor(detector_joints, dtype=torch.float32)
    vertices = prediction.vertices.cpu() - prediction.joints.cpu()[:, :1] + joints[:, :1]
    confidence = np.stack([d.confidence for d in detections])
    return fit_hand(vertices, keypoints, confidence, prediction.K.cpu(), prediction.mask.cpu(), side, config,
                    joints=joints)


@dataclass
class SideResult:
    """B hands of one side: the network's :class:`Prediction` (original cameras), the detector's
    3D keypoints placed in camera space (B, 21, 3) metres, the hand-model fit (None when
    fitting is off) and the wall time of the network with registration and of the fit (seconds)."""

    prediction: Prediction
    detector_joints: np.ndarray
    fit: HandFit | None
    predict_seconds: float = 0.0
    fit_seconds: float = 0.0


def predict_and_fit(model: nn.Module, images: list[np.ndarray], Ks: list[np.ndarray],
                    detections: list[HandDetection], regressor, settings: HandSettings, side: str) -> SideResult:
    """:func:`predict_side`, :func:`place_detector_joints` and, when enabled, :func:`fit_predicted`
    for B hands of one side (arguments as :func:`predict_side`)."""
    start = time.perf_counter()
    prediction = predict_side(model, images, Ks, detections, regressor, settings, side == "left")
    placed = place_detector_joints(detections, Ks, settings.registration)
    predicted = time.perf_counter()
    fit = fit_predicted(prediction, detections, placed, side, settings.fitting) if settings.fitting.enabled else None
    return SideResult(prediction, placed, fit, predicted - start, time.perf_counter() - predicted)


#: Per-hand values of a :class:`cmr.fitting.HandFit` kept with each hand (and ``vertices``).
FIT_FIELDS = ("pose", "shape", "translation", "joints", "mesh_error_mm", "keypoint_error_px", "silhouette_error_px")


def fit_row(fit: HandFit | None, row: int) -> dict | None:
    """Row ``row`` of a :class:`cmr.fitting.HandFit` as NumPy arrays (None for None)."""
    if fit is None:
        return None
    values = {name: getattr(fit, name) for name in FIT_FIELDS + ("vertices",)}
    return {name: None if value is None else value[row].detach().cpu().numpy() for name, value in values.items()}


@dataclass
class PredictedHand:
    """One detected hand: its detection, the side it was predicted as, the network's prediction
    (one sample, in the photo's camera), the detector's placed 3D keypoints (21, 3) metres, and
    the hand-model fit as NumPy arrays (:func:`fit_row`; None when fitting is off)."""

    detection: HandDetection
    side: str
    prediction: SamplePrediction
    detector_joints: np.ndarray
    fit: dict | None

    @property
    def vertices(self) -> np.ndarray:
        """(778, 3) metres: the fitted hand when there is one, else the network's mesh."""
        return self.fit["vertices"] if self.fit is not None else self.prediction.vertices


def predict_sides(model: nn.Module, images: list[np.ndarray], Ks: list[np.ndarray],
                  detections: list[HandDetection], regressor, settings: HandSettings):
    """For each side present (right first), its hands predicted and fitted in one batch:
    yields (their indices into ``detections``, the side, the :class:`SideResult`, the hands as
    :class:`PredictedHand`). Arguments as :func:`predict_side`."""
    sides = [settings.side_of(d) for d in detections]
    for side in ("right", "left"):
        chosen = [k for k, s in enumerate(sides) if s == side]
        if not chosen:
            continue
        result = predict_and_fit(model, [images[k] for k in chosen], [Ks[k] for k in chosen],
                                 [detections[k] for k in chosen], regressor, settings, side)
        yield chosen, side, result, [PredictedHand(detections[k], side, result.prediction.sample(row),
                                                   result.detector_joints[row], fit_row(result.fit, row))
                                     for row, k in enumerate(chosen)]


def predict_hands(model: nn.Module, images: list[np.ndarray], Ks: list[np.ndarray],
                  detections: list[HandDetection], regressor, settings: HandSettings) -> list[PredictedHand]:
    """Every detected hand, in order (arguments as :func:`predict_side`); left and right hands are
    predicted and fitted in one batch each (:func:`predict_sides`)."""
    results: list = [None] * len(detections)
    for chosen, _, _, hands in predict_sides(model, images, Ks, detections, regressor, settings):
        for k, hand in zip(chosen, hands):
            results[k] = hand
    return results
