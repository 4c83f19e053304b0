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


def fit_detections(world: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                   registration: RegistrationConfig, fitting: FittingConfig, side: str = "right"
                   ) -> tuple[np.ndarray, HandFit]:
    """The open hand model fitted, as ``side`` hands, to B detections' placed 3D keypoints and their
    2D keypoints (arguments as :func:`place_world_keypoints`). Returns the placed keypoints
    (B, 21, 3) metres and the fit (camera space, float32)."""
    placed = place_world_keypoints(world, keypoints, confidence, K, registration)
    joints = torch.as_tensor(placed, dtype=torch.float32)
    fit = fit_hand(None, torch.as_tensor(np.asarray(keypoints), dtype=torch.float32),
                   torch.as_tensor(np.asarray(confidence), dtype=torch.float32),
                   torch.as_tensor(np.asarray(K), dtype=torch.float32), None, side, fitting, joints=joints)
    return placed, fit
