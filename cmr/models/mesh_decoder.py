"""3-D mesh decoders: latent vector -> vertex pyramid (CMR §1.3).

Both decoders predict coordinates on every mesh level except the coarsest. Output list, fine to
coarse: ``[(B, N_0, 3), (B, N_1, 3), ..., (B, N_{L-1}, 3)]`` (for CMR's MANO template
778, 389, 195, 98 vertices), root-relative, in units of 0.2 m.

Level ``l`` runs: up-sample the coarser features (and the coarser prediction, appended as the
last 3 channels) with ``up[l]``, a feature block, a per-level head to 3 coordinates; the head's
output is averaged with the up-sampled coarser prediction (not at the first level).

Both take their topology from a :class:`cmr.mesh.template.Template`: its up-sampling matrices,
and per predicted level its spirals (spiral decoder) or its faces (Chebyshev decoder).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

with warnings.catch_warnings():  # torch-geometric 2.8 calls the deprecated torch.jit.script on import
    warnings.simplefilter("ignore", FutureWarning)
    from torch_geometric.nn import ChebConv

from cmr.mesh.template import Template
from cmr.mesh.topology import unique_edges
from cmr.models.attention import LatentSelfAttention
from cmr.models.spiral import SparseUpsample, SpiralConv

#: Coordinates predicted per vertex.
COORDINATE_CHANNELS = 3


class ParallelDeblock(nn.Module):
    """Up-sample, then four parallel spiral convolutions of different reach ("ISM" in CMR).

    With the level's spiral ``S`` (N, L):
    ``y = relu(shortcut(x) + cat(spiral_full(x), spiral_two_thirds(x), spiral_one_third(x)))``,
    where ``shortcut`` uses ``S[:, :1]`` (the vertex itself) with C_out channels, ``spiral_full``
    all of ``S`` with C_out/2, ``spiral_two_thirds`` ``S[:, :2L/3]`` and ``spiral_one_third``
    ``S[:, :L/3]`` with C_out/4 each (L = 27 gives 27, 18, 9 and 1).

    Args:
        in_channels: C_in of the coarser level.
        out_channels: C_out, a multiple of 4.
        spiral: (N_fine, L) spiral indices of the finer level, L a multiple of 3.
        up: (N_fine, N_coarse) up-sampling matrix.
    """

    def __init__(self, in_channels: int, out_channels: int, spiral: np.ndarray, up: sp.spmatrix) -> None:
        super().__init__()
        if out_channels % 4:
            raise ValueError(f"ParallelDeblock needs out_channels divisible by 4, got {out_channels}")
        length = spiral.shape[1]
        if length % 3:
            raise ValueError(f"ParallelDeblock needs a spiral length divisible by 3, got {length}")
        self.upsample = SparseUpsample(up)
        self.shortcut = SpiralConv(in_channels, out_channels, spiral[:, :1])
        self.spiral_full = SpiralConv(in_channels, out_channels // 2, spiral)
        self.spiral_two_thirds = SpiralConv(in_channels, out_channels // 4, spiral[:, : 2 * length // 3])
        self.spiral_one_third = SpiralConv(in_channels, out_channels // 4, spiral[:, : length // 3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_coarse, C_in) -> (B, N_fine, C_out)."""
        x = self.upsample(x)
        parallel = torch.cat([self.spiral_full(x), self.spiral_two_thirds(x), self.spiral_one_third(x)], dim=-1)
        return torch.relu(self.shortcut(x) + parallel)


