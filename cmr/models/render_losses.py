"""Render-and-compare losses through the soft rasteriser (:func:`cmr.render.soft_rasterize`).

The network predicts a root-relative mesh; to render it in the crop's camera it is placed by the
translation that best fits its joints to the sample's 2-D keypoints
(:func:`cmr.registration.solve_translation_2d`, closed form and differentiable, so every render
term also moves the mesh's shape and scale through the translation). Renders are ``R`` pixels a
side (``LOSS.SELF.RENDER_SIZE``) in the crop's intrinsics rescaled to R.

Terms, each (B,):

* :func:`silhouette_loss`: L1 between the rendered and the predicted silhouette;
* :func:`photometric_loss`: L1 between the textured render, composited over the input image, and
  the input image, per pixel of the rendered silhouette (HiFiHR/S2HAND render-and-compare);
* :func:`depth_loss`: robust L1 (cm) between the rendered depth and a depth map where the map
  has the hand, plus L1 between the rendered silhouette and the map's (Ge et al.).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cmr.geometry.pixel_maps import scale_map
from cmr.registration import solve_translation_2d
from cmr.render import DirectionalLight, SoftImages, SoftSettings, soft_rasterize

#: Depth range (metres) allowed to the placement's translation.
PLACEMENT_Z_RANGE = (0.05, 5.0)


@dataclass
class Placed:
    """Meshes placed in their crops' cameras: (B, N, 3) camera-space vertices (metres), (B, 3)
    translations, (B, 3, 3) render intrinsics and the render side R."""

    vertices: Tensor
    translation: Tensor
    K: Tensor
    size: int


def keypoint_translation(joints: Tensor, uv: Tensor, weight: Tensor, K: Tensor) -> Tensor:
    """(B, 3) metres: the translation fitting root-relative (B, 21, 3) joints to (B, 21, 2)
    keypoints with (B, 21) weights in the (B, 3, 3) crop intrinsics (differentiable)."""
    return solve_translation_2d(joints, uv, K, weight, *PLACEMENT_Z_RANGE)[0]


def place_meshes(vertices: Tensor, joints: Tensor, uv: Tensor, weight: Tensor, K: Tensor, crop_size: int,
                 render_size: int) -> Placed:
    """Place root-relative meshes by the 2-D keypoints.

    vertices: (B, N, 3), joints: (B, 21, 3) metres, root-relative. uv: (B, 21, 2) crop pixels.
    weight: (B, 21) >= 0 per keypoint. K: (B, 3, 3) crop intrinsics. crop_size: S; render_size: R.
    """
    translation = keypoint_translation(joints, uv, weight, K)
    resize = torch.as_tensor(scale_map(crop_size, render_size), dtype=K.dtype, device=K.device)
    return Placed(vertices + translation[:, None], translation, resize @ K, render_size)


def render(placed: Placed, faces: Tensor, colours: Tensor | None = None, light: DirectionalLight | None = None,
           background: Tensor | None = None) -> SoftImages:
    """Soft silhouette, depth and (with ``colours`` (B, N, 3)) shaded image of placed meshes."""
    return soft_rasterize(placed.vertices, faces, placed.K, (placed.size, placed.size), SoftSettings(),
                          colours=colours, light=light, background=background)


def resize_maps(maps: Tensor, size: int) -> Tensor:
    """(B, C, h, w) maps averaged (or repeated) to (B, C, size, size)."""
    if maps.shape[-1] == size:
        return maps
    return F.interpolate(maps, size=(size, size), mode="area" if maps.shape[-1] > size else "nearest")


def image_in_unit_range(image: Tensor, size: int) -> Tensor:
    """(B, 3, S, S) network input in [-1, 1] -> (B, size, size, 3) in [0, 1]."""
    return resize_maps(image * 0.5 + 0.5, size).permute(0, 2, 3, 1)


def silhouette_loss(rendered: SoftImages, mask_logits: Tensor) -> Tensor:
    """Mean |rendered - predicted| silhouette; mask_logits (B, 1, h, w). Returns (B,)."""
    predicted = resize_maps(torch.sigmoid(mask_logits), rendered.silhouette.shape[-1])[:, 0]
    return (rendered.silhouette - predicted).abs().mean((1, 2))


def photometric_loss(rendered: SoftImages, target: Tensor) -> Tensor:
    """Sum |render - target| / rendered area, per sample; target (B, R, R, 3) in [0, 1] (also the
    render's background, so only the hand's pixels differ). Returns (B,) mean RGB L1 in the hand."""
    error = (rendered.image - target).abs().sum((1, 2, 3)) / 3.0
    return error / rendered.silhouette.detach().sum((1, 2)).clamp_min(1.0)


def depth_loss(rendered: SoftImages, depth: Tensor, robust_cm: float) -> Tensor:
    """Robust depth error (cm; linear beyond ``robust_cm``) on the map's hand pixels, plus the
    mean |rendered silhouette - map silhouette|. depth: (B, 1, h, w) metres, 0 = no hand."""
    target = resize_maps(depth, rendered.depth.shape[-1])[:, 0]
    valid = (target > 0).to(target)
    error = F.huber_loss(rendered.depth * 100.0, target * 100.0, reduction="none", delta=robust_cm)
    depth_term = (error * valid).sum((1, 2)) / valid.sum((1, 2)).clamp_min(1.0)
    return depth_term + (rendered.silhouette - valid).abs().mean((1, 2))
