"""The linear shape space: 10 coefficients beta, beta = 0 is the mean hand.

Each coefficient scales one proportion of the procedural generator
(:class:`~cmr.hand.rest_mesh.HandProportions`) by ``1 + per_unit * beta_k``; a unit of
beta is about one standard deviation of adult variation, and the useful range is about
+-2 (+-3 stays plausible). The blend shapes are the generator's derivatives at the mean
(central differences with a step of one unit), so the model is exactly linear in beta and
the rig joints move with the mesh::

    vertices(beta) = rest_vertices + shape_dirs @ beta
    joints(beta)   = rest_joints + joint_shape_dirs @ beta

=====  =======================  ========  ==========================================
 k      proportion               per unit  effect of +1
=====  =======================  ========  ==========================================
 0      scale                    9 %       whole hand larger (beta0 = +-2: 0.82-1.18x)
 1      palm_width               5 %       wider palm and finger spacing
 2      palm_length              5 %       longer palm (wrist to knuckles)
 3      palm_thickness           8 %       thicker palm
 4      finger_length            5 %       longer fingers (all four)
 5      radial_finger_length     3 %       longer index/middle, shorter ring/little
 6      little_length            5 %       longer little finger
 7      finger_thickness         7 %       thicker fingers
 8      thumb_length             6 %       longer thumb
 9      thumb_thickness          7 %       thicker thumb
=====  =======================  ========  ==========================================
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cmr.hand.rest_mesh import HandProportions, generate_rest_hand

NUM_SHAPE_COEFFICIENTS = 10

#: (proportion field, relative change per unit of beta), in coefficient order.
SHAPE_COEFFICIENTS = (
    ("scale", 0.09),
    ("palm_width", 0.05),
    ("palm_length", 0.05),
    ("palm_thickness", 0.08),
    ("finger_length", 0.05),
    ("radial_finger_length", 0.03),
    ("little_length", 0.05),
    ("finger_thickness", 0.07),
    ("thumb_length", 0.06),
    ("thumb_thickness", 0.07),
)


def proportions_from_shape(beta: np.ndarray) -> HandProportions:
    """The generator proportions for shape coefficients ``beta`` (10,)."""
    mean = HandProportions()
    changes = {
        field: getattr(mean, field) * (1.0 + per_unit * float(value))
        for (field, per_unit), value in zip(SHAPE_COEFFICIENTS, np.asarray(beta, dtype=np.float64))
    }
    return dataclasses.replace(mean, **changes)


def shape_blend_directions() -> tuple[np.ndarray, np.ndarray]:
    """Vertex and joint shape directions of the linear shape space.

    Returns:
        shape_dirs: (778, 3, 10) metres per unit of beta.
        joint_shape_dirs: (16, 3, 10) metres per unit of beta.
    """
    vertex_columns, joint_columns = [], []
    for k in range(NUM_SHAPE_COEFFICIENTS):
        step = np.zeros(NUM_SHAPE_COEFFICIENTS)
        step[k] = 1.0
        plus = generate_rest_hand(proportions_from_shape(step))
        minus = generate_rest_hand(proportions_from_shape(-step))
        vertex_columns.append(0.5 * (plus.vertices - minus.vertices))
        joint_columns.append(0.5 * (plus.joints - minus.joints))
    return np.stack(vertex_columns, axis=-1), np.stack(joint_columns, axis=-1)
