"""Geometry of a 3D forearm behind each synthetic hand: a tube swept from the hand mesh's wrist
opening (rasterised and shaded in :mod:`cmr.data.synth_render`).

The arm starts exactly on the posed hand's wrist ring (the mesh's only boundary loop), leaves
along the rest frame's -y turned by a random wrist flexion and deviation, widens towards the
elbow and is closed by a cap. It is rasterised like the hand and shaded by the same lights, so
its silhouette, perspective and shading are those of a real 3D limb; it is composited behind the
hand and is not part of any label (mask, depth, mesh). Units: metres (camera space), pixels.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from cmr.mesh.topology import boundary_vertices

#: Rings of the tube after the wrist ring; the arm's length range (metres) before clipping.
ARM_RINGS = 8
ARM_LENGTH = (0.22, 0.3)
#: The arm is left out when it points at the camera more steeply than this (its near end would
#: show as a disc in the frame), and shortened so that its end stays this far (metres) in front.
TOWARDS_CAMERA_LIMIT = -0.25
NEAREST_DEPTH = 0.15


def wrist_ring(faces: np.ndarray, rest_vertices: np.ndarray) -> np.ndarray:
    """(R,) vertex ids of the mesh's boundary loop in cyclic order around the rest y axis.

    Raises:
        ValueError: when the mesh has no boundary (nothing to attach an arm to).
    """
    ring = boundary_vertices(faces)
    if len(ring) < 3:
        raise ValueError("the hand mesh has no open wrist to attach a forearm to")
    offset = rest_vertices[ring] - rest_vertices[ring].mean(axis=0)
    return ring[np.argsort(np.arctan2(offset[:, 2], offset[:, 0]))]


def tube_faces(ring_size: int, rings: int) -> np.ndarray:
    """(F, 3) int64 faces of ``rings`` rings of ``ring_size`` vertices stacked in order, plus a
    fan cap around one last vertex (the far end's centre)."""
    k = np.arange(ring_size)
    faces = []
    for r in range(rings - 1):
        low, high = r * ring_size + k, (r + 1) * ring_size + k
        low_next, high_next = r * ring_size + (k + 1) % ring_size, (r + 1) * ring_size + (k + 1) % ring_size
        faces += [np.stack([low, high, low_next], 1), np.stack([low_next, high, high_next], 1)]
    last = (rings - 1) * ring_size
    faces.append(np.stack([last + k, np.full(ring_size, rings * ring_size), last + (k + 1) % ring_size], 1))
    return np.concatenate(faces).astype(np.int64)


def forearm_vertices(rng: np.random.Generator, ring: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Vertices of one arm, or None when it would point at the camera either way the wrist bends.

    Args:
        ring: (R, 3) the posed hand's wrist ring, camera space, metres.
        rotation: (3, 3) the hand's global rotation (rest frame to camera).
    Returns:
        ((ARM_RINGS + 1) * R + 1, 3) vertices (the wrist ring first, the cap's centre last) and
        their distance along the arm, metres.
    """
    flexion, deviation = rng.normal(0.0, np.radians(18.0)), rng.normal(0.0, np.radians(10.0))
    for bend in (flexion, -flexion):  # a wrist bent towards the camera bends the other way instead
        axis = rotation @ Rotation.from_euler("xz", [bend, deviation]).apply(np.array([0.0, -1.0, 0.0]))
        if axis[2] >= TOWARDS_CAMERA_LIMIT:
            break
    else:
        return None
    centre = ring.mean(axis=0)
    length = rng.uniform(*ARM_LENGTH)
    if centre[2] + length * axis[2] < NEAREST_DEPTH:
        length = (NEAREST_DEPTH - centre[2]) / axis[2]
    across = ring - centre
    across = across - np.outer(across @ axis, axis)  # the ring's spread, perpendicular to the arm
    widening = rng.uniform(0.15, 0.45)
    distances = length * (np.arange(ARM_RINGS + 1) / ARM_RINGS) ** 1.3
    scales = 1.0 + widening * np.sqrt(distances / length)
    rings = [ring + d * axis + (s - 1.0) * across for d, s in zip(distances, scales)]
    vertices = np.concatenate(rings + [(centre + length * axis)[None]])
    along = np.concatenate([np.repeat(distances, len(ring)), [length]])
    return vertices, along
