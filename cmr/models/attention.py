"""Self-attention over the entries of the latent vector (CMR's ``SelfAttention``)."""

from __future__ import annotations

import torch
from torch import nn


class LatentSelfAttention(nn.Module):
    """Outer-product attention on a latent vector, with a learnt residual gate.

    ``q, k, v = Wq z, Wk z, Wv z``; ``A = softmax(q k^T)`` over the last axis, a (D, D) matrix
    per sample; ``out = gamma * A v + z``. ``gamma`` starts at 0, so the block is the identity at
    initialisation. Memory: one (B, D, D) tensor (4 MB per sample for D = 1000).

    Args:
        size: D, the latent size.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.query = nn.Linear(size, size)
        self.key = nn.Linear(size, size)
        self.value = nn.Linear(size, size)
        for layer in (self.query, self.key, self.value):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, D)."""
        query, key, value = self.query(latent), self.key(latent), self.value(latent)
        attention = torch.softmax(query.unsqueeze(2) * key.unsqueeze(1), dim=-1)  # (B, D, D)
        attended = torch.bmm(attention, value.unsqueeze(2)).squeeze(2)  # (B, D)
        return self.gamma * attended + latent
