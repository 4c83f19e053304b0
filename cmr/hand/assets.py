"""All numpy assets of the open hand model, built deterministically and cached."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from cmr.hand.regressor import fit_joint_regressor
from cmr.hand.rest_mesh import generate_rest_hand
from cmr.hand.shape import shape_blend_directions
from cmr.hand.conventions import MANO_TO_FREIHAND, NUM_ARTICULATED_JOINTS, PARENTS
from cmr.hand.skeleton import joint_frames
from cmr.hand.skinning import axis_angle_to_matrix, forward_kinematics, linear_blend_skinning, smooth_skin_weights

#: Averaging steps that spread the skinning weights across each joint (about +-1.5 rings).
SKIN_SMOOTHING_ITERATIONS = 4


@dataclass(frozen=True)
class HandAssets:
    """The right hand model as numpy arrays (metres, float64; ids int64).

    Attributes:
        rest_vertices: (778, 3) mean hand in the flat rest pose.
        faces: (F, 3) outward-oriented triangles of the right hand.
        shape_dirs: (778, 3, 10) vertex offsets per unit of beta.
        rest_joints: (16, 3) rig joint centres, MANO order.
        joint_shape_dirs: (16, 3, 10) joint offsets per unit of beta.
        skin_weights: (778, 16) linear-blend-skinning weights, rows sum to 1.
        joint_regressor: (21, 778) keypoints in FreiHAND order from vertices.
        joint_regressor_mano21: (21, 778) the same rows in MANO21 order.
        tip_vertex_ids: (5,) fingertip vertices, MANO21 tip order [index, middle, little, ring, thumb].
        parents: (16,) kinematic tree.
        joint_frames: (16, 3, 3) local (flexion, abduction, twist) axes as columns.
    """

    rest_vertices: np.ndarray
    faces: np.ndarray
    shape_dirs: np.ndarray
    rest_joints: np.ndarray
    joint_shape_dirs: np.ndarray
    skin_weights: np.ndarray
    joint_regressor: np.ndarray
    joint_regressor_mano21: np.ndarray
    tip_vertex_ids: np.ndarray
    parents: np.ndarray
    joint_frames: np.ndarray


#: Flexion angles (degrees, every digit joint at once) of the posed regressor-fit examples.
REGRESSOR_FIT_FLEXIONS = (30.0, 60.0, 90.0, -20.0)


def _flexed_examples(
    vertices: np.ndarray, joints: np.ndarray, skin_weights: np.ndarray, frames: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Posed (vertices (V, 3), rig joints (16, 3)) with every joint flexed by the same angle."""
    examples = []
    for degrees in REGRESSOR_FIT_FLEXIONS:
        local = np.zeros((NUM_ARTICULATED_JOINTS, 3))
        local[1:, 0] = np.radians(degrees)
        pose = torch.tensor(np.einsum("jkc,jc->jk", frames, local))[None]
        rest_vertices = torch.tensor(vertices)[None]
        rest_joints = torch.tensor(joints)[None]
        rotations, posed_joints = forward_kinematics(axis_angle_to_matrix(pose), rest_joints, PARENTS.tolist())
        posed = linear_blend_skinning(rest_vertices, rest_joints, rotations, posed_joints, torch.tensor(skin_weights))
        examples.append((posed[0].numpy(), posed_joints[0].numpy()))
    return examples


@functools.lru_cache(maxsize=1)
def build_hand_assets() -> HandAssets:
    """Build (once per process) every asset of the right hand model."""
    rest = generate_rest_hand()
    shape_dirs, joint_shape_dirs = shape_blend_directions()
    skin_weights = smooth_skin_weights(rest.bone_labels, rest.faces, SKIN_SMOOTHING_ITERATIONS)
    tips = rest.vertices[rest.tip_vertex_ids]
    frames = joint_frames(rest.joints, tips, rest.flexion_directions)
    regressor_mano21 = fit_joint_regressor(
        rest.vertices, shape_dirs, rest.joints, joint_shape_dirs, skin_weights, rest.tip_vertex_ids,
        _flexed_examples(rest.vertices, rest.joints, skin_weights, frames),
    )
    assets = HandAssets(
        rest_vertices=rest.vertices,
        faces=rest.faces,
        shape_dirs=shape_dirs,
        rest_joints=rest.joints,
        joint_shape_dirs=joint_shape_dirs,
        skin_weights=skin_weights,
        joint_regressor=regressor_mano21[MANO_TO_FREIHAND],
        joint_regressor_mano21=regressor_mano21,
        tip_vertex_ids=rest.tip_vertex_ids,
        parents=PARENTS.copy(),
        joint_frames=frames,
    )
    for value in vars(assets).values():
        value.setflags(write=False)
    return assets
