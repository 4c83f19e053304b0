"""Soft, differentiable rasteriser in the manner of SoftRas (Liu et al., ICCV 2019).

Every face j contributes to pixel i with a coverage probability
D_ij = sigmoid(+-d_ij^2 / sigma), where d_ij is the pixel-centre distance to the face's edges in
pixels (+ inside, - outside), and

    silhouette_i = 1 - prod_j (1 - D_ij),
    w_ij = D_ij exp(z'_ij / gamma) / (sum_k D_ik exp(z'_ik / gamma) + exp(eps / gamma)),
    depth_i = sum_j w_ij z_ij + w_i,background * background_depth,
    colour_i = sum_j w_ij c_ij + w_i,background * background_colour_i,

with z'_ij = (far - z_ij) / (far - near) the normalised inverse depth, z_ij and c_ij the face's
perspective-correct depth and Lambert-shaded colour at the pixel (barycentrics clamped to the
face outside it). Only pixels within sqrt(sigma ln(1/cutoff)) pixels of a face's bounding box are
visited (dense per-face tiles, :mod:`cmr.render.pairs`); farther pairs have D < cutoff and are
dropped. Faces with a corner at z <= near are dropped. Gradients reach vertices, intrinsics,
colours and all light parameters. Pixel conventions follow :mod:`cmr.render.camera`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cmr.render.camera import project
from cmr.render.hard import DEFAULT_NEAR
from cmr.render.pairs import TileGroup, pixel_boxes, tile_groups
from cmr.render.shading import DirectionalLight, lambert, vertex_normals


@dataclass
class SoftSettings:
    """Parameters of :func:`soft_rasterize`.

    Attributes:
        sigma: sharpness of the coverage sigmoid, pixels^2 (SoftRas's sigma in pixel units).
        gamma: softmax temperature over normalised inverse depth (0..1 between near and far).
        near, far: depth range in metres; faces with a corner at z <= near are dropped.
        cutoff: coverage probability below which face-pixel pairs are skipped.
        background_eps: the background's normalised inverse depth in the softmax (SoftRas's eps).
        background_depth: depth given to the background in the soft depth map, metres.
        cull_backfaces: skip faces whose right-hand normal points away from the camera.
    """

    sigma: float = 1.0
    gamma: float = 1e-4
    near: float = DEFAULT_NEAR
    far: float = 10.0
    cutoff: float = 1e-5
    background_eps: float = 1e-3
    background_depth: float = 0.0
    cull_backfaces: bool = False

    @property
    def margin(self) -> float:
        """Pixels beyond a face's bounding box where its coverage falls below ``cutoff``."""
        return math.sqrt(self.sigma * math.log(1.0 / self.cutoff))


@dataclass
class SoftImages:
    """Soft renderings.

    Attributes:
        silhouette: (B, H, W) coverage in [0, 1].
        depth: (B, H, W) soft depth, metres (tends to ``background_depth`` off the mesh).
        image: (B, H, W, 3) soft RGB, or None when no colours were given.
    """

    silhouette: torch.Tensor
    depth: torch.Tensor
    image: torch.Tensor | None


@dataclass
class _FaceData:
    """Per-face inputs of the kept faces (M of them); all may carry gradients."""

    corners: torch.Tensor  # (M, 3, 3) u, v (pixels), z (metres) of each corner
    sample: torch.Tensor  # (M,) batch index
    albedo: torch.Tensor | None  # (M, 3, 3) corner colours
    normals: torch.Tensor | None  # (M, 3, 3) corner normals
    light: tuple[torch.Tensor, ...] | None  # direction, colour, ambient, each (M, 3)


