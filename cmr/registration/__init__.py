"""Adaptive 2D-1D registration: place a root-relative hand mesh in camera space.

The network predicts a root-relative mesh (units of 0.2 m; the caller multiplies by 0.2), 21
heatmaps and a silhouette. Registration solves the camera-space translation ``t`` (metres) so
that the translated mesh agrees with the 2D joints (the "2D" step) and with the silhouette (the
"1D" step), then blends the two answers by how far each can be trusted (the "adaptive
fusion"). Rotation and scale are not solved. Everything is batched over B samples, in torch,
and runs on the inputs' device.

Pixel convention (used throughout): pixel centres sit at integer coordinates, so pixel
``(row i, column j)`` covers ``u in [j - 0.5, j + 0.5]``, ``v in [i - 0.5, i + 0.5]``. This is
the convention of a pinhole ``K``: a camera-space point projecting to ``u = j`` lands on the
centre of column ``j``.

Deviations from the reference (``utils/vis.py: registration`` in SeanChenxy/HandMesh; see
``shared/reference/cmr.md`` section 3 and pitfall 24), all deliberate (measured against a
re-implementation of the reference by ``python -m cmr bench registration_accuracy``):

* The 2D step is the same linear least-squares objective, solved in closed form (3x3 normal
  equations, float64) instead of SLSQP; the depth bound is enforced exactly (see
  :func:`solve_translation_2d`). Each joint is weighted by its confidence, not only selected
  by it.
* The outlier loop tests each joint's true reprojection error (pixels, normalised by its
  confidence) against a robust estimate of the joint noise (:func:`robust_noise_px`), and stops
  when no joint is an outlier; the reference tests the absolute value of the signed sum of the
  depth-multiplied u and v residuals (px*m, which can cancel) against mean + std and stops when
  their mean is <= 2, which has no fixed meaning in pixels.
* The default depth lower bound is 0.1 m instead of 0.3 m, so hands closer than 30 cm (e.g.
  egocentric views) can be registered; the reference value is one config field away.
* The 1D silhouette step actually runs (in the reference an OpenCV API change silently turns it
  off), is solved by batched Levenberg-Marquardt instead of SLSQP with finite-difference
  gradients, starts from the 2D answer (or, when the 2D step failed, from a closed-form guess
  read off the silhouette's extent) instead of from ``[0, 0, 0.6]``, rejects descriptor
  entries it cannot explain (a forearm, an occluder) and models an edge offset (an eroded or
  dilated silhouette, see :mod:`~cmr.registration.silhouette_fit`).
* The silhouette descriptor is taken over all foreground pixels (equivalently over their outer
  contour) of the thresholded mask, widened by an edge model decided by how the mask was made
  (hard pixel-centre mask or soft probabilities, :func:`silhouette_pad_px`), and entries
  attained on the crop border (a cut silhouette) are left out (see :func:`mask_descriptor`);
  the reference uses the largest external contour only, cut or not, unwidened.
* The fusion weighs the two depths by their expected variances (from the joints' residuals and
  confidences, from the silhouette fit's residuals and edge-offset uncertainty), not by a
  fixed ramp of their distance between 2 and 6 cm (:func:`fusion_weights`).
* The 2D step needs at least two confident joints (one joint fixes a ray, not a point).

Modules: :mod:`~cmr.registration.settings` (the settings, all in the configuration's
``REGISTRATION`` section, and the result), :mod:`~cmr.registration.joints` (2D step),
:mod:`~cmr.registration.silhouette` (the silhouette descriptor),
:mod:`~cmr.registration.silhouette_fit` (1D step), :mod:`~cmr.registration.fusion` (fusion, the
whole). :mod:`~cmr.registration.evidence` chooses the 2D evidence.
"""

from cmr.registration.fusion import fusion_weights, register
from cmr.registration.joints import (
    depth_variance_2d,
    fit_translation_2d,
    reprojection_errors,
    robust_noise_px,
    solve_translation_2d,
)
from cmr.registration.settings import Registration, RegistrationConfig
from cmr.registration.silhouette import mask_descriptor, point_descriptor, silhouette_pad_px
from cmr.registration.silhouette_fit import fit_translation_1d

__all__ = [
    "Registration", "RegistrationConfig", "depth_variance_2d", "fit_translation_1d",
    "fit_translation_2d", "fusion_weights", "mask_descriptor", "point_descriptor", "register",
    "reprojection_errors", "robust_noise_px", "silhouette_pad_px", "solve_translation_2d",
]
