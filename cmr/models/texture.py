"""The colour head: per-vertex albedo and one light from the stem features (``MODEL.TEXTURE``).

S2HAND predicts a colour per face and an 11-value light from an early feature map; this head
predicts a colour per vertex (the mesh decoder's vertices, so the PLY carries it and the soft
rasteriser interpolates it) and a directional + ambient light (:class:`cmr.render.DirectionalLight`).
Albedo is ``sigmoid(skin + delta)`` around a mean skin colour; the light's direction starts at
the camera's, its colours are softplus-positive. Trained by render-and-compare
(:func:`cmr.models.render_losses.photometric_loss`).

Output keys added to the model's dict: ``albedo`` (B, N, 3) in [0, 1] and ``light`` (B, 9):
direction (3, towards the light), diffuse colour (3), ambient colour (3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cmr.models.backbone import ConvBlock
from cmr.render import DirectionalLight

#: Mean skin albedo (linear RGB in [0, 1]) the head starts from (S2HAND's (200, 150, 150) / 256).
MEAN_SKIN = (0.78, 0.59, 0.59)
#: Diffuse and ambient light intensities the head starts from.
START_DIFFUSE, START_AMBIENT = 0.6, 0.5


def _inverse_softplus(value: float) -> float:
    return math.log(math.expm1(value))


class TextureHead(nn.Module):
    """Stem features (B, C, H/2, W/2) -> ``{'albedo': (B, N, 3), 'light': (B, 9)}``.

    Args:
        in_channels: C of the stem features.
        num_vertices: N of the finest mesh level.
        hidden_channels: channels of the convolutions (each followed by a 2x max-pool) and hidden layer.
    """

    def __init__(self, in_channels: int, num_vertices: int, hidden_channels: int = 64) -> None:
        super().__init__()
        self.num_vertices = num_vertices
        c = hidden_channels
        self.features = nn.Sequential(
            ConvBlock(in_channels, c), nn.MaxPool2d(2), ConvBlock(c, c), nn.MaxPool2d(2), ConvBlock(c, 2 * c), nn.MaxPool2d(2),
        )
        self.hidden = nn.Sequential(nn.Linear(2 * c, 2 * c), nn.ReLU(inplace=True))
        self.albedo = nn.Linear(2 * c, 3 * num_vertices)
        self.light = nn.Linear(2 * c, 9)
        for layer in (self.albedo, self.light):
            nn.init.normal_(layer.weight, std=1e-3)
        skin = torch.logit(torch.tensor(MEAN_SKIN))
        with torch.no_grad():
            self.albedo.bias.copy_(skin.repeat(num_vertices))
            self.light.bias.copy_(torch.tensor(
                [0.0, 0.0, -1.0] + [_inverse_softplus(START_DIFFUSE)] * 3 + [_inverse_softplus(START_AMBIENT)] * 3))

    def forward(self, stem: Tensor) -> dict:
        pooled = self.features(stem).mean((2, 3))
        hidden = self.hidden(pooled)
        albedo = torch.sigmoid(self.albedo(hidden)).view(-1, self.num_vertices, 3)
        return {"albedo": albedo, "light": self.light(hidden)}


def light_from_vector(light: Tensor) -> DirectionalLight:
    """(B, 9) head output -> :class:`DirectionalLight` with (B, 3) unit direction and positive colours."""
    direction = F.normalize(light[:, :3], dim=-1)
    return DirectionalLight(direction, F.softplus(light[:, 3:6]), F.softplus(light[:, 6:9]))
