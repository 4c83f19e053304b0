"""The mesh stage shared by every CMR variant (cmr.md §1.2, last stage of SG, PG and G).

The last encoder sees [stem features, sigmoid(heatmaps), relation maps] and produces the latent
vector that the mesh decoder lifts to the mesh pyramid; a final 2-D decoder on the same encoder
gives the J final heatmaps and the silhouette. The variants differ only in what comes before.
"""

from __future__ import annotations

import torch
from torch import nn

from cmr.models.backbone import STANDARD_WIDTH, ResNetEncoder
from cmr.models.heads import UNetDecoder2d
from cmr.models.outputs import cmr_outputs
from cmr.models.relations import RelationMaps
from cmr.models.texture import TextureHead


#: Input blocks of the mesh encoder (``MODEL.MESH_REDUCE``).
MESH_REDUCE_BLOCKS = ("cmr", "strided")


class CMRBase(nn.Module):
    """Base of CMR-SG, CMR-PG and CMR-G: holds the relation maps and the mesh stage.

    Args:
        backbone: ResNet name.
        latent_size: size of the latent vector (``fc`` output).
        relation_groups: joint groups whose heatmaps are summed into relation maps.
        num_joints: J.
        decoder_channels: block widths of the 2-D decoders (``None``: CMR's).
        width: the encoders' stage-1 width W (``MODEL.WIDTH``; 64 is CMR's ResNet).
        mesh_reduce: ``'cmr'`` or ``'strided'``, the mesh encoder's input block
            (``MODEL.MESH_REDUCE``, see :class:`cmr.models.backbone.ResNetEncoder`).
    """

    def __init__(
        self,
        backbone: str,
        latent_size: int,
        relation_groups: list[list[int]],
        num_joints: int,
        decoder_channels: tuple[int, int, int, int] | None,
        width: int = STANDARD_WIDTH,
        mesh_reduce: str = "cmr",
    ) -> None:
        super().__init__()
        if mesh_reduce not in MESH_REDUCE_BLOCKS:
            raise ValueError(f"unknown MODEL.MESH_REDUCE {mesh_reduce!r}; choose one of {MESH_REDUCE_BLOCKS}")
        self.backbone_name = backbone
        self.width = width
        self.mesh_reduce = mesh_reduce
        self.latent_size = latent_size
        self.num_joints = num_joints
        self.decoder_channels = decoder_channels
        self.relations = RelationMaps(relation_groups, num_joints)

    def _add_mesh_stage(self, channels: tuple[int, ...], mesh_decoder: nn.Module) -> None:
        """Create ``mesh_encoder``, ``final_decoder`` and ``mesh_decoder`` (call last in __init__)."""
        in_channels = self.width + self.num_joints + self.relations.num_groups
        self.mesh_encoder = self._encoder(in_channels, self.latent_size, self.mesh_reduce == "strided")
        self.final_decoder = UNetDecoder2d(channels, self.num_joints + 1, self.decoder_channels)
        self.mesh_decoder = mesh_decoder
        self.texture = None

    def add_texture_head(self, num_vertices: int) -> None:
        """Add the colour head (:mod:`cmr.models.texture`): outputs gain ``albedo`` and ``light``."""
        self.texture = TextureHead(self.width, num_vertices)

    def _encoder(self, in_channels: int | None, latent_size: int | None, strided_reduce: bool = False) -> ResNetEncoder:
        """A ResNet stage of this model's backbone and width (arguments of :class:`ResNetEncoder`)."""
        return ResNetEncoder(self.backbone_name, in_channels, latent_size, self.width, strided_reduce)

    def _mesh_stage(
        self,
        stem: torch.Tensor,
        heatmap_logits: torch.Tensor,
        aux_heatmap_logits: list[torch.Tensor],
        aux_mask_logits: list[torch.Tensor],
    ) -> dict:
        """Run the mesh stage.

        Args:
            stem: (B, MODEL.WIDTH, H/2, W/2) stem features of an H x W image.
            heatmap_logits: (B, J, H/2, W/2) the heatmaps this stage is conditioned on.
            aux_heatmap_logits, aux_mask_logits: intermediate outputs to report.

        Returns:
            the output dict of :mod:`cmr.models.outputs`.
        """
        heatmaps = torch.sigmoid(heatmap_logits)
        stage = self.mesh_encoder(torch.cat([stem, heatmaps, self.relations(heatmaps)], dim=1))
        mesh = self.mesh_decoder(self.mesh_encoder.latent(stage.x4))
        outputs = cmr_outputs(mesh, self.final_decoder(stage.pyramid()), aux_heatmap_logits, aux_mask_logits)
        if self.texture is not None:
            outputs.update(self.texture(stem))
        return outputs
