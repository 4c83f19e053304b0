"""Vectorised pure-PyTorch mesh rendering (CPU or GPU).

* :func:`rasterize` - hard z-buffer rasteriser: face index, perspective-correct barycentrics and
  depth per pixel; :func:`interpolate` reads per-vertex attributes through it.
* :func:`render` - Lambert-shaded RGB image, mask and depth map from the hard rasteriser.
* :func:`soft_rasterize` - SoftRas-style differentiable silhouette, depth and colour.

Conventions (see :mod:`cmr.render.camera`): OpenCV camera space in metres, batched intrinsics
K (B, 3, 3), pixel (row i, column j) centred at (u=j, v=i).
"""

from cmr.render.camera import project
from cmr.render.hard import DEFAULT_NEAR, Fragments, interpolate, rasterize
from cmr.render.primitives import icosphere, uv_sphere
from cmr.render.renderer import Rendering, render
from cmr.render.shading import DirectionalLight, lambert, vertex_normals
from cmr.render.soft import SoftImages, SoftSettings, soft_rasterize

__all__ = [
    "DEFAULT_NEAR", "DirectionalLight", "Fragments", "Rendering", "SoftImages", "SoftSettings",
    "icosphere", "interpolate", "lambert", "project", "rasterize", "render", "soft_rasterize",
    "uv_sphere", "vertex_normals",
]
