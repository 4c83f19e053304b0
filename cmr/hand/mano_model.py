"""``ManoFormatHandModel``: a :class:`~cmr.hand.HandModel` built from a MANO-format model file.

Any MANO-format pickle read by :func:`cmr.hand.mano_format.load_mano_pickle` (MANO's own
``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``, or the open hand's) is posed as MANO poses it: shape
blend shapes, rest joints regressed from the shaped mesh (``J_regressor``), pose correctives
(``posedirs`` times the 135 entries of ``R_j - I`` of joints 1-15, MANO's 'lrotmin'), then linear
blend skinning. It has the same buffers, ``forward`` signature and output as ``HandModel``, so
:func:`cmr.fitting.fit_hand` fits it (with ``FITTING.JOINT_LIMITS False``: the limits are
defined in the open hand's joint frames). A file's own side is ``side='right'``; ``'left'``
mirrors it as ``HandModel`` does.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import torch

from cmr.hand.assets import build_hand_assets
from cmr.hand.conventions import MANO_TO_FREIHAND
from cmr.hand.mano_format import load_mano_pickle
from cmr.hand.model import HandModel

#: Fingertip vertices of MANO's topology in MANO21 tip order (index, middle, little, ring,
#: thumb), as FreiHAND's and most MANO tools' 21 keypoints use them.
MANO_TIP_VERTEX_IDS = (317, 444, 673, 556, 745)
#: Face count of MANO's topology (778 vertices).
MANO_FACE_COUNT = 1538


def _same_triangles(faces: np.ndarray, other: np.ndarray) -> bool:
    """Whether two (F, 3) face arrays hold the same triangles in the same order, winding aside."""
    return faces.shape == other.shape and np.array_equal(np.sort(faces, axis=1), np.sort(other, axis=1))


def default_tip_vertex_ids(faces: np.ndarray) -> tuple[int, ...]:
    """The fingertip vertices of a known topology: the open hand's or MANO's (ValueError otherwise)."""
    open_hand = build_hand_assets()
    if _same_triangles(faces, open_hand.faces):
        return tuple(int(i) for i in open_hand.tip_vertex_ids)
    if len(faces) == MANO_FACE_COUNT:
        return MANO_TIP_VERTEX_IDS
    raise ValueError(f"unknown mesh topology ({len(faces)} faces): pass the 5 fingertip vertex ids "
                     "(index, middle, little, ring, thumb) as tip_vertex_ids")


class ManoFormatHandModel(HandModel):
    """A MANO-format model as a batched, differentiable torch module (see the module docstring).

    Buffers as :class:`~cmr.hand.HandModel`'s (float32; V vertices, J = 16 joints, S shape
    coefficients): ``rest_vertices`` (V, 3), ``faces`` (F, 3) int64, ``shape_dirs`` (V, 3, S),
    ``rest_joints`` (J, 3) and ``joint_shape_dirs`` (J, 3, S) (regressed), ``skin_weights``
    (V, J), ``joint_regressor`` (21, V) FreiHAND order and ``joint_regressor_mano21`` (21, V)
    (the J_regressor rows, then one-hot fingertips), ``tip_vertex_ids`` (5,), ``parents`` (J,),
    plus ``pose_dirs`` (V, 3, 9 (J - 1)).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], tip_vertex_ids=None) -> None:
        """``arrays``: :func:`~cmr.hand.mano_format.load_mano_pickle`'s dict. ``tip_vertex_ids``:
        5 fingertip vertices in MANO21 tip order (None: :func:`default_tip_vertex_ids`)."""
        torch.nn.Module.__init__(self)  # HandModel.__init__ would build the open hand's buffers
        faces = np.asarray(arrays["f"], dtype=np.int64)
        tips = np.asarray(default_tip_vertex_ids(faces) if tip_vertex_ids is None else tip_vertex_ids, np.int64)
        regressor = np.asarray(arrays["J_regressor"], dtype=np.float64)
        if tips.shape != (5,) or tips.min() < 0 or tips.max() >= regressor.shape[1]:
            raise ValueError(f"tip_vertex_ids: expected 5 vertex ids below {regressor.shape[1]}, got {tips.tolist()}")
        mano21 = np.concatenate([regressor, np.eye(regressor.shape[1])[tips]])
        parents = np.asarray(arrays["kintree_table"][0], dtype=np.int64)
        parents[(parents < 0) | (parents >= len(parents))] = -1
        floats = {
            "rest_vertices": arrays["v_template"], "shape_dirs": arrays["shapedirs"],
            "rest_joints": regressor @ arrays["v_template"],
            "joint_shape_dirs": np.einsum("jv,vck->jck", regressor, arrays["shapedirs"]),
            "skin_weights": arrays["weights"], "joint_regressor": mano21[MANO_TO_FREIHAND],
            "joint_regressor_mano21": mano21, "pose_dirs": arrays["posedirs"],
        }
        for name, value in floats.items():
            self.register_buffer(name, torch.tensor(np.asarray(value), dtype=torch.float32))
        for name, value in (("faces", faces), ("tip_vertex_ids", tips), ("parents", parents)):
            self.register_buffer(name, torch.tensor(value, dtype=torch.int64))
        self._parent_list = parents.tolist()

    @classmethod
    def from_file(cls, path: str | os.PathLike, tip_vertex_ids=None) -> "ManoFormatHandModel":
        """The model of a MANO-format pickle (errors as :func:`~cmr.hand.mano_format.load_mano_pickle`)."""
        return cls(load_mano_pickle(path), tip_vertex_ids)

    def pose_correctives(self, vertices: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
        """MANO's pose blend shapes: ``pose_dirs`` times the local rotations minus the identity
        (MANO's 'lrotmin' features, joints 1-15), added to the (B, V, 3) rest vertices."""
        identity = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        features = (rotations[:, 1:] - identity).flatten(1)  # (B, 9 (J - 1))
        return vertices + torch.einsum("vcp,bp->bvc", self.pose_dirs.to(rotations.dtype), features)
