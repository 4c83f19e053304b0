"""Settings and result of the adaptive 2D-1D registration (see :mod:`cmr.registration`).

Every setting lives in the configuration's ``REGISTRATION`` section (:mod:`cmr.config`), which
holds the one default of each; :meth:`RegistrationConfig.from_config` reads it.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from torch import Tensor

from cmr.config import setting_value

#: Angles (degrees) of the 6 pairs of orthogonal axes of the 1D silhouette descriptor.
AXIS_PAIRS_DEG = ((0, 90), (-15, 75), (-30, 60), (-45, 45), (-60, 30), (-75, 15))
#: Translation the 2D step starts from and keeps when it cannot run (metres), as the reference.
DEFAULT_TRANSLATION = (0.0, 0.0, 0.6)
#: Fewest descriptor entries (not cut by the crop border) for the 1D step to run.
MIN_SILHOUETTE_ENTRIES = 6


@dataclass(frozen=True)
class RegistrationConfig:
    """Parameters of :func:`cmr.registration.register` (``REGISTRATION.*`` in the configuration).

    z_min, z_max: bounds (metres) on the depth of the translation. The reference uses
        [0.3, 2]; the default 0.1 lets close hands be registered (vertices nearer than
        :data:`cmr.geometry.camera.MIN_DEPTH` are clamped when projected).
    confidence_threshold: joints with confidence <= this are ignored by the 2D step; the others
        are weighted by their confidence.
    max_attempts: fits of the 2D step's outlier-rejection loop.
    min_inliers: the loop stops (keeping its last fit) when fewer joints would survive.
    outlier_sigmas: a joint (2D step) or descriptor entry (1D step) is an outlier when its
        error exceeds this many robustly estimated noise standard deviations ...
    residual_tolerance_px: ... and this many pixels (joints: confidence-normalised
        reprojection error), so near-exact inputs keep all their joints.
    mask_threshold: silhouette pixels with value > this are foreground.
    silhouette_pad_px: how far (pixels) a shape's edge lies outside the outermost pixel centres
        of its hard (pixel-centre) mask, on average for hand outlines.
    silhouette_edge_width_px: width (pixels) over which a soft silhouette (probabilities) falls
        from 1 to 0 across an edge (see :func:`cmr.registration.silhouette.silhouette_pad_px`).
    silhouette_iterations: Levenberg-Marquardt iterations of each 1D fit.
    silhouette_attempts: fits of the 1D step's outlier-rejection loop.
    silhouette_outlier_px: descriptor entries within this many pixels are never outliers.
    silhouette_edge_std_px, silhouette_offset_std_px, silhouette_offset_prior: the prior of the
        1D step's edge offset (how far, pixels, the silhouette's edges lie outside the mesh's
        outline): N(0, edge_std^2) for a well-drawn silhouette, N(0, offset_std^2) with
        probability offset_prior for an eroded or dilated one (see
        :func:`cmr.registration.silhouette_fit._offset_mixture`).
    silhouette_depth_std: floor (metres) of the 1D depth's standard deviation in the fusion
        (the formal one ignores that descriptor errors are correlated).
    fusion_consistency_sigmas: the fusion trusts the silhouette's variance while the 2D and 1D
        translations agree within this many standard deviations of their difference; beyond,
        the excess disagreement is added to the silhouette's variance where its fit showed
        trouble (see :func:`cmr.registration.fusion.fusion_weights`).
    fusion_error_correlation: weight, in each step's depth variance, of its residual error taken
        as correlated (one scaling of the joints' pattern or of the outline, which moves the
        depth instead of averaging out), added to the independent-error variance (see
        :func:`cmr.registration.joints.depth_variance_2d`).
    use_silhouette: run the 1D step when a silhouette is given (the reference silently skips it).
    hand_size: metres, the sum of the 20 bone lengths the network's root-relative mesh is scaled to
        before it is placed (:func:`cmr.models.prediction.predict`); 0 keeps the network's size.
    """

    z_min: float
    z_max: float
    confidence_threshold: float
    max_attempts: int
    min_inliers: int
    outlier_sigmas: float
    residual_tolerance_px: float
    mask_threshold: float
    silhouette_pad_px: float
    silhouette_edge_width_px: float
    silhouette_iterations: int
    silhouette_attempts: int
    silhouette_outlier_px: float
    silhouette_edge_std_px: float
    silhouette_offset_std_px: float
    silhouette_offset_prior: float
    silhouette_depth_std: float
    fusion_consistency_sigmas: float
    fusion_error_correlation: float
    use_silhouette: bool
    hand_size: float

    def __post_init__(self) -> None:
        if not self.hand_size >= 0:
            raise ValueError(f"REGISTRATION.HAND_SIZE must be >= 0 (metres, the sum of the 20 bone lengths; "
                             f"0 keeps the network's size), got {self.hand_size!r}")

    @classmethod
    def from_config(cls, section) -> "RegistrationConfig":
        """The settings of a configuration's ``REGISTRATION`` section."""
        return cls(**{field.name: setting_value(field, section) for field in dataclasses.fields(cls)})

    @classmethod
    def defaults(cls, **changes) -> "RegistrationConfig":
        """The configuration's default settings, with ``changes`` (field=value) applied (a new
        object on every call; the defaults are read from the configuration once)."""
        return dataclasses.replace(_default_settings(), **changes)


@functools.lru_cache(maxsize=1)
def _default_settings() -> RegistrationConfig:
    """The configuration's default ``REGISTRATION`` settings (building the configuration takes
    about 0.5 ms, which :func:`cmr.registration.register` would otherwise pay per call)."""
    from cmr.config import get_cfg

    return RegistrationConfig.from_config(get_cfg().REGISTRATION)


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
