"""A fast inference copy of any CMR model (:func:`prepare_for_inference`).

The copy computes the same function as the eager model in ``eval`` mode (outputs agree within
float32 rounding, about 1e-5), with:

* every BatchNorm folded into the convolution before it (ResNet stems and blocks, their
  downsample branches, the 2-D decoders' and reduce blocks' ``ConvBlock``);
* each :class:`~cmr.models.mesh_decoder.ParallelDeblock` as its three spiral branches alone,
  linear-first (the one-vertex shortcut is added into the weights of the three branches,
  whose spirals all start with the vertex itself), their weights, like the coordinate heads',
  laid out once for it;
* the sparse up-sampling as a dense (N_fine, N_coarse) matrix product;
* each Chebyshev convolution (torch-geometric's ``ChebConv``, which rebuilds its Laplacian on
  every call) as a precomputed dense (N, N) propagation matrix and one linear layer over the
  K stacked Chebyshev terms;
* channels-last weights (the convolutions' activations follow; measured 1.2-1.3x on one CPU
  core, where folding alone gains little) and optionally ``torch.compile``.

The original model is never modified: the work is done on a deep copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cmr.models.mesh_decoder import ChebDeblock, ChebHead, ParallelDeblock
from cmr.models.spiral import SparseUpsample, SpiralConv, sum_positions

#: (convolution, norm) attribute pairs of torchvision's ResNet blocks and of ResNetEncoder's stem.
_CONV_NORM_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def _fold_pair(parent: nn.Module, conv_name: str, norm_name: str) -> bool:
    """Fold ``parent.<norm_name>`` into ``parent.<conv_name>`` if they are a Conv2d/BatchNorm2d pair."""
    conv, norm = getattr(parent, conv_name, None), getattr(parent, norm_name, None)
    if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)):
        return False
    setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
    setattr(parent, norm_name, nn.Identity())
    return True


def fold_batch_norms(model: nn.Module) -> int:
    """Fold, in place, every BatchNorm2d that directly follows a Conv2d (eval-mode statistics).

    Two patterns cover the CMR models: a Conv2d followed by a BatchNorm2d in an ``nn.Sequential``
    (``ConvBlock``, ResNet downsample branches) and the ``convN``/``bnN`` attribute pairs of
    ResNet blocks and stems. Returns how many were folded; raises if any BatchNorm is left.
    """
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for first, second in zip(names, names[1:]):
                folded += _fold_pair(module, first, second)
        for conv_name, norm_name in _CONV_NORM_PAIRS:
            folded += _fold_pair(module, conv_name, norm_name)
    left = [name for name, module in model.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise ValueError(f"BatchNorm layers not after a convolution, cannot fold: {left[:5]}")
    return folded


class DenseUpsample(nn.Module):
    """``y[b] = U @ x[b]`` with the up-sampling matrix stored dense.

    Args:
        upsample: the :class:`~cmr.models.spiral.SparseUpsample` to replace.
    """

    def __init__(self, upsample: SparseUpsample) -> None:
        super().__init__()
        matrix = torch.zeros(upsample.num_fine, upsample.num_coarse, dtype=upsample.values.dtype,
                             device=upsample.values.device)
        matrix.index_put_((upsample.rows, upsample.cols), upsample.values, accumulate=True)
        self.register_buffer("matrix", matrix, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_coarse, C) -> (B, N_fine, C)."""
        return torch.matmul(self.matrix.to(x.dtype), x)


