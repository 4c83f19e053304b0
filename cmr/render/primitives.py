"""Procedural closed triangle meshes for tests and benchmarks.

All faces are counter-clockwise seen from outside, i.e. the right-hand normal
(v1 - v0) x (v2 - v0) points outwards, like the project's PLY meshes.
"""

from __future__ import annotations

import math

import torch


def icosphere(subdivisions: int = 2, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-radius geodesic sphere: the icosahedron with each face split in 4, ``subdivisions`` times.

    Returns:
        vertices: (10 * 4**s + 2, 3) on the unit sphere.
        faces: (20 * 4**s, 3) int64.
    """
    t = (1.0 + math.sqrt(5.0)) / 2.0
    points = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
              [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    faces = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
             [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
             [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    for _ in range(subdivisions):
        midpoint_of: dict[tuple[int, int], int] = {}

        def midpoint(i: int, j: int) -> int:
            key = (min(i, j), max(i, j))
            if key not in midpoint_of:
                midpoint_of[key] = len(points)
                points.append([(a + b) / 2 for a, b in zip(points[i], points[j])])
            return midpoint_of[key]

        split = []
        for a, b, c in faces:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            split += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        faces = split
    vertices = torch.tensor(points, dtype=torch.float64)
    vertices = vertices / vertices.norm(dim=1, keepdim=True)
    return vertices.to(dtype), torch.tensor(faces, dtype=torch.int64)


def uv_sphere(rings: int = 24, segments: int = 32,
              dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-radius latitude-longitude sphere with two poles.

    ``rings`` circles of latitude with ``segments`` vertices each (the default gives 770
    vertices and 1536 faces, the size of a MANO-like hand mesh).

    Returns:
        vertices: (rings * segments + 2, 3); the poles are the last two, at -y and +y.
        faces: (2 * rings * segments, 3) int64.
    """
    polar = torch.arange(1, rings + 1, dtype=torch.float64) * math.pi / (rings + 1)
    azimuth = torch.arange(segments, dtype=torch.float64) * 2 * math.pi / segments
    polar, azimuth = torch.meshgrid(polar, azimuth, indexing="ij")
    ring_points = torch.stack([polar.sin() * azimuth.cos(), -polar.cos(),
                               polar.sin() * azimuth.sin()], dim=-1).reshape(-1, 3)
    poles = torch.tensor([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    vertices = torch.cat([ring_points, poles])

    index = torch.arange(rings * segments).reshape(rings, segments)
    following = index.roll(-1, dims=1)
    quads_a, quads_b = index[:-1], following[:-1]
    quads_c, quads_d = following[1:], index[1:]
    side = torch.cat([torch.stack([quads_a, quads_c, quads_b], -1).reshape(-1, 3),
                      torch.stack([quads_a, quads_d, quads_c], -1).reshape(-1, 3)])
    bottom, top = rings * segments, rings * segments + 1
    cap_bottom = torch.stack([torch.full((segments,), bottom), index[0], following[0]], -1)
    cap_top = torch.stack([torch.full((segments,), top), following[-1], index[-1]], -1)
    return vertices.to(dtype), torch.cat([side, cap_bottom, cap_top])
