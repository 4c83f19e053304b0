"""Fitting the 21 x 778 joint regressor (sparse, nonnegative, rows summing to one)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from cmr.hand.conventions import NUM_ARTICULATED_JOINTS, PARENTS

#: Radius (metres) around a rest joint within which vertices may take regressor weight.
CANDIDATE_RADIUS = 0.03
#: Relative weight of the "weights sum to one" equation in the least-squares fit.
SUM_TO_ONE_WEIGHT = 10.0
#: Relative weight of the posed examples against the (exactly wanted) rest and shape equations.
POSE_FIT_WEIGHT = 0.3


def fit_joint_regressor(
    rest_vertices: np.ndarray,
    shape_dirs: np.ndarray,
    rest_joints: np.ndarray,
    joint_shape_dirs: np.ndarray,
    skin_weights: np.ndarray,
    tip_vertex_ids: np.ndarray,
    posed_examples: list[tuple[np.ndarray, np.ndarray]] = (),
) -> np.ndarray:
    """Regressor (21, V) in MANO21 order whose output follows the rig over the shape space.

    Joint rows are fitted with nonnegative least squares so that ``w @ vertices`` equals the
    joint for the mean hand and for every shape direction (hence for every beta, the model
    being linear). Candidates are vertices within ``CANDIDATE_RADIUS`` of the joint that the
    joint or its parent bone moves (skin weight > 0.05). Tip rows are one-hot on the tip
    vertices.

    Args:
        rest_vertices: (V, 3) metres.  shape_dirs: (V, 3, S).
        rest_joints: (16, 3) metres.  joint_shape_dirs: (16, 3, S).
        skin_weights: (V, 16).  tip_vertex_ids: (5,) in MANO21 tip order.
        posed_examples: pairs of posed vertices (V, 3) and posed rig joints (16, 3), metres.
    """
    num_vertices = len(rest_vertices)
    regressor = np.zeros((NUM_ARTICULATED_JOINTS + len(tip_vertex_ids), num_vertices))
    # Each vertex is described by its rest position and its shape directions: (V, 3 + 3S).
    features = [rest_vertices, shape_dirs.reshape(num_vertices, -1)]
    targets = [rest_joints, joint_shape_dirs.reshape(NUM_ARTICULATED_JOINTS, -1)]
    for posed_vertices, posed_joints in posed_examples:
        features.append(POSE_FIT_WEIGHT * posed_vertices)
        targets.append(POSE_FIT_WEIGHT * posed_joints)
    features = np.concatenate(features, axis=1)
    targets = np.concatenate(targets, axis=1)
    for joint in range(NUM_ARTICULATED_JOINTS):
        bones = [joint] + ([int(PARENTS[joint])] if PARENTS[joint] >= 0 else [])
        near = np.linalg.norm(rest_vertices - rest_joints[joint], axis=1) < CANDIDATE_RADIUS
        moved = skin_weights[:, bones].sum(axis=1) > 0.05
        candidates = np.flatnonzero(near & moved)
        system = np.vstack([features[candidates].T, SUM_TO_ONE_WEIGHT * np.ones(len(candidates))])
        rhs = np.concatenate([targets[joint], [SUM_TO_ONE_WEIGHT]])
        weights, _ = nnls(system, rhs, maxiter=50 * len(candidates))
        regressor[joint, candidates] = weights / weights.sum()
    regressor[NUM_ARTICULATED_JOINTS + np.arange(len(tip_vertex_ids)), tip_vertex_ids] = 1.0
    return regressor