class PrecomputedSpiralConv(nn.Module):
    """A narrowing :class:`~cmr.models.spiral.SpiralConv` evaluated linear-first with its
    per-position weight laid out once (training lays it out every call, as its weight changes).

    Args:
        conv: the SpiralConv to replace (its ``linear_first`` order; weights copied).
    """

    def __init__(self, conv: SpiralConv) -> None:
        super().__init__()
        self.spiral_length = conv.spiral_length
        with torch.no_grad():
            self.register_buffer("weight", conv.per_position_weight().clone(), persistent=False)
            self.register_buffer("bias", conv.linear.bias.clone(), persistent=False)
        self.register_buffer("position_indices", conv.position_indices.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        products = torch.matmul(x, self.weight.to(x.dtype))
        return sum_positions(products, self.position_indices, self.spiral_length) + self.bias.to(products.dtype)


def _precomputed(conv: SpiralConv) -> nn.Module:
    """``conv`` as a :class:`PrecomputedSpiralConv` when it is evaluated linear-first."""
    return PrecomputedSpiralConv(conv) if conv.linear_first else conv


class FastParallelDeblock(nn.Module):
    """:class:`~cmr.models.mesh_decoder.ParallelDeblock` without its shortcut layer.

    The shortcut reads the first spiral vertex only, which is where each branch's spiral starts,
    so its weight rows are added into the first ``C_in`` columns of each branch's weight. Every
    branch narrows C_in, so each becomes a :class:`PrecomputedSpiralConv` (linear-first, its
    weight laid out once): measured against one gather-first gather for all three, the same
    speed at batch 1 and 1.5-2.3x faster at batch 32 (decoders of CMR-G, compact, lite).

    Args:
        deblock: the ParallelDeblock to replace (its weights are copied, not shared).
    """

    def __init__(self, deblock: ParallelDeblock) -> None:
        super().__init__()
        self.upsample = DenseUpsample(deblock.upsample)
        in_channels = deblock.spiral_full.in_channels
        shortcut = deblock.shortcut.linear
        branches, start = [], 0
        for conv in (deblock.spiral_full, deblock.spiral_two_thirds, deblock.spiral_one_third):
            stop = start + conv.out_channels
            branch = copy.deepcopy(conv)
            with torch.no_grad():
                branch.linear.weight[:, :in_channels] += shortcut.weight[start:stop]
                branch.linear.bias += shortcut.bias[start:stop]
            branches.append(_precomputed(branch))
            start = stop
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_coarse, C_in) -> (B, N_fine, C_out)."""
        x = self.upsample(x)
        return torch.relu(torch.cat([branch(x) for branch in self.branches], dim=-1))


class DenseChebConv(nn.Module):
    """A torch-geometric ``ChebConv`` on a fixed graph, with its propagation matrix precomputed.

    ``out = sum_k T_k(L) x W_k + b`` with ``T_0 x = x``, ``T_1 x = L x``,
    ``T_k x = 2 L T_{k-1} x - T_{k-2} x``; the K weights are stacked into one linear layer.

    Args:
        conv: the ChebConv to replace.
        edge_index: (2, E) the graph it is applied on.
        num_vertices: N.
    """

    def __init__(self, conv: nn.Module, edge_index: torch.Tensor, num_vertices: int) -> None:
        super().__init__()
        identity = torch.eye(num_vertices, dtype=conv.lins[0].weight.dtype, device=edge_index.device)
        with torch.no_grad():
            index, norm = conv.__norm__(edge_index, num_vertices, None, conv.normalization, None, identity.dtype)
            propagation = conv.propagate(index, x=identity, norm=norm)  # (N, N): L @ I
        self.register_buffer("propagation", propagation, persistent=False)
        weights = [lin.weight for lin in conv.lins]
        self.order = len(weights)
        self.linear = nn.Linear(sum(w.shape[1] for w in weights), weights[0].shape[0], bias=conv.bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(torch.cat(weights, dim=1))
            if conv.bias is not None:
                self.linear.bias.copy_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        propagation = self.propagation.to(x.dtype)
        terms = [x]
        if self.order > 1:
            terms.append(torch.matmul(propagation, x))
        for _ in range(2, self.order):
            terms.append(2 * torch.matmul(propagation, terms[-1]) - terms[-2])
        return self.linear(torch.cat(terms, dim=-1))


class FastChebDeblock(nn.Module):
    """:class:`~cmr.models.mesh_decoder.ChebDeblock` with dense up-sampling and propagation.

    Args:
        deblock: the ChebDeblock to replace.
    """

    def __init__(self, deblock: ChebDeblock) -> None:
        super().__init__()
        self.upsample = DenseUpsample(deblock.upsample)
        self.conv = DenseChebConv(deblock.conv, deblock.edge_index, deblock.upsample.num_fine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N_coarse, C_in) -> (B, N_fine, C_out)."""
        return torch.relu(self.conv(self.upsample(x)))


def _replace_mesh_operators(model: nn.Module) -> None:
    """Swap the mesh decoder's operators for their precomputed forms, in place."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ParallelDeblock):
                setattr(parent, name, FastParallelDeblock(child))
            elif isinstance(child, ChebDeblock):
                setattr(parent, name, FastChebDeblock(child))
            elif isinstance(child, SpiralConv):  # the coordinate heads
                setattr(parent, name, _precomputed(child))
            elif isinstance(child, ChebHead):  # (B, N, C) -> (B, N, 3), N from its graph
                setattr(parent, name, DenseChebConv(child.conv, child.edge_index, int(child.edge_index.max()) + 1))


class FrozenCompiled(nn.Module):
    """``torch.compile`` of an inference module whose every call runs with inductor's
    ``freezing`` on (the weights folded into the graph as constants, convolution weights
    prepacked for the CPU's kernels). The setting is read when a call compiles, and calls run
    lazily, so it is applied around each call rather than once (``torch.compile``'s own
    ``options`` do not carry it)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.compiled = torch.compile(module, dynamic=False)

    def forward(self, images: torch.Tensor) -> dict:
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True):
            return self.compiled(images)


def prepare_for_inference(model: nn.Module, channels_last: bool = True, compile: bool = False) -> nn.Module:
    """A fast inference copy of a CMR model; ``model`` itself is left untouched.

    Args:
        model: any CMR variant (CMR-SG, CMR-PG, CMR-G; spiral or Chebyshev decoder), either
            template layout; its BatchNorm running statistics are used (eval mode).
        channels_last: convert the convolution weights to channels-last memory format (the
            activations follow; the outputs are ordinary tensors of the same shapes).
        compile: wrap the copy in ``torch.compile`` with its weights frozen into the graph
            (:class:`FrozenCompiled`); needs a C++ compiler on CPU, and the first call of every new input
            shape compiles (15-25 s for CMR-G and CMR-SG at batch 1 on one AVX-512 core). Call
            it under ``torch.inference_mode`` or ``torch.no_grad``.

    Returns:
        the copy in eval mode with gradients off: same inputs, (B, 3, H, W) images in [-1, 1],
        and the same output dict as the model (see :mod:`cmr.models.outputs`).
    """
    fast = copy.deepcopy(model).eval()
    fold_batch_norms(fast)
    _replace_mesh_operators(fast)
    fast.requires_grad_(False)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    if compile:
        fast = FrozenCompiled(fast)
    return fast
