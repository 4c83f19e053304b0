"""Settings and result of the hand-model fit (see :mod:`cmr.fitting`).

Every setting lives in the configuration (:mod:`cmr.config`), which holds the one default of
each: the ``FITTING`` section, plus the keypoint-confidence and mask thresholds, which are the
registration's (``REGISTRATION.CONFIDENCE_THRESHOLD`` and ``MASK_THRESHOLD``: the same network
outputs are trusted the same way). :meth:`FittingConfig.from_config` reads them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor

from cmr.config import setting_value

#: Settings read from the REGISTRATION section instead of FITTING.
_SHARED_WITH_REGISTRATION = ("confidence_threshold", "mask_threshold")


@dataclass(frozen=True)
class FittingConfig:
    """Parameters of :func:`cmr.fitting.fit_hand` (``FITTING.*`` in the configuration).

    enabled: whether callers that offer the fit run it (the fit itself ignores it).
    iterations: Adam steps after the closed-form start.
    mesh_weight: weight of the mean squared vertex distance, per mm^2.
    joint_weight: weight of the mean squared distance of the 21 keypoints to 3D keypoint
        targets (when given), per mm^2.
    keypoint_weight: weight of the confidence-weighted mean squared reprojection error of the
        21 keypoints, per px^2.
    silhouette_weight: weight of the mean squared distance (px^2) from each projected vertex to
        the silhouette (0 for vertices inside it).
    shape_prior_weight: weight of ``|beta|^2``.
    rotation_step, translation_step, pose_step, shape_step: Adam learning rates of the global
        rotation (radians), the translation (metres), the joint-angle parameters and the shape
        coefficients, decayed to 0 on a cosine over the iterations.
    joint_limits: keep the joints within :data:`cmr.hand.skeleton.JOINT_LIMITS` (in the open
        hand's joint frames); False fits free rotation vectors.
    confidence_threshold: keypoints with confidence <= this are ignored (REGISTRATION's).
    mask_threshold: silhouette pixels with value > this are foreground (REGISTRATION's).
    """

    enabled: bool
    iterations: int
    mesh_weight: float
    joint_weight: float
    keypoint_weight: float
    silhouette_weight: float
    shape_prior_weight: float
    rotation_step: float
    translation_step: float
    pose_step: float
    shape_step: float
    joint_limits: bool
    confidence_threshold: float
    mask_threshold: float

    @classmethod
    def from_config(cls, cfg) -> "FittingConfig":
        """The settings of a whole configuration (its ``FITTING`` and ``REGISTRATION`` sections)."""
        values = {}
        for field in dataclasses.fields(cls):
            section = cfg.REGISTRATION if field.name in _SHARED_WITH_REGISTRATION else cfg.FITTING
            values[field.name] = setting_value(field, section)
        return cls(**values)

    @classmethod
    def defaults(cls, **changes) -> "FittingConfig":
        """The configuration's default settings, with ``changes`` (field=value) applied."""
        from cmr.config import get_cfg

        return dataclasses.replace(cls.from_config(get_cfg()), **changes)


@dataclass
class HandFit:
    """Result of :func:`cmr.fitting.fit_hand` for a batch of B hands (metres, radians).

    pose: (B, 16, 3) axis-angle, MANO joint order, in the convention of each sample's side
        (:class:`cmr.hand.HandModel`'s: ``model(pose, shape, translation, side)`` gives
        ``vertices``).
    shape: (B, 10) shape coefficients.
    translation: (B, 3) metres.
    vertices: (B, 778, 3) metres, the fitted mesh in camera space.
    joints: (B, 21, 3) metres, its keypoints in FreiHAND order.
    sides: the side ('right' or 'left') of every sample.
    mesh_error_mm: (B,) mean distance (mm) between fitted and target vertices; None when no
        target mesh was given.
    keypoint_error_px: (B,) confidence-weighted mean reprojection error (pixels) of the trusted
        keypoints (0 where none is trusted); None when no keypoints were given.
    silhouette_error_px: (B,) mean distance (pixels) from the projected vertices to the
        silhouette (0 inside it, 0 for an empty mask); None when no mask was given.
    """

    pose: Tensor
    shape: Tensor
    translation: Tensor
    vertices: Tensor
    joints: Tensor
    sides: tuple[str, ...]
    mesh_error_mm: Tensor | None
    keypoint_error_px: Tensor | None
    silhouette_error_px: Tensor | None
