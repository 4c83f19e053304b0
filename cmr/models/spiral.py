"""Mesh operators of the 3-D decoder: spiral convolution and sparse up-sampling.

Both operators keep their mesh topology (spiral indices, up-sampling matrix) in
**non-persistent** buffers: they follow ``.to(device)`` but never enter a state dict, because
released CMR checkpoints carry no topology and the topology is rebuilt from the template.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


class SpiralConv(nn.Module):
    """Spiral convolution (Gong et al. 2019) as used by CMR.

    For every vertex ``n`` the features of its spiral ``indices[n, 0..L-1]`` are gathered and
    flattened **neighbour-major** (flat column ``l * C_in + c`` is channel ``c`` of the ``l``-th
    spiral vertex), then one ``nn.Linear(L * C_in, C_out)`` is applied. This is the layout of the
    released CMR weights.

    When ``C_out < C_in`` (attribute ``linear_first``) the same sum is evaluated linear-first:
    every vertex's features are multiplied by the L weight slices (``(B, N, L, C_out)``), then
    position ``l`` of row ``indices[n, l]`` is gathered and summed over ``l``. The gathered (and,
    in training, the back-propagated) tensor shrinks by ``C_in / C_out``, which makes the
    decoder's fine levels and its 3-coordinate heads several times faster; the result differs by
    float rounding only.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        indices: (N, L) integer spiral indices into the N vertices of the mesh.
    """

    def __init__(self, in_channels: int, out_channels: int, indices: torch.Tensor | np.ndarray) -> None:
        super().__init__()
        indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        if indices.ndim != 2:
            raise ValueError(f"spiral indices must be (N, L), got shape {tuple(indices.shape)}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_vertices, self.spiral_length = indices.shape
        self.register_buffer("indices", indices.contiguous(), persistent=False)
        #: Row of (vertex indices[n, l], position l) in the flattened (N * L) linear-first product.
        positions = indices * self.spiral_length + torch.arange(self.spiral_length)
        self.register_buffer("position_indices", positions.view(-1), persistent=False)
        #: Evaluate linear-first (the cheaper order when the convolution narrows).
        self.linear_first = out_channels < in_channels
        self.linear = nn.Linear(in_channels * self.spiral_length, out_channels)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) or (N, C_in) -> (B, N, C_out) or (N, C_out)."""
        if x.ndim == 2:
            return self.forward(x.unsqueeze(0)).squeeze(0)
        batch, num_vertices, channels = x.shape
        if num_vertices != self.num_vertices or channels != self.in_channels:
            raise ValueError(
                f"SpiralConv expects (B, {self.num_vertices}, {self.in_channels}), got {tuple(x.shape)}"
            )
        if self.linear_first:
            return self._linear_first(x)
        gathered = x.index_select(1, self.indices.view(-1))
        return self.linear(gathered.view(batch, num_vertices, self.spiral_length * channels))

    def per_position_weight(self) -> torch.Tensor:
        """(C_in, L * C_out): ``weight[o, l * C_in + c]`` laid out as ``[c, l * C_out + o]``."""
        weight = self.linear.weight.view(self.out_channels, self.spiral_length, self.in_channels)
        return weight.permute(2, 1, 0).reshape(self.in_channels, self.spiral_length * self.out_channels)

    def _linear_first(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out): the class's sum, multiplied before it is gathered."""
        products = torch.matmul(x, self.per_position_weight())
        return sum_positions(products, self.position_indices, self.spiral_length) + self.linear.bias.to(products.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, vertices={self.num_vertices}, "
            f"spiral_length={self.spiral_length}"
        )


def sum_positions(products: torch.Tensor, position_indices: torch.Tensor, length: int) -> torch.Tensor:
    """The linear-first spiral sum: (B, N, L * C) products of every vertex at every spiral
    position -> (B, N, C), the sum over ``l`` of row ``indices[n, l]`` at position ``l``
    (``position_indices``: (N * L,) ``indices * L + l``, :class:`SpiralConv`)."""
    batch, num_vertices, _ = products.shape
    gathered = products.reshape(batch, -1, products.shape[-1] // length).index_select(1, position_indices)
    summed = gathered.view(batch, num_vertices, length, -1).sum(2)
    return summed.to(products.dtype)  # CUDA autocast sums in float32


class SparseUpsample(nn.Module):
    """Mesh up-sampling ``y[b] = U @ x[b]`` with a fixed sparse matrix (CMR's ``Pool``).

    Implemented with ``index_select`` and ``index_add_`` (no torch-scatter), so it runs on CPU and
    GPU and under autocast (the matrix values are cast to the input's dtype).

    Args:
        matrix: (N_fine, N_coarse) scipy sparse matrix (any format) or dense array; explicitly
            stored zeros are kept, which does not change the result.
    """

    def __init__(self, matrix: sp.spmatrix | np.ndarray) -> None:
        super().__init__()
        coo = sp.coo_matrix(matrix)
        self.num_fine, self.num_coarse = coo.shape
        self.register_buffer("rows", torch.as_tensor(coo.row, dtype=torch.long), persistent=False)
        self.register_buffer("cols", torch.as_tensor(coo.col, dtype=torch.long), persistent=False)
        self.register_buffer("values", torch.as_tensor(coo.data, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_coarse, C) -> (B, N_fine, C)."""
        if x.ndim != 3 or x.shape[1] != self.num_coarse:
            raise ValueError(f"SparseUpsample expects (B, {self.num_coarse}, C), got {tuple(x.shape)}")
        contributions = x.index_select(1, self.cols) * self.values.to(x.dtype)[None, :, None]
        out = x.new_zeros(x.shape[0], self.num_fine, x.shape[2])
        return out.index_add_(1, self.rows, contributions)

    def extra_repr(self) -> str:
        return f"{self.num_coarse} -> {self.num_fine} vertices, nnz={self.rows.numel()}"
