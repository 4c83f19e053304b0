"""Procedural rest mesh and rig of the open right hand (778 vertices, disk topology).

Frame (MANO's flat hand): metres, wrist joint at the origin, fingers along +y, palm facing
+z, back of the hand toward -z, thumb on the +x side (a right hand).

Construction (all deterministic, driven by a :class:`HandProportions`):

* the palm (:mod:`cmr.hand.rest_palm`) is a tube of rounded-box cross-sections from the
  wrist opening (the only boundary loop) to the knuckles;
* each finger (:mod:`cmr.hand.rest_digits`) is a tube of elliptic rings along its straight
  bone, with rings exactly at PIP and DIP and a rounded cap ending in one tip vertex; the
  finger base rings form the palm's top ring, neighbouring fingers sharing one web vertex;
* the thumb is a tube of rings rooted in a hole cut in the palm's radial side (a 4 x 3 patch
  of palm vertices loses its 2 interior vertices).

The vertex positions depend on the proportions; the connectivity does not (it is built once
from the mean hand), so any proportions give the same faces and vertex order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cmr.hand.mesh_building import cap_ring, stitch_rings
from cmr.hand.rest_digits import (
    FINGER_JOINTS, FINGERS, THUMB_FLEXION_DIRECTION, THUMB_JOINTS, add_finger, add_thumb, finger_digit, thumb_digit,
)
from cmr.hand.rest_layout import PALM_NORMAL, HandProportions, Layout
from cmr.hand.rest_palm import add_finger_bases, add_palm, thumb_root_ring

NUM_VERTICES = 778


def _layout(props: HandProportions) -> Layout:
    """Place every vertex of a hand with the given proportions (metres, before ``scale``).

    Vertex order: webs and finger base rings, palm rings (wrist first), the fingers from
    index to little, then the thumb.
    """
    layout = Layout.empty()
    fingers = {name: finger_digit(name, props) for name in FINGERS}
    thumb = thumb_digit(props)
    for name, digit in fingers.items():
        layout.joints[list(FINGER_JOINTS[name])] = digit.joints
        layout.flexion_directions[list(FINGER_JOINTS[name])] = PALM_NORMAL
    layout.joints[list(THUMB_JOINTS)] = thumb.joints
    layout.flexion_directions[list(THUMB_JOINTS)] = THUMB_FLEXION_DIRECTION
    layout.flexion_directions[0] = PALM_NORMAL
    base_rings, top_outline = add_finger_bases(layout, fingers, props)
    palm_rings = add_palm(layout, top_outline, props)
    for name, digit in fingers.items():
        add_finger(layout, name, digit, base_rings[name], props)
    add_thumb(layout, thumb, thumb_root_ring(palm_rings), props)
    return layout


def _quad_triangles(quad: tuple[int, int, int, int], positions: np.ndarray) -> list[tuple[int, int, int]]:
    """Split a quad (lower0, lower1, upper0, upper1) along its shorter diagonal, outward."""
    a0, a1, b0, b1 = (int(v) for v in quad)
    if np.linalg.norm(positions[a1] - positions[b0]) < np.linalg.norm(positions[a0] - positions[b1]):
        return [(a0, b0, a1), (a1, b0, b1)]
    return [(a0, b0, b1), (a0, b1, a1)]


@dataclass(frozen=True)
class RestHand:
    """A generated hand: positions for given proportions plus the shared topology.

    Attributes:
        vertices: (778, 3) rest vertex positions, metres.
        joints: (16, 3) rest joint centres (MANO order), metres.
        faces: (F, 3) int64 triangles, outward oriented.
        tip_vertex_ids: (5,) int64 fingertip vertex ids in MANO21 tip order.
        flexion_directions: (16, 3) direction each joint's child moves under positive flexion.
        bone_labels: (778, 16) initial (unsmoothed) skinning weights, rows sum to 1.
    """

    vertices: np.ndarray
    joints: np.ndarray
    faces: np.ndarray
    tip_vertex_ids: np.ndarray
    flexion_directions: np.ndarray
    bone_labels: np.ndarray


@functools.lru_cache(maxsize=1)
def _mean_topology() -> tuple[np.ndarray, np.ndarray]:
    """Faces (F, 3) and initial bone labels (V, 16) of the mean hand; shared by all hands."""
    layout = _layout(HandProportions())
    positions = layout.all_positions()
    triangles = []
    for lower, upper in layout.strips:
        triangles += stitch_rings(lower, upper, positions)
    for quad in layout.quads:
        triangles += _quad_triangles(quad, positions)
    for ring, apex in layout.caps:
        triangles += cap_ring(ring, apex)
    labels = np.zeros((len(positions), 16))
    for ids, weights in layout.bone_labels:
        labels[ids] = 0.0
        for joint, weight in weights.items():
            labels[ids, joint] = weight
    faces = np.array(triangles, dtype=np.int64)
    faces.setflags(write=False)
    labels.setflags(write=False)
    return faces, labels


def generate_rest_hand(props: HandProportions = HandProportions()) -> RestHand:
    """Generate the rest hand with the given proportions (see the module docstring)."""
    layout = _layout(props)
    vertices = layout.all_positions() * props.scale
    if len(vertices) != NUM_VERTICES:
        raise AssertionError(f"the hand generator produced {len(vertices)} vertices, expected {NUM_VERTICES}")
    faces, labels = _mean_topology()
    return RestHand(
        vertices=vertices,
        joints=layout.joints * props.scale,
        faces=faces,
        tip_vertex_ids=layout.tip_ids.copy(),
        flexion_directions=layout.flexion_directions.copy(),
        bone_labels=labels,
    )
