"""Tests of cmr.render: hard rasteriser, shading and the soft differentiable rasteriser."""

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from cmr.render import (DirectionalLight, SoftSettings, icosphere, interpolate, project, rasterize,
                        render, soft_rasterize, uv_sphere)

F64 = torch.float64


def intrinsics(focal: float, cx: float, cy: float, batch: int = 1, dtype=F64) -> torch.Tensor:
    """(B, 3, 3) pinhole intrinsics."""
    K = torch.tensor([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]], dtype=dtype)
    return K.expand(batch, 3, 3).clone()


def from_pixels(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-space points (B, N, 3) that project to pixels uv (B, N, 2) at depths (B, N)."""
    xy = (uv - K[:, None, :2, 2]) / K[:, None, [0, 1], [0, 1]] * depth[..., None]
    return torch.cat([xy, depth[..., None]], dim=-1)


def unit_camera(batch: int = 1) -> torch.Tensor:
    """f = 64, principal point 0: a point at z = 2 with x = u / 32 lands exactly on u."""
    return intrinsics(64.0, 0.0, 0.0, batch)


def square(corner: float, side: float, depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Square of pixel corners (corner, corner) - (corner + side, ...) at constant depth facing
    the camera (right-hand normals towards -z). Returns (1, 4, 3) vertices and (2, 3) faces."""
    uv = torch.tensor([[[corner, corner], [corner + side, corner], [corner + side, corner + side],
                        [corner, corner + side]]], dtype=F64)
    vertices = from_pixels(uv, torch.full((1, 4), depth, dtype=F64), unit_camera())
    return vertices, torch.tensor([[0, 2, 1], [0, 3, 2]])


# ---------------------------------------------------------------- hard rasteriser: geometry


def test_project_follows_opencv_convention():
    K = intrinsics(500.0, 100.0, 80.0)
    points = torch.tensor([[[0.1, -0.2, 2.0]]], dtype=F64)
    expected = torch.tensor([[[500 * 0.05 + 100, 500 * -0.1 + 80, 2.0]]], dtype=F64)
    assert torch.allclose(project(points, K), expected)


@pytest.mark.parametrize("seed", range(4))
def test_triangle_pixel_count_matches_area(seed):
    generator = torch.Generator().manual_seed(seed)
    uv = torch.rand(1, 3, 2, generator=generator, dtype=F64) * 60 + 2
    vertices = from_pixels(uv, torch.full((1, 3), 2.0, dtype=F64), unit_camera())
    fragments = rasterize(vertices, torch.tensor([[0, 1, 2]]), unit_camera(), (64, 64))
    (a, b, c) = uv[0]
    area = abs(float((b - a)[0] * (c - a)[1] - (b - a)[1] * (c - a)[0])) / 2
    perimeter = float((b - a).norm() + (c - b).norm() + (a - c).norm())
    assert abs(int(fragments.mask.sum()) - area) <= perimeter / 2
    # Every drawn pixel centre lies inside the triangle (barycentrics all >= 0).
    assert (fragments.barycentrics[fragments.mask] >= -1e-9).all()


def test_square_on_pixel_centres_covers_exactly_once():
    # Corners and the shared diagonal pass exactly through pixel centres: the top-left rule
    # must give the 20 x 20 centres [10, 30) x [10, 30), each to exactly one of the two faces.
    vertices, faces = square(10.0, 20.0, 2.0)
    single_faces = vertices[0, faces]  # (2, 3, 3): each face rendered alone, as a batch of 2
    fragments = rasterize(single_faces, torch.tensor([[0, 1, 2]]), unit_camera(2), (40, 40))
    coverage = fragments.mask.sum(dim=0)
    expected = torch.zeros(40, 40, dtype=torch.int64)
    expected[10:30, 10:30] = 1
    assert torch.equal(coverage, expected)
    together = rasterize(vertices, faces, unit_camera(), (40, 40))
    assert torch.equal(together.mask[0].long(), expected)


def test_grid_mesh_has_no_cracks_or_double_cover():
    # A 6 x 6 grid of integer-pixel vertices with mixed diagonals and mixed winding.
    steps = torch.arange(0, 31, 5, dtype=F64) + 3
    v_grid, u_grid = torch.meshgrid(steps, steps, indexing="ij")
    uv = torch.stack([u_grid, v_grid], dim=-1).reshape(1, -1, 2)
    vertices = from_pixels(uv, torch.full(uv.shape[:2], 2.0, dtype=F64), unit_camera())
    faces = []
    for row in range(6):
        for col in range(6):
            a, b, c, d = row * 7 + col, row * 7 + col + 1, row * 7 + col + 8, row * 7 + col + 7
            pair = [[a, b, c], [a, c, d]] if (row + col) % 2 else [[a, b, d], [b, c, d]]
            faces += [list(reversed(f)) if (row * 6 + col) % 3 == 0 else f for f in pair]
    faces = torch.tensor(faces)
    single = rasterize(vertices[0, faces], torch.tensor([[0, 1, 2]]), unit_camera(len(faces)),
                       (40, 40))
    expected = torch.zeros(40, 40, dtype=torch.int64)
    expected[3:33, 3:33] = 1
    assert torch.equal(single.mask.sum(dim=0), expected)


def test_constant_depth_square():
    vertices, faces = square(5.5, 20.0, 2.0)
    fragments = rasterize(vertices, faces, unit_camera(), (32, 32))
    assert int(fragments.mask.sum()) == 400
    assert torch.allclose(fragments.depth[fragments.mask], torch.tensor(2.0, dtype=F64))
    assert (fragments.depth[~fragments.mask] == 0).all()
    assert (fragments.face_index[~fragments.mask] == -1).all()


def tilted_quad() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, float]]:
    """A quad on the plane n . X = h seen obliquely; returns vertices, faces, K, (n, h)."""
    K = intrinsics(80.0, 31.5, 23.5)
    normal, offset = torch.tensor([0.3, -0.2, 1.0], dtype=F64), 1.5
    uv = torch.tensor([[[2.3, 1.7], [61.2, 4.1], [57.9, 45.3], [5.1, 42.8]]], dtype=F64)
    rays = from_pixels(uv, torch.ones(1, 4, dtype=F64), K)
    vertices = rays * (offset / (rays @ normal))[..., None]
    return vertices, torch.tensor([[0, 1, 2], [0, 2, 3]]), K, (normal, offset)


