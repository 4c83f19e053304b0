"""The U-Net-like 2-D decoder of CMR's heatmap and silhouette heads (cmr.md §1.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmr.models.backbone import ConvBlock


class UNetDecoder2d(nn.Module):
    """Encoder features (x4, x3, x2, x1) -> C maps of LOGITS at half the input resolution.

    Four blocks, each: bilinear x2 up-sampling (``align_corners=False``), concatenation with the
    next skip feature (x3, x2, x1; the last block has none), 3x3 conv + BN + ReLU. Then a 3x3 conv
    (with bias, no BN) to ``out_channels``. No sigmoid: apply it (or a logits loss) outside.

    Args:
        encoder_channels: channels of (x1, x2, x3, x4), e.g. (64, 128, 256, 512) for ResNet-18.
        out_channels: C, the number of output maps.
        block_channels: output channels of the four blocks; ``None`` gives CMR's
            (C_x3, C_x2, C_x1, C_x1), i.e. (256, 128, 64, 64) for ResNet-18.
    """

    def __init__(
        self,
        encoder_channels: tuple[int, int, int, int],
        out_channels: int,
        block_channels: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = encoder_channels
        if block_channels is None:
            block_channels = (c3, c2, c1, c1)
        skips = (c3, c2, c1, 0)
        blocks, previous = [], c4
        for width, skip in zip(block_channels, skips):
            blocks.append(ConvBlock(previous + skip, width, 3))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(previous, out_channels, 3, padding=1)

    def forward(self, pyramid: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(x4, x3, x2, x1) with x1 (B, C_x1, H/4, W/4) -> (B, out_channels, H/2, W/2) logits."""
        x, skips = pyramid[0], pyramid[1:]
        for index, block in enumerate(self.blocks):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            if index < len(skips):
                x = torch.cat([x, skips[index]], dim=1)
            x = block(x)
        return self.head(x)
