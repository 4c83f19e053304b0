"""Shared pieces of the procedural rest hand: its proportions and the layout its builders fill.

Frame (MANO's flat hand): metres, wrist joint at the origin, fingers along +y, palm facing
+z, back of the hand toward -z, thumb on the +x side (a right hand). The palm builder
(:mod:`cmr.hand.rest_palm`) and the digit builder (:mod:`cmr.hand.rest_digits`) append
vertices to one :class:`Layout`; :mod:`cmr.hand.rest_mesh` assembles it into the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Normal of the palm (+z): the rings' second axis and the fingers' flexion direction.
PALM_NORMAL = np.array([0.0, 0.0, 1.0])
PALM_NORMAL.setflags(write=False)


@dataclass(frozen=True)
class HandProportions:
    """Physical proportions of a hand; the mean hand is the default.

    Attributes:
        scale: overall size factor applied last.
        palm_width: knuckle-line palm width, metres.
        palm_length: wrist to middle MCP, metres.
        palm_thickness: mid-palm thickness (front to back), metres.
        finger_length: factor on every phalanx of the four fingers.
        radial_finger_length: extra factor on index and middle (ring/little get the inverse).
        little_length: extra factor on the little finger.
        finger_thickness: factor on the radii of the four fingers.
        thumb_length: factor on the thumb's bones.
        thumb_thickness: factor on the thumb's radii.
    """

    scale: float = 1.0
    palm_width: float = 0.084
    palm_length: float = 0.092
    palm_thickness: float = 0.028
    finger_length: float = 1.0
    radial_finger_length: float = 1.0
    little_length: float = 1.0
    finger_thickness: float = 1.0
    thumb_length: float = 1.0
    thumb_thickness: float = 1.0


@dataclass
class Layout:
    """Vertex positions in their final order plus the (mean-hand) connectivity recipe.

    Attributes:
        positions: blocks of (n, 3) vertex positions, metres, in vertex-id order.
        strips: (lower ids, upper ids) pairs of rings to stitch into triangle bands.
        quads: (lower0, lower1, upper0, upper1) vertex ids of single quads.
        caps: (ring ids, apex id) fans closing a tube.
        joints: (16, 3) rest joint centres (MANO order), metres.
        tip_ids: (5,) int64 fingertip vertex ids in MANO21 tip order.
        flexion_directions: (16, 3) unit direction each joint's child moves under flexion.
        bone_labels: (vertex ids, {joint: weight}) initial skinning labels; later ones win.
    """

    positions: list
    strips: list
    quads: list
    caps: list
    joints: np.ndarray
    tip_ids: np.ndarray
    flexion_directions: np.ndarray
    bone_labels: list

    @classmethod
    def empty(cls) -> "Layout":
        """A layout with no vertices and zeroed rig tables."""
        return cls([], [], [], [], np.zeros((16, 3)), np.zeros(5, dtype=np.int64), np.zeros((16, 3)), [])

    def add(self, points: np.ndarray) -> np.ndarray:
        """Append (n, 3) or (3,) points (metres); returns their (n,) int64 vertex ids."""
        start = sum(len(p) for p in self.positions)
        self.positions.append(np.atleast_2d(points))
        return np.arange(start, start + len(np.atleast_2d(points)))

    def label(self, ids: np.ndarray, weights: dict[int, float]) -> None:
        """Give the vertices ``ids`` the initial skinning weights ``{joint: weight}``."""
        self.bone_labels.append((np.atleast_1d(ids), weights))

    def all_positions(self) -> np.ndarray:
        """(V, 3) positions of every vertex added so far, metres."""
        return np.concatenate(self.positions)


def unit(vector: np.ndarray) -> np.ndarray:
    """The (3,) ``vector`` scaled to unit length."""
    return vector / np.linalg.norm(vector)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1``, clamped outside (``edge0 > edge1``
    steps down instead)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