def test_tilted_plane_depth_is_perspective_correct():
    vertices, faces, K, (normal, offset) = tilted_quad()
    fragments = rasterize(vertices, faces, K, (48, 64))
    rows, cols = torch.meshgrid(torch.arange(48, dtype=F64), torch.arange(64, dtype=F64),
                                indexing="ij")
    rays = from_pixels(torch.stack([cols, rows], -1).reshape(1, -1, 2), torch.ones(1, 48 * 64,
                                                                                   dtype=F64), K)
    analytic = (offset / (rays @ normal)).reshape(48, 64)
    mask = fragments.mask[0]
    assert mask.sum() > 2000
    assert torch.allclose(fragments.depth[0][mask], analytic[mask], rtol=1e-9)


def test_barycentrics_reproduce_pixel_coordinates():
    vertices, faces, K, _ = tilted_quad()
    sphere_vertices, sphere_faces = icosphere(2, F64)
    sphere = sphere_vertices[None] * 0.4 + torch.tensor([0.1, 0.0, 1.6], dtype=F64)
    for points, triangles in ((vertices, faces), (sphere, sphere_faces)):
        fragments = rasterize(points, triangles, K, (48, 64))
        surface = interpolate(fragments, triangles, points)  # camera-space point at each pixel
        pixels = project(surface[fragments.mask][None], K)[0, :, :2]
        rows, cols = fragments.mask[0].nonzero(as_tuple=True)
        assert torch.allclose(pixels, torch.stack([cols, rows], -1).to(F64), atol=1e-8)
        assert torch.allclose(fragments.barycentrics[fragments.mask].sum(-1),
                              torch.tensor(1.0, dtype=F64))


def test_closed_mesh_silhouette_is_projected_convex_hull():
    sphere_vertices, faces = icosphere(3, F64)
    vertices = (sphere_vertices * torch.tensor([0.3, 0.25, 0.2], dtype=F64)
                + torch.tensor([0.05, -0.03, 1.2], dtype=F64))[None]
    K = intrinsics(100.0, 40.3, 36.7)
    fragments = rasterize(vertices, faces, K, (72, 80))
    uv = project(vertices, K)[0, :, :2].numpy()
    hull = ConvexHull(uv)
    rows, cols = np.mgrid[:72, :80]
    centres = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)], axis=1)
    inside_hull = (centres @ hull.equations.T <= 1e-9).all(axis=1).reshape(72, 80)
    assert inside_hull.sum() > 1500
    assert (fragments.mask[0].numpy() != inside_hull).sum() <= 2
    # With back faces culled the front faces alone must still cover it: no cracks.
    front = rasterize(vertices, faces, K, (72, 80), cull_backfaces=True)
    assert torch.equal(front.mask, fragments.mask)
    assert torch.equal(front.face_index, fragments.face_index)


