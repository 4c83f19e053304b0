"""CMR-PG: a 2-D pose prior, a refined 2-D pose, then the mesh (cmr.md §1.2)."""

from __future__ import annotations

import torch
from torch import nn

from cmr.models.backbone import STANDARD_WIDTH
from cmr.models.cmr_base import CMRBase
from cmr.models.heads import UNetDecoder2d
from cmr.models.relations import FINGERTIP_PAIRS


class CMRPG(CMRBase):
    """Pose-guided CMR.

    1. ``prior_encoder`` (a full ResNet) on the image; ``pose_prior_decoder`` -> heatmap prior.
    2. ``refine_encoder`` on [stem features, sigmoid(prior)]; ``pose_refine_decoder`` -> second
       heatmap prior. This encoder keeps an ``fc`` that the forward pass never uses, so that the
       released checkpoints (and their parameter count, 79,478,155) load unchanged.
    3. ``mesh_encoder`` on [**stage-1** stem features, sigmoid(second prior), 10 fingertip-pair
       relation maps] -> latent -> ``mesh_decoder``; ``final_decoder`` -> J heatmaps + 1 mask.

    Args: as for :class:`cmr.models.cmr_sg.CMRSG`.
    """

    #: Name in the configuration and in the official-checkpoint converter.
    variant = "cmr_pg"

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
        self.prior_encoder = self._encoder(None, None)
        channels = self.prior_encoder.channels
        self.pose_prior_decoder = UNetDecoder2d(channels, num_joints, decoder_channels)
        self.refine_encoder = self._encoder(self.width + num_joints, latent_size)
        self.pose_refine_decoder = UNetDecoder2d(channels, num_joints, decoder_channels)
        self.refine_encoder.fc.requires_grad_(False)  # never used: frozen, so DDP needs no unused-parameter search
        self._add_mesh_stage(channels, mesh_decoder)

    def forward(self, image: torch.Tensor) -> dict:
        """(B, 3, H, W) image normalised to [-1, 1] -> output dict (see :mod:`cmr.models.outputs`)."""
        stage1 = self.prior_encoder(image)
        pose_prior = self.pose_prior_decoder(stage1.pyramid())
        stage2 = self.refine_encoder(torch.cat([stage1.stem, torch.sigmoid(pose_prior)], dim=1))
        pose_prior2 = self.pose_refine_decoder(stage2.pyramid())
        return self._mesh_stage(stage1.stem, pose_prior2, [pose_prior, pose_prior2], [])
