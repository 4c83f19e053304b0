"""CMR-G: a 2-D pose prior, then the mesh (the two-stage variant, cmr.md §1.2)."""

from __future__ import annotations

import torch
from torch import nn

from cmr.models.backbone import STEM_CHANNELS, ResNetEncoder
from cmr.models.heads import UNetDecoder2d
from cmr.models.outputs import cmr_outputs
from cmr.models.relations import FINGER_CHAINS, FINGERTIP_PAIRS, RelationMaps


class CMRG(nn.Module):
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
    ) -> None:
        super().__init__()
        self.relations = RelationMaps(FINGERTIP_PAIRS + FINGER_CHAINS, num_joints)
        self.pose_encoder = ResNetEncoder(backbone, None, None)
        channels = self.pose_encoder.channels
        self.pose_prior_decoder = UNetDecoder2d(channels, num_joints, decoder_channels)
        self.mesh_encoder = ResNetEncoder(
            backbone, STEM_CHANNELS + num_joints + self.relations.num_groups, latent_size
        )
        self.final_decoder = UNetDecoder2d(channels, num_joints + 1, decoder_channels)
        self.mesh_decoder = mesh_decoder

    def forward(self, image: torch.Tensor) -> dict:
        """(B, 3, H, W) image normalised to [-1, 1] -> output dict (see :mod:`cmr.models.outputs`)."""
        stage1 = self.pose_encoder(image)
        pose_prior = self.pose_prior_decoder(stage1.pyramid())
        heatmaps = torch.sigmoid(pose_prior)
        stage2 = self.mesh_encoder(torch.cat([stage1.stem, heatmaps, self.relations(heatmaps)], dim=1))
        mesh = self.mesh_decoder(self.mesh_encoder.latent(stage2.x4))
        final_maps = self.final_decoder(stage2.pyramid())
        return cmr_outputs(mesh, final_maps, [pose_prior], [])
