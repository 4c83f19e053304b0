"""Hard-rasterised, Lambert-shaded RGB images with masks and depth maps."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cmr.render.hard import DEFAULT_NEAR, Fragments, interpolate_covered, rasterize
from cmr.render.shading import DirectionalLight, lambert, vertex_normals
from cmr.render.soft import background_image


@dataclass
class Rendering:
    """Output of :func:`render`.

    Attributes:
        image: (B, H, W, 3) RGB, shaded mesh composited over the background.
        mask: (B, H, W) bool, True where the mesh is drawn.
        depth: (B, H, W) camera-space z, metres; 0 on background.
        fragments: the rasteriser's per-pixel face index and barycentrics.
    """

    image: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    fragments: Fragments


def render(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor,
           image_size: tuple[int, int], colours: torch.Tensor,
           light: DirectionalLight | None = None, background: torch.Tensor | None = None,
           near: float = DEFAULT_NEAR, cull_backfaces: bool = False) -> Rendering:
    """Render meshes with per-vertex colours, per-pixel interpolated normals and Lambert shading.

    Args:
        vertices: (B, N, 3) camera-space vertices, metres.
        faces: (F, 3) int64, counter-clockwise seen from outside (normals by the right-hand rule).
        K: (B, 3, 3) intrinsics, pixels.
        image_size: (H, W) pixels.
        colours: (B, N, 3) per-vertex albedo in [0, 1].
        light: directional + ambient light (default :meth:`DirectionalLight.default`).
        background: (3,) or (B, 3) colour, or (B, H, W, 3) image; default black.
        near, cull_backfaces: as in :func:`cmr.render.rasterize`.

    Returns:
        :class:`Rendering`. The image is differentiable in colours and light (not in vertex
        positions through coverage: use :func:`cmr.render.soft_rasterize` for that).
    """
    batch, height, width = vertices.shape[0], *image_size
    fragments = rasterize(vertices, faces, K, image_size, near, cull_backfaces)
    light = light or DirectionalLight.default(colours.dtype, colours.device)
    covered, normals = interpolate_covered(fragments, faces, vertex_normals(vertices, faces))
    _, albedo = interpolate_covered(fragments, faces, colours)
    sample = torch.div(covered, height * width, rounding_mode="floor")
    direction, light_colour, ambient = (x.index_select(0, sample) for x in light.per_sample(batch))
    shaded = lambert(albedo, normals, direction, light_colour, ambient)
    image = background_image(background, batch, height, width, shaded).reshape(-1, 3)
    image = image.index_copy(0, covered, shaded).view(batch, height, width, 3)
    return Rendering(image, fragments.mask, fragments.depth, fragments)
