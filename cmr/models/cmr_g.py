"""CMR-G: a 2-D pose prior, then the mesh (the two-stage variant, cmr.md §1.2)."""

from __future__ import annotations

import torch
from torch import nn

from cmr.models.backbone import STANDARD_WIDTH
from cmr.models.cmr_base import CMRBase
from cmr.models.heads import UNetDecoder2d
from cmr.models.relations import FINGER_CHAINS, FINGERTIP_PAIRS


class CMRG(CMRBase):
    """Two-stage CMR.

    1. ``pose_encoder`` (a full ResNet) on the image; ``pose_prior_decoder`` -> heatmap prior.
    2. ``mesh_encoder`` on [stem features, sigmoid(prior), 10 fingertip-pair + 5 finger-chain
       relation maps] -> latent -> ``mesh_decoder``; ``final_decoder`` -> J heatmaps + 1 mask.

    Args: as for :class:`cmr.models.cmr_sg.CMRSG`.
    """

    #: Name in the configuration and in the official-checkpoint converter.
    variant = "cmr_g"

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
        groups = FINGERTIP_PAIRS + FINGER_CHAINS
        super().__init__(backbone, latent_size, groups, num_joints, decoder_channels, width, mesh_reduce)
        self.pose_encoder = self._encoder(None, None)
        channels = self.pose_encoder.channels
        self.pose_prior_decoder = UNetDecoder2d(channels, num_joints, decoder_channels)
        self._add_mesh_stage(channels, mesh_decoder)

    def forward(self, image: torch.Tensor) -> dict:
        """(B, 3, H, W) image normalised to [-1, 1] -> output dict (see :mod:`cmr.models.outputs`)."""
        stage1 = self.pose_encoder(image)
        pose_prior = self.pose_prior_decoder(stage1.pyramid())
        return self._mesh_stage(stage1.stem, pose_prior, [pose_prior], [])
