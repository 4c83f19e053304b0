"""The renderers' view of the pinhole camera: pixel coordinates plus depth.

Conventions and the projection itself are :mod:`cmr.geometry`'s (one depth clamp,
:data:`cmr.geometry.camera.MIN_DEPTH`); renderers also need each vertex's depth.
"""

from __future__ import annotations

import torch

from cmr.geometry.camera import project_points


def project(vertices: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Project camera-space points to pixels, keeping their depth.

    Args:
        vertices: (B, N, 3) camera-space points, metres.
        K: (B, 3, 3) intrinsics (last row [0, 0, 1]), pixels.

    Returns:
        (B, N, 3): pixel coordinates u, v (pixels) and the unchanged depth z (metres).
        Differentiable in both inputs.
    """
    return torch.cat([project_points(vertices, K), vertices[..., 2:]], dim=-1)
