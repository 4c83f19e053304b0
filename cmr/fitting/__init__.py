"""Fitting the parametric hand model to the network's prediction: pose, shape, translation.

:func:`fit_hand` fits :class:`cmr.hand.HandModel` (the open hand, or a MANO-format model loaded
by :mod:`cmr.hand.mano_format`) to a batch of camera-space target meshes (the registered
prediction, in the model's topology), optionally 2D keypoints with confidences and a silhouette,
keeping every joint within the anatomical limits and the shape near the mean. Left hands are
fitted as the mirrored model (``side``), per call or per sample.

Method (every setting in the configuration's ``FITTING`` section, :class:`FittingConfig`):

1. a closed-form start (:mod:`~cmr.fitting.initialisation`): each bone's rotation by a weighted
   rigid alignment of the rest mesh to the target, then the shape and translation that best
   fit the mesh for that pose (linear least squares);
2. a fixed number of Adam steps (:mod:`~cmr.fitting.objective`) on the mean squared vertex
   distance (mm^2), the confidence-weighted squared reprojection error of the keypoints (px^2),
   the squared distance of the projected vertices to the silhouette (px^2, from a distance
   transform of its outside, sampled bilinearly) and the shape prior, with the joint angles
   bounded by construction (a cosine between each angle's limits) rather than clamped.

Modules: :mod:`~cmr.fitting.settings` (settings, result), :mod:`~cmr.fitting.inputs` (checks,
distance maps), :mod:`~cmr.fitting.initialisation`, :mod:`~cmr.fitting.objective`,
:mod:`~cmr.fitting.fit` (the whole).
"""

from cmr.fitting.fit import fit_hand
from cmr.fitting.settings import FittingConfig, HandFit

__all__ = ["FittingConfig", "HandFit", "fit_hand"]
