"""Photometric augmentation of training crops (SSD-style, as the reference) and per-sample RNG.

The distortion follows the reference's ``PhotometricDistort`` (cmr.md §5.3): a brightness
shift, then with equal chance either ``contrast -> saturation -> hue`` or
``saturation -> hue -> contrast``, each step applied with probability 1/2. Unlike the
reference, values are clipped to [0, 255] after every step (the reference lets them run out of
range, and its HSV conversion then sees invalid colours).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

#: Brightness shift range (grey levels, +-).
BRIGHTNESS_DELTA = 32.0
#: Contrast and saturation factor ranges.
CONTRAST_RANGE = (0.5, 1.5)
SATURATION_RANGE = (0.5, 1.5)
#: Hue shift range (degrees, +-).
HUE_DELTA = 18.0


def _contrast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        image = np.clip(image * rng.uniform(*CONTRAST_RANGE), 0.0, 255.0)
    return image


def _saturation_hue(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale the saturation and rotate the hue (each with probability 1/2) in HSV space."""
    saturation = rng.uniform(*SATURATION_RANGE) if rng.random() < 0.5 else None
    hue = rng.uniform(-HUE_DELTA, HUE_DELTA) if rng.random() < 0.5 else None
    if saturation is None and hue is None:
        return image
    hsv = cv2.cvtColor(image / 255.0, cv2.COLOR_RGB2HSV)  # H in [0, 360), S and V in [0, 1]
    if saturation is not None:
        hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0.0, 1.0)
    if hue is not None:
        hsv[..., 0] = np.mod(hsv[..., 0] + hue, 360.0)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0, 0.0, 255.0)


def photometric_distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomly change brightness, contrast, saturation and hue.

    image: (H, W, 3) RGB, uint8 or float in [0, 255].
    Returns (H, W, 3) float32 RGB in [0, 255].
    """
    image = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.5:
        image = np.clip(image + rng.uniform(-BRIGHTNESS_DELTA, BRIGHTNESS_DELTA), 0.0, 255.0)
    if rng.random() < 0.5:
        image = _saturation_hue(_contrast(image, rng), rng)
    else:
        image = _contrast(_saturation_hue(image, rng), rng)
    return image.astype(np.float32)


def normalise_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 255] -> (3, H, W) float32 ``(x / 255 - 0.5) / 0.5`` in [-1, 1]."""
    return (np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)


def denormalise_image(image) -> np.ndarray:
    """(3, S, S) network input in [-1, 1] (array or tensor) -> (S, S, 3) uint8 RGB, the inverse of
    :func:`normalise_image` (rounded)."""
    image = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    pixels = np.clip((image.transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).round()
    return np.ascontiguousarray(pixels, dtype=np.uint8)


class SampleRandomness:
    """A numpy Generator per process, re-seeded whenever torch's initial seed changes.

    In a DataLoader worker ``torch.initial_seed()`` is the loader's base seed plus the worker
    id, drawn from torch's global RNG each epoch, so workers differ, epochs differ, and a run
    with a fixed ``torch.manual_seed`` is reproducible. In the main process the stream simply
    continues from ``torch.initial_seed()``. ``seed`` is mixed in so two datasets differ.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._torch_seed: int | None = None
        self._generator: np.random.Generator | None = None

    def generator(self) -> np.random.Generator:
        """The current process's generator (created or re-seeded on demand)."""
        torch_seed = torch.initial_seed()
        if self._generator is None or torch_seed != self._torch_seed:
            self._torch_seed = torch_seed
            self._generator = np.random.default_rng(np.random.SeedSequence([torch_seed, self.seed]))
        return self._generator

    def __getstate__(self) -> dict:
        """Pickled (spawned workers) without the live generator, which is re-created there."""
        return {"seed": self.seed, "_torch_seed": None, "_generator": None}