def _tile_pairs(data: _FaceData, group: TileGroup, settings: SoftSettings, height: int,
                width: int) -> tuple[torch.Tensor, ...]:
    """Coverage, depth and colour of one tile group's face-pixel pairs.

    Returns (p = m * h * w pairs):
        pixel: (p,) flat index b * H * W + v * W + u.
        log_miss: (p,) log(1 - D); logit: (p,) log D + z' / gamma; depth: (p,) metres;
        colour: (p, 3) shaded colour, or None.
    """
    dtype = data.corners.dtype
    u, v = group.columns(dtype), group.rows(dtype)  # (m, 1, w), (m, h, 1)
    corners = data.corners.index_select(0, group.members)
    cu, cv = (x[..., None, None] for x in corners[..., :2].unbind(dim=-1))  # (m, 3, 1, 1)

    crosses, distances = [], []
    for k in range(3):
        eu, ev = cu[:, (k + 1) % 3] - cu[:, k], cv[:, (k + 1) % 3] - cv[:, k]
        ru, rv = u - cu[:, k], v - cv[:, k]
        crosses.append(eu * rv - ev * ru)  # 2 * signed area opposite corner (k + 2) % 3
        length2 = (eu * eu + ev * ev).clamp(min=torch.finfo(dtype).tiny)
        along = ((ru * eu + rv * ev) / length2).clamp(0.0, 1.0)
        distances.append((ru - along * eu) ** 2 + (rv - along * ev) ** 2)
    area2 = crosses[0] + crosses[1] + crosses[2]
    screen_weights = torch.stack([crosses[1], crosses[2], crosses[0]], dim=-1) / area2[..., None]
    inside = (screen_weights >= 0).all(dim=-1).detach()
    distance2 = torch.minimum(torch.minimum(distances[0], distances[1]), distances[2])
    x = torch.where(inside, distance2, -distance2) / settings.sigma

    # Barycentrics clamped to the face, then made perspective-correct (m, h, w, 3).
    screen_weights = screen_weights.clamp(min=0.0)
    screen_weights = screen_weights / screen_weights.sum(dim=-1, keepdim=True)
    over_depth = screen_weights / corners[:, None, None, :, 2]
    inverse_depth = over_depth.sum(dim=-1)
    barycentrics = over_depth / inverse_depth[..., None]
    depth = inverse_depth.reciprocal()
    normalised = (settings.far - depth) / (settings.far - settings.near)
    logit = F.logsigmoid(x) + normalised / settings.gamma

    colour = None
    if data.albedo is not None:
        members = group.members
        interpolate = lambda corner_values: torch.einsum(  # noqa: E731
            "mhwk,mkc->mhwc", barycentrics, corner_values.index_select(0, members))
        direction, light_colour, ambient = (x.index_select(0, members)[:, None, None]
                                            for x in data.light)
        colour = lambert(interpolate(data.albedo), interpolate(data.normals), direction,
                         light_colour, ambient).reshape(-1, 3)

    row_start = (data.sample.index_select(0, group.members)[:, None] * height
                 + group.v_first[:, None] + torch.arange(group.height, device=u.device)) * width
    pixel = row_start[:, :, None] + (group.u_first[:, None]
                                     + torch.arange(group.width, device=u.device))[:, None, :]
    return (pixel.reshape(-1), F.logsigmoid(-x).reshape(-1), logit.reshape(-1),
            depth.reshape(-1), colour)


