"""ResNet encoders of CMR's stages (torchvision ResNets, always randomly initialised).

A *stem* encoder is a plain ResNet (conv1/bn1/relu, max-pool, layer1..4) fed with the image. A
*reduced* encoder replaces conv1/bn1/relu by a ``reduce`` block that takes stem-resolution
features concatenated with 2-D predictions (CMR's ``EncodeStage2/3``, ``EncodeMesh``). Either
kind may keep the ResNet's ``avgpool -> fc`` to produce a latent vector.

Feature sizes for a ResNet-18 and an H x W input (ResNet-50 has 4x the channels of x1..x4):
    stem  (B, 64, H/2, W/2)    after conv1/bn1/relu (or after ``reduce``)
    x1    (B, 64, H/4, W/4)    x2 (B, 128, H/8, W/8)    x3 (B, 256, H/16, W/16)
    x4    (B, 512, H/32, W/32)
    latent (B, latent_size)    ``fc(avgpool(x4))``
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torchvision.models as tvm
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

#: Channels of the stem output (conv1 of every torchvision ResNet, and CMR's ``reduce`` block).
STEM_CHANNELS = 64


def _resnet10(num_classes: int) -> ResNet:
    """A ResNet-18 with one BasicBlock per stage (used by the compact configuration)."""
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)


#: Backbone name -> constructor taking the fc output size.
RESNETS = {
    "resnet10": _resnet10,
    "resnet18": lambda num_classes: tvm.resnet18(weights=None, num_classes=num_classes),
    "resnet34": lambda num_classes: tvm.resnet34(weights=None, num_classes=num_classes),
    "resnet50": lambda num_classes: tvm.resnet50(weights=None, num_classes=num_classes),
}


def make_resnet(name: str, latent_size: int) -> ResNet:
    """A randomly initialised torchvision ResNet whose ``fc`` outputs ``latent_size`` values."""
    if name not in RESNETS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(RESNETS)}")
    return RESNETS[name](latent_size)


class ConvBlock(nn.Sequential):
    """Conv2d (with bias) -> optional BatchNorm2d -> optional ReLU; Kaiming-normal (fan_out) init.

    Submodule names ``conv`` and ``norm`` match CMR's checkpoints.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, norm: bool = True, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=True)
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
            stem-resolution input of a reduced encoder (64 stem features + 2-D predictions).
        latent_size: size of the ``fc`` output; ``None`` drops ``avgpool``/``fc``.
    """

    def __init__(self, name: str, in_channels: int | None, latent_size: int | None) -> None:
        super().__init__()
        resnet = make_resnet(name, latent_size or 1000)
        if in_channels is None:
            self.conv1, self.bn1, self.relu = resnet.conv1, resnet.bn1, resnet.relu
        else:
            self.reduce = nn.Sequential(
                ConvBlock(in_channels, in_channels, 3),
                ConvBlock(in_channels, 128, 3),
                ConvBlock(128, STEM_CHANNELS, 1, relu=False),
            )
        self.maxpool = resnet.maxpool
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
