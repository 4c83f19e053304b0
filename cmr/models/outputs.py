"""The output dictionary shared by every CMR variant.

Keys (B = batch, h x w = half the input resolution, J = 21 joints):
    mesh                 list of (B, N_l, 3), fine to coarse; root-relative, units of 0.2 m
    heatmap_logits       (B, J, h, w)  final joint heatmaps (logits; sigmoid gives probabilities)
    mask_logits          (B, 1, h, w)  final silhouette (logits)
    aux_heatmap_logits   list of (B, J, h, w): the intermediate heatmaps (training-only)
    aux_mask_logits      list of (B, 1, h, w): the intermediate silhouettes (training-only)
"""

from __future__ import annotations

import torch


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
