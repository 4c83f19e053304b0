"""Settings and result of the adaptive 2D-1D registration (see :mod:`cmr.registration`).

Every setting lives in the configuration's ``REGISTRATION`` section (:mod:`cmr.config`), which
holds the one default of each; :meth:`RegistrationConfig.from_config` reads it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor

#: Angles (degrees) of the 6 pairs of orthogonal axes of the 1D silhouette descriptor.
AXIS_PAIRS_DEG = ((0, 90), (-15, 75), (-30, 60), (-45, 45), (-60, 30), (-75, 15))
#: Translation the 2D step starts from and keeps when it cannot run (metres), as the reference.
DEFAULT_TRANSLATION = (0.0, 0.0, 0.6)
#: Fewest descriptor entries (not cut by the crop border) for the 1D step to run.
MIN_SILHOUETTE_ENTRIES = 6
#: Type of each setting (dataclass annotations are strings here) -> conversion from YAML.
_CASTS = {"float": float, "int": int, "bool": bool}


@dataclass(frozen=True)
class RegistrationConfig:
    """Parameters of :func:`cmr.registration.register` (``REGISTRATION.*`` in the configuration).

    z_min, z_max: bounds (metres) on the depth of the translation. The reference uses
        [0.3, 2]; the default 0.1 lets close hands be registered (vertices nearer than
        :data:`cmr.geometry.camera.MIN_DEPTH` are clamped when projected).
    confidence_threshold: joints with confidence <= this are ignored by the 2D step.
    max_attempts: rounds of the 2D fit / outlier rejection loop.
    min_inliers: the loop stops (keeping its last fit) when fewer joints would survive.
    residual_tolerance_px: the loop stops when the mean reprojection error is at most this.
    mask_threshold: silhouette pixels with value > this are foreground.
    silhouette_pad_px: pixels added to the silhouette's extent on each side along each axis
        (see :func:`cmr.registration.silhouette.mask_descriptor`).
    silhouette_iterations: Levenberg-Marquardt iterations of the 1D step.
    fusion_near, fusion_far: distances (metres) between the 2D and 1D translations below
        which the 2D one is kept and above which the 1D one is used; linear blend between.
    use_silhouette: run the 1D step when a silhouette is given (the reference silently skips it).
    """

    z_min: float
    z_max: float
    confidence_threshold: float
    max_attempts: int
    min_inliers: int
    residual_tolerance_px: float
    mask_threshold: float
    silhouette_pad_px: float
    silhouette_iterations: int
    fusion_near: float
    fusion_far: float
    use_silhouette: bool

    @classmethod
    def from_config(cls, section) -> "RegistrationConfig":
        """The settings of a configuration's ``REGISTRATION`` section."""
        return cls(**{field.name: _CASTS[field.type](section[field.name.upper()])
                      for field in dataclasses.fields(cls)})

    @classmethod
    def defaults(cls, **changes) -> "RegistrationConfig":
        """The configuration's default settings, with ``changes`` (field=value) applied."""
        from cmr.config import get_cfg

        return dataclasses.replace(cls.from_config(get_cfg().REGISTRATION), **changes)




@dataclass
class Registration:
    """Result of :func:`cmr.registration.register` for a batch of B samples (N vertices, J joints).

    translation: (B, 3) metres, the fused camera-space translation of the root.
    translation_2d: (B, 3) metres, from the joints (``DEFAULT_TRANSLATION`` where it failed).
    translation_1d: (B, 3) metres, from the silhouette (equals ``translation_2d`` where no
        usable silhouette was given).
    success: (B,) bool, the 2D step ran (at least two confident joints).
    has_silhouette: (B,) bool, the 1D step ran (a mask was given with at least
        ``MIN_SILHOUETTE_ENTRIES`` descriptor entries not cut by the crop border).
    fusion_weight: (B,) weight of ``translation_1d`` in ``translation``, in [0, 1].
    inliers: (B, J) bool, the joints used by the final 2D fit.
    reprojection_error_px: (B,) mean reprojection error (pixels) of the inliers under
        ``translation_2d`` (0 where the 2D step failed).
    silhouette_error_px: (B,) root-mean-square difference (pixels) of the valid descriptor
        entries under ``translation_1d`` (0 where no silhouette).
    vertices: (B, N, 3) metres, camera space (input vertices + translation).
    joints: (B, J, 3) metres, camera space (input joints + translation).
    """

    translation: Tensor
    translation_2d: Tensor
    translation_1d: Tensor
    success: Tensor
    has_silhouette: Tensor
    fusion_weight: Tensor
    inliers: Tensor
    reprojection_error_px: Tensor
    silhouette_error_px: Tensor
    vertices: Tensor
    joints: Tensor
