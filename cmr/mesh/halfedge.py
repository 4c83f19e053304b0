"""Half-edge connectivity of a triangle mesh, built face by face the way OpenMesh builds it.

CMR's spiral sequences (and so its released checkpoints) depend on the neighbour order of
OpenMesh's vertex-vertex circulator ``mesh.vv(vh)``. That order follows from the half-edge
handles OpenMesh assigns while ``TriMesh(points, faces)`` adds the faces one at a time
(``PolyConnectivity::add_face``). :class:`HalfedgeMesh` repeats that bookkeeping exactly:

* Edges are numbered in creation order; edge ``e`` owns halfedge ``2e`` (from its first
  vertex to its second, as the face lists them when the edge is created) and ``2e + 1``
  (the opposite direction). The opposite of halfedge ``h`` is ``h ^ 1``.
* Each vertex keeps one outgoing halfedge, set while faces are added by OpenMesh's rules,
  and moved to an outgoing boundary halfedge (``adjust_outgoing_halfedge``) when a face
  closes a gap at that vertex.
* Next/prev links, boundary links included, are collected per face and written after the
  face's halfedges are set up, as OpenMesh's ``next_cache`` does.

The circulator starts at the vertex's outgoing halfedge ``h`` and steps clockwise,
``h <- next(opposite(h))``, yielding ``to_vertex(h)`` until it is back at the start.

Input OpenMesh would reject (it prints an error and drops the face) raises ``ValueError``
here instead: a face whose vertex is already surrounded by faces ("complex vertex"), a face
reusing a halfedge that already has a face (an edge used by 3 faces, or an inconsistently
oriented neighbour: "complex edge"), a face that cannot be linked into the existing patch
("patch re-linking failed"), a face with a repeated vertex, and out-of-range indices.
Input OpenMesh accepts, such as vertices where several fans meet, is handled as OpenMesh does.
"""

from __future__ import annotations

import numpy as np

INVALID = -1


