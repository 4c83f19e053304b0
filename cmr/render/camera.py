"""Pinhole camera: camera-space points to pixel coordinates.

Conventions (OpenCV): camera space in metres with x right, y down, z forward (the camera looks
along +z). A point (x, y, z) lands on pixel (u, v) = (fx x/z + s y/z + cx, fy y/z + cy), with
``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]``. Pixel centres are at integer coordinates: the
pixel in row i and column j of an (H, W) image has its centre at (u=j, v=i) and covers
[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5], so the image spans u in [-0.5, W - 0.5].
"""

from __future__ import annotations

import torch

MIN_DEPTH = 1e-8
"""Depth (metres) below which z is clamped before dividing, so points at or behind the camera
give large but finite coordinates (and finite gradients); renderers drop such faces anyway."""


def project(vertices: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Project camera-space points to pixels, keeping their depth.

    Args:
        vertices: (B, N, 3) camera-space points, metres.
        K: (B, 3, 3) intrinsics (last row [0, 0, 1]), pixels.

    Returns:
        (B, N, 3): pixel coordinates u, v (pixels) and the unchanged depth z (metres).
        Differentiable in both inputs.
    """
    z = vertices[..., 2:]
    normalised = vertices[..., :2] / z.clamp(min=MIN_DEPTH)
    uv = torch.einsum("bij,bnj->bni", K[:, :2, :2], normalised) + K[:, None, :2, 2]
    return torch.cat([uv, z], dim=-1)
