"""ResNet encoders of CMR's stages (torchvision's ResNets, or the same at another stage width;
always randomly initialised).

A *stem* encoder is a plain ResNet (conv1/bn1/relu, max-pool, layer1..4) fed with the image. A
*reduced* encoder replaces conv1/bn1/relu by a ``reduce`` block that takes stem-resolution
features concatenated with 2-D predictions (CMR's ``EncodeStage2/3``, ``EncodeMesh``); the
strided ``reduce`` block (``MODEL.MESH_REDUCE 'strided'``) also replaces the max-pool. Either
kind may keep the ResNet's ``avgpool -> fc`` to produce a latent vector.

Feature sizes for a ResNet-18 at the standard width 64 and an H x W input (ResNet-50 has 4x the
channels of x1..x4; ``MODEL.WIDTH`` C scales every width by C / 64):
    stem  (B, 64, H/2, W/2)    after conv1/bn1/relu (or after ``reduce``; H/4 x W/4 if strided)
    x1    (B, 64, H/4, W/4)    x2 (B, 128, H/8, W/8)    x3 (B, 256, H/16, W/16)
    x4    (B, 512, H/32, W/32)
    latent (B, latent_size)    ``fc(avgpool(x4))``
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

#: Backbone name -> (residual block, blocks per stage); "resnet10" (one BasicBlock per stage) is
#: the compact configurations' ResNet-18 variant.
RESNETS = {
    "resnet10": (BasicBlock, [1, 1, 1, 1]),
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}

#: torchvision's stage-1 width: the stem and x1 channels of every standard ResNet.
STANDARD_WIDTH = 64


class _ScaledResNet(ResNet):
    """torchvision's ResNet with stage widths (W, 2W, 4W, 8W) instead of (64, 128, 256, 512)."""

    def __init__(self, block, layers: list[int], num_classes: int, width: int) -> None:
        super().__init__(block, layers, num_classes=num_classes)
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def make_resnet(name: str, latent_size: int, width: int = STANDARD_WIDTH) -> ResNet:
    """A randomly initialised ResNet whose ``fc`` outputs ``latent_size`` values.

    ``width`` scales every stage (``STANDARD_WIDTH`` gives torchvision's network, layer for layer).
    """
    if name not in RESNETS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(RESNETS)}")
    if width < 8 or width % 8:
        raise ValueError(f"MODEL.WIDTH must be a positive multiple of 8, got {width}")
    block, layers = RESNETS[name]
    if width == STANDARD_WIDTH:
        return ResNet(block, layers, num_classes=latent_size)
    return _ScaledResNet(block, layers, latent_size, width)


class ConvBlock(nn.Sequential):
    """Conv2d (with bias) -> optional BatchNorm2d -> optional ReLU; Kaiming-normal (fan_out) init.

    Submodule names ``conv`` and ``norm`` match CMR's checkpoints.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        norm: bool = True,
        relu: bool = True,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=True)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.conv.bias)
        if norm:
            self.norm = nn.BatchNorm2d(out_channels)
        if relu:
            self.relu = nn.ReLU(inplace=True)


class EncoderFeatures(NamedTuple):
    """Multi-scale features of one encoder (shapes in the module docstring)."""

    stem: torch.Tensor
    x1: torch.Tensor
    x2: torch.Tensor
    x3: torch.Tensor
    x4: torch.Tensor

    def pyramid(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x4, x3, x2, x1): deepest first, the order the 2-D decoders consume them."""
        return self.x4, self.x3, self.x2, self.x1


class ResNetEncoder(nn.Module):
    """A ResNet stage of CMR.

    Args:
        name: backbone name (see :data:`RESNETS`).
        in_channels: ``None`` for a stem encoder on the RGB image; otherwise the channels of the
            stem-resolution input of a reduced encoder (stem features + 2-D predictions).
        latent_size: size of the ``fc`` output; ``None`` drops ``avgpool``/``fc``.
        width: C, the stage widths are (C, 2C, 4C, 8C) (``MODEL.WIDTH``; the stem has C channels,
            x1..x4 those widths times the block's expansion, 4 for ResNet-50).
        strided_reduce: a reduced encoder's ``reduce`` is one stride-2 3x3 convolution (+ BN,
            ReLU) straight to C channels at a quarter of the input resolution, with no max-pool
            (``MODEL.MESH_REDUCE 'strided'``), instead of CMR's three convolutions at half the
            input resolution (46 % of the compact model's arithmetic); ``stem`` is then
            (B, C, H/4, W/4) for an H x W image.
    """

    def __init__(
        self,
        name: str,
        in_channels: int | None,
        latent_size: int | None,
        width: int = STANDARD_WIDTH,
        strided_reduce: bool = False,
    ) -> None:
        super().__init__()
        resnet = make_resnet(name, latent_size or 1000, width)
        self.maxpool = resnet.maxpool
        if in_channels is None:
            self.conv1, self.bn1, self.relu = resnet.conv1, resnet.bn1, resnet.relu
        elif strided_reduce:
            self.reduce = nn.Sequential(ConvBlock(in_channels, width, 3, stride=2))
            self.maxpool = nn.Identity()
        else:
            self.reduce = nn.Sequential(
                ConvBlock(in_channels, in_channels, 3),
                ConvBlock(in_channels, 2 * width, 3),
                ConvBlock(2 * width, width, 1, relu=False),
            )
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        if latent_size is not None:
            self.avgpool, self.fc = resnet.avgpool, resnet.fc
        #: Channels of x1, x2, x3, x4 (each stage doubles the width; x4 feeds ``fc``).
        self.channels = tuple(resnet.fc.in_features >> shift for shift in (3, 2, 1, 0))

    def forward(self, x: torch.Tensor) -> EncoderFeatures:
        """(B, 3, H, W) image or (B, in_channels, H/2, W/2) features -> :class:`EncoderFeatures`."""
        stem = self.reduce(x) if hasattr(self, "reduce") else self.relu(self.bn1(self.conv1(x)))
        x1 = self.layer1(self.maxpool(stem))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return EncoderFeatures(stem, x1, x2, x3, x4)

    def latent(self, x4: torch.Tensor) -> torch.Tensor:
        """(B, C4, h, w) -> (B, latent_size): global average pool, then ``fc``."""
        return self.fc(torch.flatten(self.avgpool(x4), 1))
