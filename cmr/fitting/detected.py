"""The detector's answer as a camera-space hand: its metric 3D keypoints placed by the 2D step,
and the open hand model fitted to them and to its 2D keypoints (no network involved).

Used by the demo (:mod:`cmr.engine.hands`, which then fits the network's mesh too) and by the
pseudo-labels of photo folders (:mod:`cmr.data.photos`).
"""

from __future__ import annotations

import numpy as np
import torch

from cmr.fitting.fit import fit_hand
from cmr.fitting.settings import FittingConfig, HandFit
from cmr.registration import RegistrationConfig, solve_translation_2d


def place_world_keypoints(world: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                          config: RegistrationConfig) -> np.ndarray:
    """(B, 21, 3) metres: each hand's 3D keypoints (the detector's metric "world" answer, (B, 21, 3)
    metres, camera-aligned, any origin) moved to its wrist and placed in camera space by the
    registration's closed-form 2D step on its (B, 21, 2) pixel keypoints, weighted by their (B, 21)
    confidences, through the (B, 3, 3) pixel intrinsics ``K``."""
    world = torch.as_tensor(np.asarray(world), dtype=torch.float64)
    world = world - world[:, :1]
    uv = torch.as_tensor(np.asarray(keypoints), dtype=torch.float64)
    weight = torch.as_tensor(np.asarray(confidence), dtype=torch.float64)
    K = torch.as_tensor(np.asarray(K), dtype=torch.float64)
    translation, _ = solve_translation_2d(world, uv, K, weight.clamp_min(1e-6), config.z_min, config.z_max)
    return (world + translation[:, None]).numpy()


def fit_placed_keypoints(placed: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                         fitting: FittingConfig, side: str = "right") -> HandFit:
    """The open hand model fitted, as ``side`` hands, to B hands' placed 3D keypoints (B, 21, 3)
    metres (:func:`place_world_keypoints`) and their 2D keypoints (arguments as there); camera
    space, float32."""
    def tensor(value) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value), dtype=torch.float32)

    return fit_hand(None, tensor(keypoints), tensor(confidence), tensor(K), None, side, fitting, joints=tensor(placed))


def fit_detections(world: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                   registration: RegistrationConfig, fitting: FittingConfig, side: str = "right") -> HandFit:
    """:func:`fit_placed_keypoints` of B detections' world keypoints placed by
    :func:`place_world_keypoints` (arguments as there)."""
    placed = place_world_keypoints(world, keypoints, confidence, K, registration)
    return fit_placed_keypoints(placed, keypoints, confidence, K, fitting, side)
