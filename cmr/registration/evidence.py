"""The 2D evidence the registration's 2D step uses: the network's keypoints, a detector's, or
both fused joint by joint by their confidences (``REGISTRATION.KEYPOINTS``)."""

from __future__ import annotations

import torch
from torch import Tensor

#: Values of ``REGISTRATION.KEYPOINTS``.
KEYPOINT_SOURCES = ("network", "detector", "fused")


def choose_keypoints(network_uv: Tensor, network_confidence: Tensor, detector_uv: Tensor | None,
                     detector_confidence: Tensor | None, source: str) -> tuple[Tensor, Tensor]:
    """The 2D joints and confidences handed to the registration.

    network_uv, detector_uv: (B, 21, 2) pixels of the same input; *_confidence: (B, 21) in [0, 1].
    source: 'network', 'detector' (the detector's answer alone) or 'fused' (per joint, the
    confidence-weighted mean of both positions, with the larger confidence). Without detector
    keypoints (None) every source gives the network's.
    """
    if source not in KEYPOINT_SOURCES:
        raise ValueError(f"REGISTRATION.KEYPOINTS must be one of {KEYPOINT_SOURCES}, got {source!r}")
    if detector_uv is None or source == "network":
        return network_uv, network_confidence
    detector_uv = detector_uv.to(network_uv)
    detector_confidence = detector_confidence.to(network_confidence)
    if detector_uv.shape != network_uv.shape or detector_confidence.shape != network_confidence.shape:
        raise ValueError(f"detector keypoints {tuple(detector_uv.shape)} / confidences "
                         f"{tuple(detector_confidence.shape)} do not match the network's {tuple(network_uv.shape)}")
    if source == "detector":
        return detector_uv, detector_confidence
    total = (network_confidence + detector_confidence).clamp_min(1e-9).unsqueeze(-1)
    fused = (network_uv * network_confidence.unsqueeze(-1) + detector_uv * detector_confidence.unsqueeze(-1)) / total
    return fused, torch.maximum(network_confidence, detector_confidence)