class ChebDeblock(nn.Module):
    """Up-sample, then a Chebyshev graph convolution (order ``K``) and a ReLU (Ge et al. 2019).

    Args:
        in_channels, out_channels: C_in, C_out.
        edge_index: (2, E) directed edges (both directions) of the finer level's mesh graph.
        up: (N_fine, N_coarse) up-sampling matrix.
        order: K, the Chebyshev polynomial order.
    """

    def __init__(
        self, in_channels: int, out_channels: int, edge_index: torch.Tensor, up: sp.spmatrix, order: int
    ) -> None:
        super().__init__()
        self.upsample = SparseUpsample(up)
        self.conv = ChebConv(in_channels, out_channels, K=order)
        self.register_buffer("edge_index", edge_index, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_coarse, C_in) -> (B, N_fine, C_out)."""
        return torch.relu(self.conv(self.upsample(x), self.edge_index))


class ChebHead(nn.Module):
    """Per-level coordinate head of the Chebyshev decoder: (B, N, C) -> (B, N, 3)."""

    def __init__(self, in_channels: int, edge_index: torch.Tensor, order: int) -> None:
        super().__init__()
        self.conv = ChebConv(in_channels, COORDINATE_CHANNELS, K=order)
        self.register_buffer("edge_index", edge_index, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x, self.edge_index)


def mesh_edge_index(faces: np.ndarray) -> torch.Tensor:
    """Unique undirected edges of a triangle mesh, both directions: (F, 3) -> (2, 2E) int64."""
    edges = unique_edges(faces)
    both = np.concatenate([edges, edges[:, ::-1]]).T
    return torch.as_tensor(np.ascontiguousarray(both), dtype=torch.long)


class _PyramidDecoder(nn.Module):
    """Shared body: latent -> coarsest features -> per-level blocks and heads (fine to coarse out)."""

    def __init__(self, latent_size: int, out_channels: list[int], template: Template, attention: bool) -> None:
        super().__init__()
        num_vertices = template.num_vertices
        if len(out_channels) != len(num_vertices) - 1:
            raise ValueError(
                f"template {template.name!r} has {len(num_vertices)} mesh levels, which need "
                f"{len(num_vertices) - 1} out_channels (MODEL.OUT_CHANNELS), got {out_channels}"
            )
        self.out_channels = list(out_channels)
        self.num_vertices = list(num_vertices)
        self.attention = LatentSelfAttention(latent_size) if attention else None
        self.latent_to_mesh = nn.Linear(latent_size, num_vertices[-1] * out_channels[-1])
        # Filled by subclasses, coarse to fine: deblocks[i] / heads[i] act on level L-1-i.
        self.deblocks = nn.ModuleList()
        self.heads = nn.ModuleList()

    def block_channels(self) -> list[tuple[int, int]]:
        """(C_in, C_out) of each deblock, coarse to fine."""
        coarse_to_fine = self.out_channels[::-1]
        inputs = [coarse_to_fine[0]] + [channels + COORDINATE_CHANNELS for channels in coarse_to_fine[:-1]]
        return list(zip(inputs, coarse_to_fine))

    def forward(self, latent: torch.Tensor) -> list[torch.Tensor]:
        """(B, latent_size) -> list of (B, N_l, 3), fine to coarse, root-relative, units of 0.2 m."""
        if self.attention is not None:
            latent = self.attention(latent)
        x = self.latent_to_mesh(latent).view(latent.shape[0], self.num_vertices[-1], self.out_channels[-1])
        predictions: list[torch.Tensor] = []
        for deblock, head in zip(self.deblocks, self.heads):
            x = deblock(x)
            prediction = head(x)
            if predictions:
                prediction = (prediction + deblock.upsample(predictions[-1])) / 2
            predictions.append(prediction)
            x = torch.cat([x, prediction], dim=-1)
        return predictions[::-1]


class SpiralMeshDecoder(_PyramidDecoder):
    """CMR's decoder: :class:`ParallelDeblock` per level and a spiral-conv head to 3 coordinates.

    Args:
        latent_size: size of the input latent vector (1000 in CMR).
        out_channels: feature width per predicted level, fine to coarse ([64, 128, 256, 512]).
        template: the mesh pyramid (up-sampling matrices and spirals of every predicted level).
        spiral_lengths, dilations: spiral length and dilation per predicted level, fine to coarse
            (``MODEL.SPIRAL_LENGTH``, ``MODEL.DILATION``; CMR uses 27 and 1 everywhere).
        attention: apply :class:`LatentSelfAttention` to the latent first.
    """

    def __init__(
        self,
        latent_size: int,
        out_channels: list[int],
        template: Template,
        spiral_lengths: list[int],
        dilations: list[int],
        attention: bool,
    ) -> None:
        super().__init__(latent_size, out_channels, template, attention)
        spirals = template.decoder_spirals(list(spiral_lengths), list(dilations))
        levels = len(out_channels)
        for i, (in_channels, block_out) in enumerate(self.block_channels()):
            level = levels - 1 - i
            self.deblocks.append(ParallelDeblock(in_channels, block_out, spirals[level], template.up[level]))
            self.heads.append(SpiralConv(block_out, COORDINATE_CHANNELS, spirals[level]))


class ChebMeshDecoder(_PyramidDecoder):
    """Chebyshev-graph-convolution decoder (Ge et al., CVPR 2019) on CMR's mesh pyramid.

    Same levels, up-sampling, averaging of predictions and output as :class:`SpiralMeshDecoder`;
    each level's block is one ``ChebConv(K=order)`` + ReLU and its head one ``ChebConv`` to 3.

    Args:
        latent_size, out_channels, attention: as for :class:`SpiralMeshDecoder`.
        template: the mesh pyramid (up-sampling matrices and faces of every predicted level).
        order: K, Chebyshev order (3 in Ge et al.).
    """

    def __init__(
        self, latent_size: int, out_channels: list[int], template: Template, attention: bool, order: int = 3
    ) -> None:
        super().__init__(latent_size, out_channels, template, attention)
        levels = len(out_channels)
        for i, (in_channels, block_out) in enumerate(self.block_channels()):
            level = levels - 1 - i
            edge_index = mesh_edge_index(template.faces[level])
            self.deblocks.append(ChebDeblock(in_channels, block_out, edge_index, template.up[level], order))
            self.heads.append(ChebHead(block_out, edge_index, order))
