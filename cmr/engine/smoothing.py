"""Temporal smoothing of tracked hands: the One Euro filter, and a jitter measure.

The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a first-order low-pass whose cutoff
rises with the signal's speed: still hands are smoothed hard (little jitter), fast ones lightly
(little lag). Per element ``x`` at rate ``f`` Hz: the speed ``dx`` is itself low-passed at
``derivative_cutoff``, the cutoff is ``min_cutoff + beta |dx|``, and the output is
``x_hat = a x + (1 - a) x_hat_prev`` with ``a = 1 / (1 + f / (2 pi cutoff))``.
"""

from __future__ import annotations

import math

import numpy as np


def _smoothing_factor(rate_hz: float, cutoff_hz: np.ndarray) -> np.ndarray:
    """Weight of the new sample of a first-order low-pass at ``cutoff_hz`` sampled at ``rate_hz``."""
    return 1.0 / (1.0 + rate_hz / (2.0 * math.pi * cutoff_hz))


class OneEuroFilter:
    """One Euro filter over arrays of any fixed shape (see the module docstring).

    rate_hz: samples per second (the video's frame rate). min_cutoff_hz: cutoff of a still
    signal. beta: cutoff added per unit of speed (signal units per second). derivative_cutoff_hz:
    cutoff of the speed estimate.
    """

    def __init__(self, rate_hz: float, min_cutoff_hz: float, beta: float, derivative_cutoff_hz: float = 1.0) -> None:
        if rate_hz <= 0 or min_cutoff_hz <= 0 or derivative_cutoff_hz <= 0 or beta < 0:
            raise ValueError(f"One Euro filter needs positive rate and cutoffs and beta >= 0, got rate {rate_hz}, "
                             f"min cutoff {min_cutoff_hz}, beta {beta}, derivative cutoff {derivative_cutoff_hz}")
        self.rate_hz, self.min_cutoff_hz, self.beta = rate_hz, min_cutoff_hz, beta
        self.derivative_cutoff_hz = derivative_cutoff_hz
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def __call__(self, value: np.ndarray) -> np.ndarray:
        """The filtered value of the next sample (the first sample passes unchanged)."""
        value = np.asarray(value, dtype=np.float64)
        if self._value is None:
            self._value, self._speed = value.copy(), np.zeros_like(value)
            return value.copy()
        if value.shape != self._value.shape:
            raise ValueError(f"One Euro filter: sample of shape {value.shape} after {self._value.shape}")
        speed = (value - self._value) * self.rate_hz
        weight = _smoothing_factor(self.rate_hz, np.full_like(value, self.derivative_cutoff_hz))
        self._speed = weight * speed + (1.0 - weight) * self._speed
        weight = _smoothing_factor(self.rate_hz, self.min_cutoff_hz + self.beta * np.abs(self._speed))
        self._value = weight * value + (1.0 - weight) * self._value
        return self._value.copy()


def jitter(track: np.ndarray) -> float:
    """Mean acceleration of a (T, ..., 3) track of points: the mean over frames and points of
    ``|x[t+1] - 2 x[t] + x[t-1]|`` (the track's unit per frame^2); NaN for fewer than 3 frames."""
    track = np.asarray(track, dtype=np.float64)
    if len(track) < 3:
        return float("nan")
    acceleration = track[2:] - 2.0 * track[1:-1] + track[:-2]
    return float(np.linalg.norm(acceleration, axis=-1).mean())
