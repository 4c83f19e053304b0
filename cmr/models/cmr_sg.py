"""CMR-SG: silhouette first, then 2-D pose, then the mesh (cmr.md §1.2)."""

from __future__ import annotations

import torch
from torch import nn

from cmr.models.backbone import STANDARD_WIDTH
from cmr.models.cmr_base import CMRBase
from cmr.models.heads import UNetDecoder2d
from cmr.models.relations import FINGERTIP_PAIRS


class CMRSG(CMRBase):
    """Silhouette-guided CMR.

    1. ``mask_encoder`` (a full ResNet) on the image; ``mask_prior_decoder`` -> silhouette prior.
    2. ``pose_encoder`` on [stem features, sigmoid(silhouette prior)]; ``pose_prior_decoder`` ->
       heatmap prior. This encoder keeps an ``fc`` that the forward pass never uses, so that the
       released checkpoints (and their parameter count, 79,416,515) load unchanged.
    3. ``mesh_encoder`` on [stage-2 stem features, sigmoid(heatmap prior), 10 fingertip-pair
       relation maps] -> latent -> ``mesh_decoder``; ``final_decoder`` -> J heatmaps + 1 mask.

    Args:
        backbone: ResNet name.
        mesh_decoder: module mapping (B, latent_size) to the mesh pyramid.
        latent_size: size of the latent vector (``fc`` output).
        num_joints: J.
        decoder_channels: block widths of the 2-D decoders (``None``: CMR's).
        width, mesh_reduce: as for :class:`cmr.models.cmr_base.CMRBase`.
    """

    #: Name in the configuration and in the official-checkpoint converter.
    variant = "cmr_sg"

    def __init__(
        self,
        backbone: str,
        mesh_decoder: nn.Module,
        latent_size: int,
        num_joints: int = 21,
        decoder_channels: tuple[int, int, int, int] | None = None,
        width: int = STANDARD_WIDTH,
        mesh_reduce: str = "cmr",
    ) -> None:
        super().__init__(backbone, latent_size, FINGERTIP_PAIRS, num_joints, decoder_channels, width, mesh_reduce)
        self.mask_encoder = self._encoder(None, None)
        channels = self.mask_encoder.channels
        self.mask_prior_decoder = UNetDecoder2d(channels, 1, decoder_channels)
        self.pose_encoder = self._encoder(self.width + 1, latent_size)
        self.pose_prior_decoder = UNetDecoder2d(channels, num_joints, decoder_channels)
        self.pose_encoder.fc.requires_grad_(False)  # never used: frozen, so DDP needs no unused-parameter search
        self._add_mesh_stage(channels, mesh_decoder)

    def forward(self, image: torch.Tensor) -> dict:
        """(B, 3, H, W) image normalised to [-1, 1] -> output dict (see :mod:`cmr.models.outputs`)."""
        stage1 = self.mask_encoder(image)
        mask_prior = self.mask_prior_decoder(stage1.pyramid())
        stage2 = self.pose_encoder(torch.cat([stage1.stem, torch.sigmoid(mask_prior)], dim=1))
        pose_prior = self.pose_prior_decoder(stage2.pyramid())
        return self._mesh_stage(stage2.stem, pose_prior, [pose_prior], [mask_prior])
