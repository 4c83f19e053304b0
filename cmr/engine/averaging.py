"""A moving average of a model's weights during training (``TRAIN.EMA``).

With ``TRAIN.EMA = d`` (0 < d < 1) the trainer keeps, beside the weights the optimiser moves, an
exponential moving average of them: after optimiser step t every floating-point entry of the
model's state (parameters and BatchNorm running statistics) becomes
``average <- d_t * average + (1 - d_t) * weights`` with ``d_t = min(d, (1 + t) / (10 + t))`` (so
the first steps of a run are not dominated by its starting weights); integer entries (BatchNorm's
batch counters) are copied. The average spans about ``min(1 / (1 - d), (10 + t) / 9)`` steps: the
warm-up keeps it short for the first ``9 / (1 - d)`` steps of a run (4,490 at 0.998), so 0.998 at
batch 32 spans about 280 steps (9,000 samples) at step 2,500 and 500 steps (16,000 samples, two
epochs of the bundled recipe) from step 4,490 on. A run resumed from a checkpoint without an
average (``TRAIN.EMA`` newly turned on) starts one, warm-up included; a step the loss scaler skips
(AMP) still counts. It is the model that is validated,
selected as best and stored as the checkpoint's ``model`` (so evaluation, export and the demo use
it); the optimiser's own weights are stored as ``trained_model`` to resume from.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """The averaged copy of ``model`` (``self.model``, same architecture, device and memory format)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"TRAIN.EMA: the average's decay must lie strictly between 0 and 1 (0 turns it off), "
                             f"got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    def current_decay(self) -> float:
        """d_t of the next update (see the module docstring)."""
        t = self.updates + 1
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (call after each optimiser step)."""
        keep = self.current_decay()
        averaged = self.model.state_dict()
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                averaged[key].lerp_(value.detach(), 1.0 - keep)
            else:
                averaged[key].copy_(value)
        self.updates += 1

    def restore(self, state: dict, updates: int) -> None:
        """Continue an average stored by a checkpoint (its ``model`` entry and update count)."""
        self.model.load_state_dict(state)
        self.updates = int(updates)
