"""Settings of the hand detector (``DETECTOR.*`` in :mod:`cmr.config`, the one default each)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cmr.config import setting_value



@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of :class:`cmr.detection.HandDetector`.

    model_file: the ``hand_landmarker.task`` bundle; empty: the installed package's.
    palm_score: lowest palm-detector score (after the sigmoid) kept as a candidate.
    hand_score: lowest hand-presence score of the landmark network for a hand to be reported.
    nms_iou: palm boxes overlapping more than this are merged (score-weighted).
    duplicate_iou: hands whose keypoint boxes overlap more than this are one hand.
    max_hands: most hands reported per image (highest scores first).
    border: margin (fraction of the longer image side) added around the image for a second
        palm pass, so hands that fill a tight crop are found.
    tile_min_side: images whose longer side is at least this (pixels) are also searched in
        overlapping tiles (k + 1 per side at level k, for sides >= k x this; 0: none), so small
        hands are found.
    refine_passes: landmark passes re-cropped around the previous pass's keypoints.
    threads: CPU threads of the TFLite runtime.
    follow_mirrored: video tracking also reads each followed hand's mirror image (two landmark
        passes per hand and frame, confidence from their disagreement); off: one pass, every
        keypoint's confidence the hand-presence score.
    """

    model_file: str
    palm_score: float
    hand_score: float
    nms_iou: float
    duplicate_iou: float
    max_hands: int
    border: float
    tile_min_side: int
    refine_passes: int
    threads: int
    follow_mirrored: bool

    @classmethod
    def from_config(cls, section) -> "DetectorConfig":
        """The settings of a configuration's ``DETECTOR`` section."""
        return cls(**{field.name: setting_value(field, section) for field in dataclasses.fields(cls)})

    @classmethod
    def defaults(cls, **changes) -> "DetectorConfig":
        """The configuration's default settings, with ``changes`` (field=value) applied."""
        from cmr.config import get_cfg

        return dataclasses.replace(cls.from_config(get_cfg().DETECTOR), **changes)
