"""The model output contract: the output dict of every CMR variant, and its one decoding.

Keys of the output dict (B = batch, h x w = half the input resolution, J = 21 joints):
    mesh                 list of (B, N_l, 3), fine to coarse; root-relative, units of 0.2 m
    heatmap_logits       (B, J, h, w)  final joint heatmaps (logits; sigmoid gives probabilities)
    mask_logits          (B, 1, h, w)  final silhouette (logits)
    aux_heatmap_logits   list of (B, J, h, w): the intermediate heatmaps (training-only)
    aux_mask_logits      list of (B, 1, h, w): the intermediate silhouettes (training-only)
    albedo, light        (B, N, 3) vertex colours and (B, 9) light, with the colour head only
                         (MODEL.TEXTURE, :mod:`cmr.models.texture`)

:func:`decode_outputs` turns it into metric, camera-free quantities (:class:`DecodedOutputs`):
inference, validation and the training image panels all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cmr.data.targets import MESH_SCALE
from cmr.geometry.pixel_maps import rescale_coordinates


def cmr_outputs(
    mesh: list[torch.Tensor],
    final_maps: torch.Tensor,
    aux_heatmap_logits: list[torch.Tensor],
    aux_mask_logits: list[torch.Tensor],
) -> dict:
    """Assemble the output dict; ``final_maps`` (B, J + 1, h, w) holds J heatmaps, then the mask."""
    return {
        "mesh": mesh,
        "heatmap_logits": final_maps[:, :-1],
        "mask_logits": final_maps[:, -1:],
        "aux_heatmap_logits": aux_heatmap_logits,
        "aux_mask_logits": aux_mask_logits,
    }


@dataclass
class DecodedOutputs:
    """Network outputs in metres and probabilities (B images, N vertices, S input side).

    vertices: (B, N, 3) metres, root-relative mesh (network output * ``MESH_SCALE``).
    joints: (B, 21, 3) metres, ``joint_regressor @ vertices``.
    heatmaps: (B, 21, S/2, S/2) joint probabilities (sigmoid of the logits).
    mask: (B, S, S) silhouette probabilities, bilinearly resized to the input size.
    uv: (B, 21, 2) pixels in the input (:func:`heatmaps_to_uv`). confidence: (B, 21) maxima.
    albedo: (B, N, 3) per-vertex colours in [0, 1] and light: (B, 9) the colour head's light
    (direction, diffuse, ambient; :func:`cmr.models.texture.light_from_vector`), with the colour
    head only (``MODEL.TEXTURE``); None without it.
    """

    vertices: Tensor
    joints: Tensor
    heatmaps: Tensor
    mask: Tensor
    uv: Tensor
    confidence: Tensor
    albedo: Tensor | None = None
    light: Tensor | None = None


def decode_outputs(outputs: dict, joint_regressor: Tensor, input_size: int) -> DecodedOutputs:
    """Decode a model's output dict (float32 whatever the autocast dtype).

    outputs: the dict of the module docstring. joint_regressor: (21, N) on the outputs' device.
    input_size: side S of the network input, pixels.
    """
    vertices = outputs["mesh"][0].float() * MESH_SCALE
    joints = torch.einsum("jn,bnc->bjc", joint_regressor.to(vertices), vertices)
    heatmaps = outputs["heatmap_logits"].float().sigmoid()
    mask = F.interpolate(outputs["mask_logits"].float().sigmoid(), size=(input_size, input_size),
                         mode="bilinear", align_corners=False)[:, 0]
    uv, confidence = heatmaps_to_uv(heatmaps, input_size)
    albedo, light = (None if outputs.get(key) is None else outputs[key].float() for key in ("albedo", "light"))
    return DecodedOutputs(vertices, joints, heatmaps, mask, uv, confidence, albedo, light)


def heatmaps_to_uv(heatmaps: Tensor, input_size: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Decode per-joint heatmaps to sub-pixel image coordinates and confidences.

    The peak is the argmax, refined per axis by the vertex of the parabola through the log
    values at the argmax and its two neighbours (exact for a sampled Gaussian peak; the shift is
    limited to half a cell and is 0 on the border or where the peak is flat). Heatmap cell
    centres sit at integers, and so do input pixel centres (see :mod:`cmr.geometry`), so a heatmap
    coordinate x maps to ``(x + 0.5) * input_width / heatmap_width - 0.5``. (The reference uses
    ``x * input_width / heatmap_width``, a quarter- to half-pixel shift, quantised to 2 px.)

    heatmaps: (B, J, h, w) probabilities (e.g. sigmoid outputs).
    input_size: side of the square input, or (width, height), in pixels.
    Returns uv: (B, J, 2) pixels in the input, confidence: (B, J) heatmap maxima.
    """
    batch, joints, height, width = heatmaps.shape
    in_width, in_height = (input_size, input_size) if isinstance(input_size, int) else input_size
    flat = heatmaps.flatten(2)
    confidence, index = flat.max(2)
    row, column = index // width, index % width
    logs = heatmaps.clamp_min(1e-12).log()
    dx = _parabola_offset(logs, row, column, width, axis=3)
    dy = _parabola_offset(logs, row, column, height, axis=2)
    u = rescale_coordinates(column + dx, width, in_width)
    v = rescale_coordinates(row + dy, height, in_height)
    return torch.stack([u, v], dim=2), confidence


def _parabola_offset(logs: Tensor, row: Tensor, column: Tensor, length: int, axis: int) -> Tensor:
    """Sub-cell offset of the peak along one axis from a 3-point parabola fit.

    logs: (B, J, h, w) log heatmaps. row, column: (B, J) long, argmax position.
    length: size of the axis (h or w). axis: 2 (rows) or 3 (columns).
    Returns (B, J) offsets in cells, within [-0.5, 0.5].
    """
    position = row if axis == 2 else column
    interior = (position > 0) & (position < length - 1)

    def sample(shift: int) -> Tensor:
        r = row + shift if axis == 2 else row
        c = column + shift if axis == 3 else column
        r, c = r.clamp(0, logs.shape[2] - 1), c.clamp(0, logs.shape[3] - 1)
        return logs.flatten(2).gather(2, (r * logs.shape[3] + c)[..., None])[..., 0]

    before, centre, after = sample(-1), sample(0), sample(1)
    curvature = before - 2.0 * centre + after
    peaked = interior & (curvature < 0)
    offset = 0.5 * (before - after) / torch.where(peaked, curvature, -torch.ones_like(curvature))
    return torch.where(peaked, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