def test_zbuffer_keeps_the_nearer_triangle():
    K = unit_camera()
    uv = torch.tensor([[[4.0, 4.0], [30.0, 6.0], [8.0, 28.0], [28.0, 28.0], [6.0, 9.0],
                        [29.0, 12.0]]], dtype=F64)
    depth = torch.tensor([[2.0, 2.0, 2.0, 1.0, 1.0, 1.0]], dtype=F64)
    vertices = from_pixels(uv, depth, K)
    for faces, near_face in ((torch.tensor([[0, 1, 2], [3, 4, 5]]), 1),
                             (torch.tensor([[3, 4, 5], [0, 1, 2]]), 0)):
        fragments = rasterize(vertices, faces, K, (32, 32))
        alone = [rasterize(vertices, faces[i:i + 1], K, (32, 32)).mask[0] for i in range(2)]
        overlap = alone[0] & alone[1]
        assert overlap.sum() > 50
        assert (fragments.face_index[0][overlap] == near_face).all()
        assert torch.allclose(fragments.depth[0][overlap], torch.tensor(1.0, dtype=F64))
        assert torch.equal(fragments.mask[0], alone[0] | alone[1])


def test_near_plane_and_backface_culling():
    K = unit_camera()
    front_uv = torch.tensor([[[4.0, 4.0], [4.0, 28.0], [28.0, 16.0]]], dtype=F64)
    vertices = from_pixels(front_uv, torch.full((1, 3), 2.0, dtype=F64), K)
    front, back = torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])
    assert torch.equal(rasterize(vertices, front, K, (32, 32), cull_backfaces=True).mask,
                       rasterize(vertices, back, K, (32, 32)).mask)
    assert not rasterize(vertices, back, K, (32, 32), cull_backfaces=True).mask.any()
    behind = vertices.clone()
    behind[0, 2] = torch.tensor([0.1, 0.2, -1.0], dtype=F64)
    fragments = rasterize(behind, front, K, (32, 32))
    assert not fragments.mask.any() and torch.isfinite(fragments.depth).all()
    soft = soft_rasterize(behind, front, K, (32, 32))
    assert soft.silhouette.abs().max() == 0


# ---------------------------------------------------------------- shading


def test_render_shades_and_composites():
    vertices, faces = square(5.5, 20.0, 2.0)
    colours = torch.tensor([[[0.2, 0.4, 0.6]]], dtype=F64).expand(1, 4, 3)
    light = DirectionalLight(torch.tensor([0.0, 0.0, -2.0], dtype=F64),
                             torch.tensor([0.5, 0.5, 0.5], dtype=F64),
                             torch.tensor([0.1, 0.2, 0.3], dtype=F64))
    background = torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    result = render(vertices, faces, unit_camera(), (32, 32), colours, light, background)
    lit = torch.tensor([0.2 * 0.6, 0.4 * 0.7, 0.6 * 0.8], dtype=F64)  # albedo * (ambient + 0.5)
    assert torch.allclose(result.image[result.mask], lit)
    assert torch.allclose(result.image[~result.mask], background)
    side_light = DirectionalLight(torch.tensor([1.0, 0.0, 1.0], dtype=F64), light.colour,
                                  light.ambient)  # behind the surface: ambient only
    dark = render(vertices, faces, unit_camera(), (32, 32), colours, side_light)
    assert torch.allclose(dark.image[dark.mask], colours[0, 0] * light.ambient)


# ---------------------------------------------------------------- soft rasteriser


