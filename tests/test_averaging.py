"""TRAIN.EMA: the moving average of the weights and its warm-up (a training run with it:
tests/test_train.py)."""

import pytest
import torch
from torch import nn

from cmr.engine.averaging import WeightAverage


def _small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_the_average_follows_its_formula_and_copies_integer_buffers():
    model = _small_model()
    average = WeightAverage(model, 0.9)
    start = {key: value.clone() for key, value in model.state_dict().items()}
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model(torch.randn(5, 3))  # moves the BatchNorm statistics and its batch counter
    keep = average.current_decay()
    assert keep == pytest.approx(2.0 / 11.0)  # the warm-up's first step, below 0.9
    average.update(model)
    after = average.model.state_dict()
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(after[key], keep * start[key] + (1 - keep) * value)
        else:
            assert torch.equal(after[key], value)
    assert not any(parameter.requires_grad for parameter in average.model.parameters())
    average.updates = 10_000
    assert average.current_decay() == pytest.approx(0.9)


@pytest.mark.parametrize("decay", [1.0, -0.5, 1.5])
def test_a_decay_outside_zero_one_is_refused_by_name(decay):
    with pytest.raises(ValueError, match="TRAIN.EMA"):
        WeightAverage(_small_model(), decay)
