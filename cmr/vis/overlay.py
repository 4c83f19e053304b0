"""A camera-space mesh rendered over the image it was predicted from.

The mesh is rasterised with the image's own intrinsics at the image's own size (OpenCV camera,
pixel centres at integers, :mod:`cmr.render`), Lambert-shaded with a light at the camera (or a
given one), in one colour or with per-vertex colours (a colour head's albedo), and alpha-blended
over the image where it covers a pixel.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from cmr.fileio import atomic_write_bytes
from cmr.render import DirectionalLight, render

#: Albedo of the overlaid mesh (RGB in [0, 1]): light blue, distinct from skin.
MESH_COLOUR = (0.55, 0.72, 0.95)
#: Weight of the rendered mesh in the blend.
DEFAULT_ALPHA = 0.7


def render_overlay(image_rgb: np.ndarray, vertices: np.ndarray, faces: np.ndarray, K: np.ndarray,
                   alpha: float = DEFAULT_ALPHA, colour: tuple[float, float, float] = MESH_COLOUR,
                   vertex_colours: np.ndarray | None = None, light: DirectionalLight | None = None
                   ) -> np.ndarray:
    """Blend the shaded mesh over the image.

    image_rgb: (H, W, 3) uint8 RGB. vertices: (N, 3) camera-space metres. faces: (F, 3) int,
    counter-clockwise seen from outside. K: (3, 3) intrinsics of ``image_rgb`` (pixels).
    alpha: opacity of the mesh in [0, 1]. colour: RGB albedo in [0, 1] of the whole mesh, used
    when ``vertex_colours`` (N, 3) RGB albedo in [0, 1] is None. light: camera-space light with
    (3,) or (1, 3) terms (None: :meth:`DirectionalLight.default`, from the camera).
    Returns (H, W, 3) uint8 RGB.
    """
    height, width = image_rgb.shape[:2]
    verts = torch.as_tensor(np.asarray(vertices), dtype=torch.float32)[None]
    if vertex_colours is None:
        colours = torch.tensor(colour, dtype=torch.float32).expand_as(verts)
    else:
        colours = torch.as_tensor(np.asarray(vertex_colours), dtype=torch.float32).reshape(verts.shape)
    rendering = render(verts, torch.as_tensor(np.asarray(faces), dtype=torch.int64),
                       torch.as_tensor(np.asarray(K), dtype=torch.float32)[None], (height, width),
                       colours, light)
    shaded = rendering.image[0].clamp(0.0, 1.0).numpy() * 255.0
    weight = alpha * rendering.mask[0].numpy()[..., None]
    blended = image_rgb.astype(np.float32) * (1.0 - weight) + shaded * weight
    return np.round(blended).astype(np.uint8)


def write_rgb_jpeg(path: str | os.PathLike, image_rgb: np.ndarray, quality: int = 92) -> Path:
    """Write an (H, W, 3) uint8 RGB image as JPEG, atomically (colours kept: RGB -> BGR for OpenCV)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the image as JPEG")
    return atomic_write_bytes(path, encoded.tobytes())