def small_scene() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two overlapping triangles at different depths, float64, on a 12 x 14 image."""
    K = intrinsics(20.0, 6.7, 5.9)
    vertices = torch.tensor([[[-0.21, -0.18, 1.0], [0.25, -0.1, 1.1], [0.0, 0.22, 0.9],
                              [-0.1, 0.05, 1.4], [0.38, 0.12, 1.5], [0.05, 0.4, 1.3]]], dtype=F64)
    return vertices, torch.tensor([[0, 1, 2], [3, 5, 4]]), K


def test_soft_silhouette_gradient_matches_finite_differences():
    vertices, faces, K = small_scene()
    settings = SoftSettings(sigma=2.0, cutoff=1e-12)
    weights = torch.rand(1, 12, 14, dtype=F64, generator=torch.Generator().manual_seed(0))

    def silhouette_and_depth(points):
        images = soft_rasterize(points, faces, K, (12, 14), settings)
        return (images.silhouette * weights).sum(), (images.depth * weights).sum()

    points = vertices.clone().requires_grad_()
    assert torch.autograd.gradcheck(silhouette_and_depth, (points,), eps=1e-6, atol=1e-6)
    silhouette_sum, _ = silhouette_and_depth(points)
    (gradient,) = torch.autograd.grad(silhouette_sum, points)
    assert gradient.abs().min() > 1e-4  # every vertex moves the silhouette


def test_soft_colour_gradients_reach_colours_and_light():
    vertices, faces, K = small_scene()
    generator = torch.Generator().manual_seed(1)
    colours = torch.rand(1, 6, 3, dtype=F64, generator=generator).requires_grad_()
    direction = torch.tensor([0.3, -0.2, -1.0], dtype=F64, requires_grad=True)
    ambient = torch.tensor([0.2, 0.25, 0.3], dtype=F64, requires_grad=True)
    weights = torch.rand(1, 12, 14, 3, dtype=F64, generator=generator)
    settings = SoftSettings(sigma=1.0, gamma=0.05, cutoff=1e-12)

    def image(colours, direction, ambient):
        light = DirectionalLight(direction, torch.tensor([0.8, 0.7, 0.6], dtype=F64), ambient)
        out = soft_rasterize(vertices, faces, K, (12, 14), settings, colours, light,
                             background=torch.tensor([0.1, 0.5, 0.9], dtype=F64))
        return (out.image * weights).sum()

    assert torch.autograd.gradcheck(image, (colours, direction, ambient), eps=1e-6, atol=1e-6)
    gradients = torch.autograd.grad(image(colours, direction, ambient),
                                    (colours, direction, ambient))
    assert all(g.abs().max() > 1e-3 for g in gradients)


def test_hard_and_soft_agree_at_small_sigma():
    sphere_vertices, faces = uv_sphere(12, 16, F64)
    vertices = (sphere_vertices * torch.tensor([0.045, 0.09, 0.025], dtype=F64)
                + torch.tensor([0.01, 0.0, 0.6], dtype=F64))[None].expand(2, -1, -1)
    K = intrinsics(300.0, 31.5, 47.5, batch=2)
    colours = torch.rand(2, len(sphere_vertices), 3, dtype=F64,
                         generator=torch.Generator().manual_seed(2))
    hard = render(vertices, faces, K, (96, 64), colours)
    soft = soft_rasterize(vertices, faces, K, (96, 64), SoftSettings(sigma=0.02), colours)
    soft_mask = soft.silhouette > 0.5
    iou = (hard.mask & soft_mask).sum() / (hard.mask | soft_mask).sum()
    assert iou > 0.95
    both = hard.mask & soft_mask & (soft.silhouette > 0.999)
    assert both.sum() > 0.8 * hard.mask.sum()
    assert torch.allclose(soft.depth[both], hard.depth[both], atol=1e-3)
    colour_error = (soft.image[both] - hard.image[both]).abs().amax(dim=-1)
    assert (colour_error < 0.02).double().mean() > 0.98


def test_soft_background_and_far_pixels():
    vertices, faces, K = small_scene()
    out = soft_rasterize(vertices, faces, K, (40, 40), SoftSettings(background_depth=7.0),
                         torch.full((1, 6, 3), 0.5, dtype=F64),
                         background=torch.tensor([0.0, 1.0, 0.0], dtype=F64))
    far_corner = (slice(None), slice(30, None), slice(30, None))
    assert (out.silhouette[far_corner] == 0).all()
    assert torch.allclose(out.depth[far_corner], torch.tensor(7.0, dtype=F64))
    assert torch.allclose(out.image[far_corner], torch.tensor([0.0, 1.0, 0.0], dtype=F64))
    assert float(out.silhouette.max()) > 0.99
