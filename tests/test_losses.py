"""Tests of the CMR training losses on hand-computed cases."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cmr.config import get_cfg
from cmr.models.losses import (
    bce_with_logits,
    compute_losses,
    edge_length_loss,
    joint_l1_loss,
    mesh_l1_loss,
    normal_loss,
)

# One right triangle in the z = 0 plane: edge lengths 1, 1 and sqrt(2).
TRIANGLE = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
FACES = torch.tensor([[0, 1, 2]])


def test_normal_loss_is_zero_for_identical_and_in_plane_meshes():
    assert normal_loss(TRIANGLE, TRIANGLE, FACES).item() == pytest.approx(0.0, abs=1e-7)
    in_plane = TRIANGLE * 3.0 + torch.tensor([0.5, -2.0, 0.0])
    assert normal_loss(in_plane, TRIANGLE, FACES).item() == pytest.approx(0.0, abs=1e-7)


def test_normal_loss_value_for_a_vertex_lifted_out_of_plane():
    lifted = TRIANGLE.clone()
    lifted[0, 2] = torch.tensor([0.0, 0.0, 1.0])
    # edges v1-v0 = x (cos 0), v2-v0 = z (cos 1), v2-v1 = (-1, 0, 1)/sqrt 2 (cos 1/sqrt 2)
    expected = (0.0 + 1.0 + 1.0 / math.sqrt(2.0)) / 3.0
    assert normal_loss(lifted, TRIANGLE, FACES).item() == pytest.approx(expected, rel=1e-6)


def test_edge_length_loss_on_a_scaled_mesh():
    assert edge_length_loss(TRIANGLE, TRIANGLE, FACES).item() == pytest.approx(0.0)
    # Doubling the mesh adds each edge's own length: mean of 1, 1, sqrt 2.
    expected = (2.0 + math.sqrt(2.0)) / 3.0
    assert edge_length_loss(2.0 * TRIANGLE, TRIANGLE, FACES).item() == pytest.approx(expected, rel=1e-6)


def test_bce_with_logits_equals_bce_on_sigmoid():
    torch.manual_seed(0)
    logits = torch.randn(2, 21, 8, 8) * 3
    target = torch.rand(2, 21, 8, 8)
    expected = F.binary_cross_entropy(torch.sigmoid(logits), target)
    assert bce_with_logits(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(bce_with_logits(logits.bfloat16(), target))


def test_mesh_l1_loss_weights_each_level():
    pred = [torch.zeros(1, 4, 3), torch.zeros(1, 2, 3)]
    target = [torch.ones(1, 4, 3), torch.full((1, 2, 3), 2.0)]
    assert mesh_l1_loss(pred, target, [1.0, 0.5]).item() == pytest.approx(1.0 + 0.5 * 2.0)
    with pytest.raises(ValueError, match="lengths differ"):
        mesh_l1_loss(pred, target, [1.0])


def test_joint_l1_loss_goes_through_the_regressor():
    vertices = torch.tensor([[[0.0, 0.0, 0.0], [2.0, 4.0, 6.0]]])
    regressor = torch.tensor([[0.5, 0.5], [0.0, 1.0]])  # joint 0 = midpoint, joint 1 = vertex 1
    joints = torch.tensor([[[1.0, 2.0, 3.0], [2.0, 4.0, 7.0]]])
    assert joint_l1_loss(vertices, joints, regressor).item() == pytest.approx(1.0 / 6.0)


def _fake_outputs(batch: int = 2, aux_heatmaps: int = 2, aux_masks: int = 1) -> dict:
    torch.manual_seed(1)
    return {
        "mesh": [torch.randn(batch, 3, 3, requires_grad=True), torch.randn(batch, 2, 3)],
        "heatmap_logits": torch.randn(batch, 21, 4, 4),
        "mask_logits": torch.randn(batch, 1, 4, 4),
        "aux_heatmap_logits": [torch.randn(batch, 21, 4, 4) for _ in range(aux_heatmaps)],
        "aux_mask_logits": [torch.randn(batch, 1, 4, 4) for _ in range(aux_masks)],
    }


def test_compute_losses_total_is_the_weighted_sum_of_every_term():
    outputs = _fake_outputs()
    targets = {
        "mesh": [torch.randn(2, 3, 3), torch.randn(2, 2, 3)],
        "heatmaps": torch.rand(2, 21, 4, 4),
        "mask": (torch.rand(2, 4, 4) > 0.5).float(),
        "xyz": torch.randn(2, 21, 3),
    }
    cfg = get_cfg().LOSS
    cfg.MESH_L1 = [1.0, 0.25]
    cfg.JOINT_3D = 2.0
    regressor = np.full((21, 3), 1.0 / 3.0)
    losses = compute_losses(outputs, targets, cfg, np.array([[0, 1, 2]]), regressor)
    mask = targets["mask"].unsqueeze(1)
    expected_aux = sum(bce_with_logits(m, targets["heatmaps"]) for m in outputs["aux_heatmap_logits"])
    assert losses["aux_heatmap"].item() == pytest.approx(expected_aux.item())
    assert losses["aux_mask"].item() == pytest.approx(bce_with_logits(outputs["aux_mask_logits"][0], mask).item())
    expected_total = (
        losses["mesh_l1"] + 0.1 * losses["normal"] + 1.0 * losses["edge"] + 10 * losses["heatmap"]
        + 10 * losses["aux_heatmap"] + 0.5 * losses["mask"] + 0.5 * losses["aux_mask"] + 2.0 * losses["joint_3d"]
    )
    assert losses["total"].item() == pytest.approx(expected_total.item(), rel=1e-6)
    level_l1 = [F.l1_loss(p, t) for p, t in zip(outputs["mesh"], targets["mesh"])]
    assert losses["mesh_l1"].item() == pytest.approx((level_l1[0] + 0.25 * level_l1[1]).item(), rel=1e-6)
    losses["total"].backward()
    assert torch.isfinite(outputs["mesh"][0].grad).all()


def test_compute_losses_skips_terms_without_targets():
    outputs = _fake_outputs(aux_masks=0)
    cfg = get_cfg().LOSS
    cfg.JOINT_3D = 1.0
    losses = compute_losses(outputs, {"xyz": torch.zeros(2, 21, 3)}, cfg, np.array([[0, 1, 2]]), np.full((21, 3), 1 / 3))
    assert set(losses) == {"joint_3d", "total"}
    assert losses["total"].item() == pytest.approx(losses["joint_3d"].item())
    # JOINT_3D defaults to 0: joints alone then give no trainable term.
    with pytest.raises(ValueError, match="no loss term"):
        compute_losses(outputs, {"xyz": torch.zeros(2, 21, 3)}, get_cfg().LOSS, np.array([[0, 1, 2]]), np.zeros((21, 3)))
    with pytest.raises(ValueError, match="no loss term"):
        compute_losses(outputs, {}, get_cfg().LOSS, np.array([[0, 1, 2]]), np.zeros((21, 3)))
