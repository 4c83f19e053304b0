"""Colours of the hand keypoints and bones, shared by every drawing (RGB in [0, 1])."""

from __future__ import annotations

from cmr.hand.conventions import digit_of_keypoint

#: RGB colour per digit (thumb, index, middle, ring, little); the wrist is grey.
FINGER_COLOURS = ((0.90, 0.15, 0.15), (0.95, 0.70, 0.05), (0.15, 0.75, 0.20),
                  (0.10, 0.55, 0.95), (0.70, 0.25, 0.85))
WRIST_COLOUR = (0.4, 0.4, 0.4)


def joint_colour(joint: int) -> tuple[float, float, float]:
    """RGB colour of a FreiHAND-order keypoint (and of the bone to its parent)."""
    digit = digit_of_keypoint(joint)
    return WRIST_COLOUR if digit < 0 else FINGER_COLOURS[digit]
