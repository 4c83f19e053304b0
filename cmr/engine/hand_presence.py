"""Is there a hand in the image? A decision from the model's silhouette, its heatmaps and the pixels.

The model always outputs a hand: on a gradient, on noise or on a wall it still predicts a
mesh, 21 joints and a silhouette. :func:`hand_presence` keeps an image only when all three
checks of :data:`CHECKS` pass; each has a physical meaning and keeps every real hand measured
with a margin:

1. **Silhouette confidence**: over the pixels the network calls hand (probability > 0.5) the
   mean probability is at least ``MIN_SILHOUETTE_CONFIDENCE``. On a hand the mask is crisp; on
   noise, gradients and textures it is a haze of values just above 0.5.
2. **Skin colour**: at least ``MIN_SKIN_FRACTION`` of the silhouette (weighted by its
   probability) has skin chrominance in YCrCb, Cr in [133, 173] and Cb in [77, 127] (the
   fixed box of Chai and Ngan, 1999, not fitted here). Chrominance, unlike brightness, varies
   little across skin tones. This check does most of the work: the model segments any compact
   object in front of a background as if it were a hand.
3. **Joint evidence**: the most confident of the 21 heatmaps peaks at ``MIN_JOINT_PEAK`` or
   more (a loose check: some part of a hand was detected at all; it rejects flat images).

Measured with ``python -m cmr bench hand_presence`` on the bundled ``compact_synth.pt`` (each
no-hand set run as right and as left hands): every real hand is kept (Ge et al. 60/60, FreiHAND
8/8, sign-language photos 200/200 as right and as left hands, bundled samples 6/6); patterns
(gradients, flats, noise, blurred noise, blobs, checkers, stripes) are all rejected (64 runs);
the generator's backgrounds pass 26-28 %, hand-free regions of real photos 0-2 % (a shop
sign). Skin-coloured things that are not hands pass: a face, a bare forearm (65-75 %),
skin-toned clutter. Known misses: gloved hands and hands under strongly coloured light fail
the skin check.

Useless here: the silhouette's area (the demo re-crops around the silhouette, so it always
fills the input), the registration's success, reprojection and silhouette errors, its depth,
the silhouette-mesh IoU, the heatmap peak sharpness, the number of confident joints, the
silhouette's elongation and the consistency of the outputs under 90-degree rotations of the
input: on hands and on hand-free clutter they overlap.

Nothing here depends on the mesh, its template or the registration, so the thresholds carry
over to a retrained model of the same recipe; rerun the benchmark to check them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from cmr.data.augment import denormalise_image

#: Silhouette probability above which a pixel counts as hand (the natural decision boundary;
#: independent of ``REGISTRATION.MASK_THRESHOLD``, which tunes the registration).
SILHOUETTE_PROBABILITY = 0.5
#: Least mean probability over the hand pixels. Real hands: >= 0.76 (a Ge et al. crop; FreiHAND
#: >= 0.80, sign-language photos >= 0.79). Noise, gradients, checkers, stripes: mostly < 0.7.
MIN_SILHOUETTE_CONFIDENCE = 0.7
#: Least probability-weighted fraction of the silhouette with skin chrominance: "most of it".
#: Real hands: >= 0.84 (a FreiHAND crop under cool light; Ge et al. >= 0.94, sign-language
#: photos >= 0.87). Textures, backgrounds, hand-free photo regions: mostly < 0.3. (0.6 would
#: halve the backgrounds that pass, at a margin of 0.12 on real hands.)
MIN_SKIN_FRACTION = 0.5
#: Least maximum heatmap confidence. Real hands: >= 0.24 (sign-language photos; Ge et al. and
#: FreiHAND >= 0.28); flat images (black, white, grey, skin-coloured): <= 0.07.
MIN_JOINT_PEAK = 0.15
#: Skin chrominance box (Chai and Ngan, 1999), 8-bit YCrCb as OpenCV defines it.
SKIN_CR = (133.0, 173.0)
SKIN_CB = (77.0, 127.0)


@dataclass
class PresenceSignals:
    """The measurements behind :func:`hand_presence`, each (B,) float on the prediction's device.

    silhouette_confidence: mean probability over the pixels with probability >
        ``SILHOUETTE_PROBABILITY`` (0 for an empty silhouette).
    skin_fraction: sum(p * skin) / sum(p) over the input, p the silhouette probability and
        skin 1 where the pixel has skin chrominance (:func:`skin_pixels`); 0 for an empty mask.
    joint_peak: maximum over the 21 joints of the heatmap confidence.
    """

    silhouette_confidence: Tensor
    skin_fraction: Tensor
    joint_peak: Tensor


def input_pixels(prediction) -> np.ndarray:
    """(B, S, S, 3) uint8 RGB: the inputs the network saw (``prediction.images``, in the frame of
    ``prediction.mask``; for left hands mirrored back like it)."""
    return np.stack([denormalise_image(image) for image in prediction.images])


def skin_pixels(pixels: np.ndarray) -> np.ndarray:
    """(B, S, S) bool: pixels whose chrominance lies in the skin box (``SKIN_CR``, ``SKIN_CB``).

    pixels: (B, S, S, 3) uint8 RGB. Uses OpenCV's 8-bit YCrCb (Cr = 0.713 (R - Y) + 128,
    Cb = 0.564 (B - Y) + 128, Y = 0.299 R + 0.587 G + 0.114 B).
    """
    ycrcb = cv2.cvtColor(pixels.reshape(-1, pixels.shape[-2], 3), cv2.COLOR_RGB2YCrCb).reshape(pixels.shape)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    return (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])


def presence_signals(prediction) -> PresenceSignals:
    """Measure the signals of :func:`hand_presence`.

    prediction: a :class:`cmr.models.prediction.Prediction` for B images (its ``mask``
    (B, S, S) probabilities, ``confidence`` (B, 21) and ``images`` are used).
    """
    mask = prediction.mask.float()
    hand = mask > SILHOUETTE_PROBABILITY
    count = hand.sum(dim=(1, 2)).float()
    skin = torch.from_numpy(skin_pixels(input_pixels(prediction))).to(mask)
    return PresenceSignals(
        silhouette_confidence=(mask * hand).sum(dim=(1, 2)) / count.clamp_min(1.0),
        skin_fraction=(mask * skin).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp_min(1e-6),
        joint_peak=prediction.confidence.float().amax(dim=1),
    )


#: The checks in the order of the module docstring: (signal field, least value, description).
CHECKS = (
    ("silhouette_confidence", MIN_SILHOUETTE_CONFIDENCE, "silhouette confidence"),
    ("skin_fraction", MIN_SKIN_FRACTION, "skin-coloured fraction"),
    ("joint_peak", MIN_JOINT_PEAK, "joint peak"),
)


def check_results(signals: PresenceSignals) -> dict[str, Tensor]:
    """(B,) bool per check of :data:`CHECKS` (keyed by signal field): True where it passed."""
    return {name: getattr(signals, name) >= least for name, least, _ in CHECKS}


def all_passed(passed: dict[str, Tensor]) -> Tensor:
    """(B,) bool: every check of :func:`check_results` passed (the decision)."""
    return torch.stack(list(passed.values())).all(dim=0)


def hand_presence(prediction) -> tuple[Tensor, list[str]]:
    """Decide per image whether it shows a hand (all checks of :data:`CHECKS` pass).

    prediction: a :class:`cmr.models.prediction.Prediction` for B images (e.g. from
    :func:`cmr.engine.inference.predict_images`, left hands included).
    Returns found: (B,) bool on the prediction's device, and reason: B strings, ``"hand"``
    where found, else each failed check with its measured value and threshold.
    """
    signals = presence_signals(prediction)
    passed = check_results(signals)
    found = all_passed(passed)
    reasons = []
    for index in range(len(found)):
        failed = [f"{text} {float(getattr(signals, name)[index]):.3f} < {least}"
                  for name, least, text in CHECKS if not passed[name][index]]
        reasons.append("; ".join(failed) if failed else "hand")
    return found, reasons