class HalfedgeMesh:
    """Half-edge connectivity of a triangle mesh with ``num_vertices`` vertices.

    Attributes:
        to_vertex: list, one entry per halfedge: the vertex it points to.
        next_halfedge, prev_halfedge: list, per halfedge: the next / previous halfedge
            in its face or boundary loop.
        face: list, per halfedge: its face index, ``-1`` on a boundary.
        outgoing: list, per vertex: its outgoing halfedge, ``-1`` for isolated vertices.
        num_faces: the number of faces added so far.
    """

    def __init__(self, num_vertices: int) -> None:
        self.to_vertex: list[int] = []
        self.next_halfedge: list[int] = []
        self.prev_halfedge: list[int] = []
        self.face: list[int] = []
        self.outgoing: list[int] = [INVALID] * num_vertices
        self.num_faces = 0
        self._edge_lookup: dict[tuple[int, int], int] = {}

    @classmethod
    def from_faces(cls, faces: np.ndarray, num_vertices: int) -> HalfedgeMesh:
        """Add the triangles ``faces`` (F, 3) int in order, like ``openmesh.TriMesh``.

        Raises:
            ValueError: for input OpenMesh would reject (see the module docstring).
        """
        faces = np.asarray(faces)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must have shape (F, 3), got {faces.shape}")
        if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
            raise ValueError(f"face indices must lie in [0, {num_vertices})")
        mesh = cls(num_vertices)
        for face_index, triangle in enumerate(faces.tolist()):
            mesh.add_face(triangle, face_index)
        return mesh

    @property
    def num_vertices(self) -> int:
        return len(self.outgoing)

    def is_boundary_halfedge(self, halfedge: int) -> bool:
        return self.face[halfedge] == INVALID

    def is_boundary_vertex(self, vertex: int) -> bool:
        """True for isolated vertices and for vertices with an outgoing boundary halfedge."""
        halfedge = self.outgoing[vertex]
        return halfedge == INVALID or self.face[halfedge] == INVALID

    def outgoing_halfedges(self, vertex: int) -> list[int]:
        """Outgoing halfedges of ``vertex``, clockwise from its outgoing halfedge."""
        start = self.outgoing[vertex]
        if start == INVALID:
            return []
        ring = []
        halfedge = start
        while True:
            ring.append(halfedge)
            halfedge = self.next_halfedge[halfedge ^ 1]
            if halfedge == start:
                return ring

    def vertex_ring(self, vertex: int) -> list[int]:
        """Neighbours of ``vertex`` in the order of OpenMesh's default ``mesh.vv(vh)``."""
        return [self.to_vertex[h] for h in self.outgoing_halfedges(vertex)]

    def vertex_rings(self) -> list[list[int]]:
        """``vertex_ring(v)`` for every vertex, a list of N lists."""
        return [self.vertex_ring(v) for v in range(self.num_vertices)]

    def add_face(self, triangle: list[int], face_index: int) -> None:
        """Add one triangle (3 vertex indices) with OpenMesh's ``add_face`` bookkeeping."""
        if len(set(triangle)) != len(triangle):
            raise ValueError(f"face {face_index} {triangle} repeats a vertex")
        halfedges, is_new = self._existing_halfedges(triangle, face_index)
        next_cache = self._relink_patches(triangle, face_index, halfedges, is_new)
        for i, new in enumerate(is_new):
            if new:
                halfedges[i] = self._new_edge(triangle[i], triangle[(i + 1) % len(triangle)])
        needs_adjust = self._link_corners(triangle, halfedges, is_new, next_cache)
        for first, second in next_cache:
            self.next_halfedge[first] = second
            self.prev_halfedge[second] = first
        for vertex, adjust in zip(triangle, needs_adjust):
            if adjust:
                self._adjust_outgoing_halfedge(vertex)
        self.num_faces += 1

    def _existing_halfedges(self, triangle: list[int], face_index: int) -> tuple[list[int], list[bool]]:
        """The face's halfedges that exist already (``INVALID`` where new) and which are new.

        Raises ValueError for a corner already surrounded by faces or a halfedge with a face.
        """
        n = len(triangle)
        halfedges = [INVALID] * n
        is_new = [False] * n
        for i in range(n):
            start, end = triangle[i], triangle[(i + 1) % n]
            if not self.is_boundary_vertex(start):
                raise ValueError(
                    f"face {face_index} {triangle}: vertex {start} is already surrounded by "
                    "faces (non-manifold: OpenMesh rejects it as a complex vertex)"
                )
            halfedges[i] = self._edge_lookup.get((start, end), INVALID)
            is_new[i] = halfedges[i] == INVALID
            if not is_new[i] and not self.is_boundary_halfedge(halfedges[i]):
                raise ValueError(
                    f"face {face_index} {triangle}: halfedge {start}->{end} already has a face "
                    "(non-manifold edge or inconsistent orientation: OpenMesh rejects it as "
                    "a complex edge)"
                )
        return halfedges, is_new

    def _relink_patches(
        self, triangle: list[int], face_index: int, halfedges: list[int], is_new: list[bool]
    ) -> list[tuple[int, int]]:
        """(halfedge, next) links that move patches out of the way where two existing edges of
        the face meet without being consecutive; raises ValueError when no boundary gap is free."""
        n = len(triangle)
        next_cache: list[tuple[int, int]] = []
        for i in range(n):
            ii = (i + 1) % n
            if is_new[i] or is_new[ii]:
                continue
            inner_prev, inner_next = halfedges[i], halfedges[ii]
            if self.next_halfedge[inner_prev] == inner_next:
                continue
            # Both edges exist but are not consecutive: move the patch between them into
            # another boundary gap at the shared vertex.
            boundary_prev = inner_next ^ 1
            while True:
                boundary_prev = self.next_halfedge[boundary_prev] ^ 1
                if self.is_boundary_halfedge(boundary_prev):
                    break
            if boundary_prev == inner_prev:
                raise ValueError(
                    f"face {face_index} {triangle}: no free boundary gap to relink the patch "
                    f"at vertex {triangle[ii]} (OpenMesh: patch re-linking failed)"
                )
            boundary_next = self.next_halfedge[boundary_prev]
            patch_start = self.next_halfedge[inner_prev]
            patch_end = self.prev_halfedge[inner_next]
            next_cache += [
                (boundary_prev, patch_start),
                (patch_end, boundary_next),
                (inner_prev, inner_next),
            ]
        return next_cache

    def _link_corners(
        self, triangle: list[int], halfedges: list[int], is_new: list[bool], next_cache: list[tuple[int, int]]
    ) -> list[bool]:
        """Append each corner's (halfedge, next) links to ``next_cache``, set outgoing halfedges
        and the face of the inner halfedges; returns which corners need their outgoing adjusted."""
        n = len(triangle)
        needs_adjust = [False] * n
        for i in range(n):
            ii = (i + 1) % n
            vertex = triangle[ii]
            inner_prev, inner_next = halfedges[i], halfedges[ii]
            case = (1 if is_new[i] else 0) | (2 if is_new[ii] else 0)
            if case:
                outer_prev, outer_next = inner_next ^ 1, inner_prev ^ 1
                if case == 1:  # incoming edge new, outgoing edge old
                    next_cache.append((self.prev_halfedge[inner_next], outer_next))
                    self.outgoing[vertex] = outer_next
                elif case == 2:  # incoming edge old, outgoing edge new
                    boundary_next = self.next_halfedge[inner_prev]
                    next_cache.append((outer_prev, boundary_next))
                    self.outgoing[vertex] = boundary_next
                elif self.outgoing[vertex] == INVALID:  # both new, vertex isolated so far
                    self.outgoing[vertex] = outer_next
                    next_cache.append((outer_prev, outer_next))
                else:  # both new, vertex already has faces: open a new gap there
                    boundary_next = self.outgoing[vertex]
                    boundary_prev = self.prev_halfedge[boundary_next]
                    next_cache += [(boundary_prev, outer_next), (outer_prev, boundary_next)]
                next_cache.append((inner_prev, inner_next))
            else:
                needs_adjust[ii] = self.outgoing[vertex] == inner_next
            self.face[inner_prev] = self.num_faces
        return needs_adjust

    def _new_edge(self, start: int, end: int) -> int:
        """Append the halfedges ``start->end`` and ``end->start``; return the first."""
        halfedge = len(self.to_vertex)
        self.to_vertex += [end, start]
        self.next_halfedge += [INVALID, INVALID]
        self.prev_halfedge += [INVALID, INVALID]
        self.face += [INVALID, INVALID]
        self._edge_lookup[(start, end)] = halfedge
        self._edge_lookup[(end, start)] = halfedge + 1
        return halfedge

    def _adjust_outgoing_halfedge(self, vertex: int) -> None:
        """Make the first outgoing boundary halfedge (clockwise) the vertex's outgoing one."""
        for halfedge in self.outgoing_halfedges(vertex):
            if self.is_boundary_halfedge(halfedge):
                self.outgoing[vertex] = halfedge
                return


def vertex_rings(faces: np.ndarray, num_vertices: int) -> list[list[int]]:
    """One-ring neighbours of every vertex in OpenMesh's ``vv`` order.

    Args:
        faces: (F, 3) int triangle vertex indices, added in this order.
        num_vertices: N, the number of vertices (isolated ones get an empty ring).

    Returns:
        A list of N lists of vertex indices.
    """
    return HalfedgeMesh.from_faces(faces, num_vertices).vertex_rings()
