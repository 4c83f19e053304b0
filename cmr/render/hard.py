"""Hard rasteriser with a z-buffer: per-pixel face, perspective-correct barycentrics and depth.

Pixel centres follow :mod:`cmr.render.camera` (row i, column j has centre (u=j, v=i)). Each
face is tested against the pixel centres in its bounding box (:mod:`cmr.render.pairs`) with
edge functions; the nearest covering face wins through a scatter-max of 1/z (1/z is affine in
screen space, so the comparison is exact for planar faces).

Coverage rules:
    * Faces of either winding are drawn; ``cull_backfaces`` keeps only front faces, those
      whose right-hand normal (v1 - v0) x (v2 - v0) points towards the camera.
    * Faces with any corner at z <= ``near`` are dropped whole (culled, not clipped).
    * Pixel centres exactly on an edge belong to the face on the edge's "top-left" side
      (the inward normal points to +u, or exactly +v), so faces sharing an edge neither leave
      cracks nor double-cover pixels; each edge function is evaluated from the canonical
      (lower vertex index first) corner order so both faces see bit-identical values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cmr.render.camera import project
from cmr.render.pairs import TileGroup, pixel_boxes, tile_groups

DEFAULT_NEAR = 0.01
"""Near plane (metres) of both rasterisers."""


@dataclass
class Fragments:
    """What the hard rasteriser sees at each pixel.

    Attributes:
        face_index: (B, H, W) int64 face drawn at the pixel centre, -1 for background.
        barycentrics: (B, H, W, 3) perspective-correct barycentric weights of the face's
            corners (they interpolate camera-space attributes); 0 for background.
        depth: (B, H, W) camera-space z in metres of the visible surface; 0 for background.
    """

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool, True where a face is drawn."""
        return self.face_index >= 0