def background_image(background: torch.Tensor | None, batch: int, height: int, width: int,
                     like: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) background from None (black), a (3,) or (B, 3) colour, or a (B, H, W, 3) image,
    with the dtype and device of ``like``."""
    if background is None:
        background = like.new_zeros(3)
    if background.dim() == 2:
        background = background[:, None, None, :]
    return background.to(like).expand(batch, height, width, 3)


def _kept_faces(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, settings: SoftSettings,
                colours: torch.Tensor | None, light: DirectionalLight | None) -> _FaceData:
    """Project the (B, N, 3) vertices (metres) with K (B, 3, 3) and keep the faces in front of
    ``near`` with a non-degenerate (or, when culling, front-facing) screen triangle; with
    ``colours`` (B, N, 3), also their corner albedo, normals and per-face light."""
    screen = project(vertices, K.to(vertices.dtype))
    face_screen = screen[:, faces]  # (B, F, 3, 3)
    with torch.no_grad():
        uv = face_screen[..., :2]
        edge1, edge2 = uv[:, :, 1] - uv[:, :, 0], uv[:, :, 2] - uv[:, :, 0]
        area2 = edge1[..., 0] * edge2[..., 1] - edge1[..., 1] * edge2[..., 0]
        keep = (face_screen[..., 2] > settings.near).all(dim=-1)
        keep &= area2 < 0 if settings.cull_backfaces else area2 != 0
    sample, face = keep.nonzero(as_tuple=True)
    data = _FaceData(face_screen[sample, face], sample, None, None, None)
    if colours is not None:
        light = light or DirectionalLight.default(vertices.dtype, vertices.device)
        corner_index = faces[face]
        data.albedo = colours[sample[:, None], corner_index]
        data.normals = vertex_normals(vertices, faces)[sample[:, None], corner_index]
        data.light = tuple(x.index_select(0, sample) for x in light.per_sample(vertices.shape[0]))
    return data


def _composite(pixel: torch.Tensor, log_miss: torch.Tensor, logit: torch.Tensor, depth: torch.Tensor,
               colour: torch.Tensor | None, settings: SoftSettings, shape: tuple[int, int, int],
               background: torch.Tensor | None, like: torch.Tensor) -> SoftImages:
    """Aggregate the p face-pixel pairs (see :func:`_tile_pairs`; ``colour`` (p, 3) or None)
    into the (B, H, W) = ``shape`` images, in the dtype and on the device of ``like``."""
    batch, height, width = shape
    size = batch * height * width
    silhouette = -torch.expm1(like.new_zeros(size).index_add(0, pixel, log_miss))

    background_logit = settings.background_eps / settings.gamma
    shift = like.new_full((size,), background_logit)
    shift.scatter_reduce_(0, pixel, logit.detach(), "amax")
    weight = torch.exp(logit - shift.index_select(0, pixel))
    background_weight = torch.exp(background_logit - shift)
    total = background_weight + like.new_zeros(size).index_add(0, pixel, weight)
    soft_depth = (background_weight * settings.background_depth
                  + like.new_zeros(size).index_add(0, pixel, weight * depth)) / total

    image = None
    if colour is not None:
        background = background_image(background, batch, height, width, like).reshape(size, 3)
        image = (background_weight[:, None] * background
                 + like.new_zeros(size, 3).index_add(0, pixel, weight[:, None] * colour)
                 ) / total[:, None]
        image = image.view(batch, height, width, 3)
    return SoftImages(silhouette.view(batch, height, width), soft_depth.view(batch, height, width),
                      image)


def soft_rasterize(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor,
                   image_size: tuple[int, int], settings: SoftSettings | None = None,
                   colours: torch.Tensor | None = None, light: DirectionalLight | None = None,
                   background: torch.Tensor | None = None) -> SoftImages:
    """Soft silhouette, depth and (optionally) Lambert-shaded colour of a batch of meshes.

    Args:
        vertices: (B, N, 3) camera-space vertices, metres.
        faces: (F, 3) int64.
        K: (B, 3, 3) intrinsics, pixels.
        image_size: (H, W) pixels.
        settings: :class:`SoftSettings` (defaults when None).
        colours: (B, N, 3) per-vertex albedo in [0, 1]; None skips the colour image.
        light: the light for ``colours`` (default :meth:`DirectionalLight.default`).
        background: (3,), (B, 3) or (B, H, W, 3) background colour (default black).

    Returns:
        :class:`SoftImages`, differentiable in every floating-point input.
    """
    settings = settings or SoftSettings()
    batch, height, width = vertices.shape[0], *image_size
    data = _kept_faces(vertices, faces, K, settings, colours, light)
    groups = tile_groups(pixel_boxes(data.corners[..., :2].detach(), settings.margin, height, width),
                         height, width)
    pairs = [_tile_pairs(data, group, settings, height, width) for group in groups]
    pixel = torch.cat([p[0] for p in pairs]) if pairs else data.sample.new_zeros(0)
    log_miss, logit, depth = (torch.cat([p[i] for p in pairs]) if pairs else vertices.new_zeros(0)
                              for i in (1, 2, 3))
    colour = None
    if colours is not None:
        colour = torch.cat([p[4] for p in pairs]) if pairs else vertices.new_zeros(0, 3)
    return _composite(pixel, log_miss, logit, depth, colour, settings, (batch, height, width), background,
                      like=vertices)
