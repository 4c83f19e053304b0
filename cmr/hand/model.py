"""``HandModel``: the open parametric hand as a batched, differentiable torch module."""

from __future__ import annotations

from typing import NamedTuple

import torch

from cmr.hand.assets import build_hand_assets
from cmr.hand.skinning import axis_angle_to_matrix, forward_kinematics, linear_blend_skinning

#: Mirroring a rotation through the x = 0 plane maps its rotation vector (x, y, z) to (x, -y, -z).
_MIRROR_ROTATION_VECTOR = (1.0, -1.0, -1.0)


class HandOutput(NamedTuple):
    """Output of :class:`HandModel` (metres).

    Attributes:
        vertices: (B, 778, 3) posed mesh.
        joints: (B, 21, 3) keypoints in FreiHAND order, regressed from ``vertices``.
        rig_joints: (B, 16, 3) posed rig joint centres, MANO order.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    rig_joints: torch.Tensor


class HandModel(torch.nn.Module):
    """MANO-like hand model: 778 vertices, 16 joints, 10 shape coefficients, LBS.

    Buffers (float32 unless noted): ``rest_vertices`` (778, 3), ``faces`` (F, 3) int64 (right
    hand), ``shape_dirs`` (778, 3, 10), ``rest_joints`` (16, 3), ``joint_shape_dirs``
    (16, 3, 10), ``skin_weights`` (778, 16), ``joint_regressor`` (21, 778, FreiHAND order),
    ``joint_regressor_mano21`` (21, 778), ``tip_vertex_ids`` (5,) int64, ``parents`` (16,) int64.
    """

    def __init__(self) -> None:
        super().__init__()
        assets = build_hand_assets()
        for name in (
            "rest_vertices", "shape_dirs", "rest_joints", "joint_shape_dirs", "skin_weights",
            "joint_regressor", "joint_regressor_mano21",
        ):
            self.register_buffer(name, torch.tensor(getattr(assets, name), dtype=torch.float32))
        for name in ("faces", "tip_vertex_ids", "parents"):
            self.register_buffer(name, torch.tensor(getattr(assets, name), dtype=torch.int64))
        self._parent_list = [int(p) for p in assets.parents]

    def faces_for(self, side: str = "right") -> torch.Tensor:
        """(F, 3) int64 faces with outward winding for the given side's (mirrored) mesh."""
        if side == "right":
            return self.faces
        if side == "left":
            return self.faces.flip(-1)
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")

    def pose_correctives(self, vertices: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
        """Rest vertices (B, V, 3) with pose-dependent corrections for local rotations
        (B, J, 3, 3) added before skinning; the open hand has none (a MANO-format model does)."""
        return vertices

    def forward(
        self,
        pose: torch.Tensor,
        shape: torch.Tensor | None = None,
        trans: torch.Tensor | None = None,
        side: str = "right",
    ) -> HandOutput:
        """Pose and shape the hand.

        Args:
            pose: (B, 16, 3) axis-angle in radians (global rotation + 15 local, MANO order).
                For ``side='left'`` the pose follows the mirrored convention: a left pose
                gives the mirror image of the right hand with the mirrored pose.
            shape: (B, 10) shape coefficients (None: the mean hand).
            trans: (B, 3) translation in metres added last (None: zero).
            side: 'right' or 'left'.
        Returns:
            :class:`HandOutput` in metres.
        """
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        batch = pose.shape[0]
        dtype = pose.dtype
        if side == "left":
            pose = pose * pose.new_tensor(_MIRROR_ROTATION_VECTOR)
        vertices = self.rest_vertices.to(dtype).expand(batch, -1, -1)
        joints = self.rest_joints.to(dtype).expand(batch, -1, -1)
        if shape is not None:
            vertices = vertices + torch.einsum("vck,bk->bvc", self.shape_dirs.to(dtype), shape)
            joints = joints + torch.einsum("jck,bk->bjc", self.joint_shape_dirs.to(dtype), shape)
        rotations = axis_angle_to_matrix(pose.reshape(batch, -1, 3))
        vertices = self.pose_correctives(vertices, rotations)
        global_rotations, rig_joints = forward_kinematics(rotations, joints, self._parent_list)
        vertices = linear_blend_skinning(vertices, joints, global_rotations, rig_joints, self.skin_weights.to(dtype))
        if side == "left":
            mirror = vertices.new_tensor((-1.0, 1.0, 1.0))
            vertices = vertices * mirror
            rig_joints = rig_joints * mirror
        if trans is not None:
            vertices = vertices + trans.unsqueeze(1)
            rig_joints = rig_joints + trans.unsqueeze(1)
        keypoints = torch.einsum("kv,bvc->bkc", self.joint_regressor.to(dtype), vertices)
        return HandOutput(vertices=vertices, joints=keypoints, rig_joints=rig_joints)