def _edge_planes(screen: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge functions of every face, made exactly antisymmetric across shared edges.

    Edge k joins corners k+1 and k+2 (mod 3), so its function is the (unnormalised)
    barycentric coordinate of corner k: E_k(u, v) = a u + b v + c.

    Args:
        screen: (B, N, 3) projected vertices (u, v, z).
        faces: (F, 3) int64.

    Returns:
        coefficients: (B, F, 3, 3) [a, b, c] per edge, for the face as wound.
        area2: (B, F) twice the signed screen area, E_0 + E_1 + E_2 (pixels^2).
    """
    start, end = faces[:, [1, 2, 0]], faces[:, [2, 0, 1]]
    swapped = start > end
    low, high = torch.where(swapped, end, start), torch.where(swapped, start, end)
    p, q = screen[:, low, :2], screen[:, high, :2]  # (B, F, 3, 2)
    du, dv = (q - p).unbind(dim=-1)
    coefficients = torch.stack([-dv, du, dv * p[..., 0] - du * p[..., 1]], dim=-1)
    coefficients = torch.where(swapped[..., None], -coefficients, coefficients)

    uv = screen[:, faces, :2]  # (B, F, 3, 2)
    e1, e2 = uv[:, :, 1] - uv[:, :, 0], uv[:, :, 2] - uv[:, :, 0]
    area2 = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    return coefficients, area2


def _covered_pixels(planes: torch.Tensor, thresholds: torch.Tensor, inverse_depth: torch.Tensor,
                    sample: torch.Tensor, groups: list[TileGroup], height: int,
                    width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (face, pixel) pair whose pixel centre the face covers.

    Args:
        planes: (M, 3, 3) oriented edge functions [a, b, c] (inside: a u + b v + c > threshold).
        thresholds: (M, 3) 0, or minus the smallest normal float for top-left edges.
        inverse_depth: (M, 3) [alpha, beta, gamma] with 1/z = alpha u + beta v + gamma.
        sample: (M,) batch index of each face.
        groups: tiles of the faces, from :func:`tile_groups`.
        height, width: image size.

    Returns:
        face: (P,) index into the M faces; pixel: (P,) flat index b * H * W + v * W + u;
        inverse_depth: (P,) 1/z of the face at the pixel, 1/metres.
    """
    faces, pixels, depths = [], [], []
    for group in groups:
        u, v = group.columns(planes.dtype), group.rows(planes.dtype)
        tile_planes = planes.index_select(0, group.members)[..., None, None]  # (m, 3, 3, 1, 1)
        tile_thresholds = thresholds.index_select(0, group.members)[..., None, None]
        inside = None
        for k in range(3):
            a, b, c = tile_planes[:, k].unbind(dim=1)
            covered = a * u + (b * v + c) > tile_thresholds[:, k]
            inside = covered if inside is None else inside & covered
        flat = inside.view(-1).nonzero().squeeze(1)
        alpha, beta, gamma = inverse_depth.index_select(0, group.members)[..., None, None].unbind(1)
        depths.append((alpha * u + (beta * v + gamma)).view(-1).index_select(0, flat))
        row_start = (sample.index_select(0, group.members)[:, None] * height + group.v_first[:, None]
                     + torch.arange(group.height, device=flat.device)) * width
        pixel = row_start[:, :, None] + (group.u_first[:, None]
                                         + torch.arange(group.width, device=flat.device))[:, None, :]
        pixels.append(pixel.view(-1).index_select(0, flat))
        faces.append(group.members.index_select(0, flat // (group.height * group.width)))
    empty = sample.new_zeros(0)
    return (torch.cat(faces) if faces else empty, torch.cat(pixels) if pixels else empty,
            torch.cat(depths) if depths else planes.new_zeros(0))


@torch.no_grad()
def rasterize(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor,
              image_size: tuple[int, int], near: float = DEFAULT_NEAR,
              cull_backfaces: bool = False) -> Fragments:
    """Rasterise a batch of meshes sharing one topology.

    Args:
        vertices: (B, N, 3) camera-space vertices, metres (float32 or float64).
        faces: (F, 3) int64 vertex indices.
        K: (B, 3, 3) intrinsics, pixels.
        image_size: (H, W) pixels.
        near: faces with a corner at z <= near (metres) are not drawn.
        cull_backfaces: draw only faces whose right-hand normal faces the camera.

    Returns:
        :class:`Fragments` (no gradient; use :func:`cmr.render.interpolate` for
        attributes, which is differentiable in them).
    """
    batch, height, width = vertices.shape[0], *image_size
    screen = project(vertices, K.to(vertices.dtype))
    coefficients, area2 = _edge_planes(screen, faces)
    depth = screen[:, faces, 2]  # (B, F, 3)
    keep = (depth > near).all(dim=-1) & (area2 < 0 if cull_backfaces else area2 != 0)
    sample, face = keep.nonzero(as_tuple=True)

    # Orient every kept face so that its inside is E > threshold, and fold the barycentric
    # normalisation and 1/z_k of the corners into weights: sum_k E_k weights_k = 1/z.
    orientation = area2[sample, face].sign()
    planes = coefficients[sample, face] * orientation[:, None, None]  # (M, 3, 3)
    weights = 1.0 / (area2[sample, face].abs()[:, None] * depth[sample, face])  # (M, 3)
    top_left = (planes[..., 0] > 0) | ((planes[..., 0] == 0) & (planes[..., 1] > 0))
    thresholds = torch.where(top_left, screen.new_tensor(-torch.finfo(screen.dtype).tiny),
                             screen.new_tensor(0.0))
    inverse_depth = (planes * weights[..., None]).sum(dim=1)  # (M, 3)

    boxes = pixel_boxes(screen[sample[:, None], faces[face], :2], 0.0, height, width)
    groups = tile_groups(boxes, height, width)
    owner, pixel, pair_inverse_depth = _covered_pixels(planes, thresholds, inverse_depth, sample,
                                                       groups, height, width)

    nearest = screen.new_zeros(batch * height * width)
    nearest.scatter_reduce_(0, pixel, pair_inverse_depth, "amax")
    winner = (pair_inverse_depth == nearest.index_select(0, pixel)).nonzero().squeeze(1)
    drawn = torch.full_like(nearest, -1, dtype=torch.int64)
    drawn.scatter_reduce_(0, pixel.index_select(0, winner), owner.index_select(0, winner), "amax")

    covered = (drawn >= 0).nonzero().squeeze(1)
    index = drawn.index_select(0, covered)
    pixel_u = (covered % width).to(screen.dtype)[:, None]
    pixel_v = ((covered // width) % height).to(screen.dtype)[:, None]
    pixel_planes = planes.index_select(0, index)  # (C, 3, 3)
    weighted = (pixel_planes[..., 0] * pixel_u + pixel_planes[..., 1] * pixel_v
                + pixel_planes[..., 2]) * weights.index_select(0, index)
    barycentrics = screen.new_zeros(batch * height * width, 3)
    total = weighted[:, :1] + weighted[:, 1:2] + weighted[:, 2:]
    barycentrics.index_copy_(0, covered, weighted / total)
    depth_map = screen.new_zeros(batch * height * width)
    depth_map.index_copy_(0, covered, nearest.index_select(0, covered).reciprocal())
    face_index = drawn.index_copy_(0, covered, face.index_select(0, index))
    return Fragments(face_index.view(batch, height, width),
                     barycentrics.view(batch, height, width, 3), depth_map.view(batch, height, width))


def interpolate_covered(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolate per-vertex attributes at the covered pixels only.

    Args:
        fragments: from :func:`rasterize`.
        faces: (F, 3) int64, as rasterised.
        attributes: (B, N, C) per-vertex values.

    Returns:
        covered: (P,) flat indices b * H * W + v * W + u of the covered pixels.
        values: (P, C) perspective-correct interpolated attributes there (differentiable in
            ``attributes``).
    """
    batch, height, width = fragments.face_index.shape
    count, channels = attributes.shape[1], attributes.shape[2]
    flat_faces = fragments.face_index.reshape(-1)
    covered = (flat_faces >= 0).nonzero().squeeze(1)
    corners = faces.index_select(0, flat_faces.index_select(0, covered))  # (P, 3)
    corners = corners + torch.div(covered, height * width, rounding_mode="floor")[:, None] * count
    values = attributes.reshape(batch * count, channels).index_select(0, corners.reshape(-1))
    weights = fragments.barycentrics.reshape(-1, 3).index_select(0, covered).to(attributes.dtype)
    values = values.view(-1, 3, channels)
    # Explicit sum over the 3 corners: much faster than a reduction over a size-3 axis on CPU.
    return covered, (values[:, 0] * weights[:, :1] + values[:, 1] * weights[:, 1:2]
                     + values[:, 2] * weights[:, 2:])


def interpolate(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """Interpolate per-vertex attributes at each pixel with the perspective-correct barycentrics.

    Args:
        fragments: from :func:`rasterize`.
        faces: (F, 3) int64, as rasterised.
        attributes: (B, N, C) per-vertex values (colours, normals, positions, ...).

    Returns:
        (B, H, W, C), zero on background. Differentiable in ``attributes``.
    """
    batch, height, width = fragments.face_index.shape
    covered, values = interpolate_covered(fragments, faces, attributes)
    image = attributes.new_zeros(batch * height * width, attributes.shape[2])
    return image.index_copy(0, covered, values).view(batch, height, width, -1)
