"""The prediction step's fixed hand size (REGISTRATION.HAND_SIZE, cmr.models.prediction)."""

import numpy as np
import pytest
import torch
from torch import nn

from cmr.data.targets import MESH_SCALE
from cmr.geometry.camera import intrinsics_from_fov, project_points
from cmr.hand.conventions import hand_size
from cmr.models.build import load_template
from cmr.models.outputs import cmr_outputs
from cmr.models.prediction import predict
from cmr.registration import RegistrationConfig

SIZE = 64
TRUE_TRANSLATION = torch.tensor([0.03, -0.02, 0.55])


class RestHand(nn.Module):
    """A stand-in network that predicts the template's rest hand, root-relative, for every input
    (flat heatmaps and mask: the 2D evidence comes from the keypoints given to ``predict``)."""

    def __init__(self, template) -> None:
        super().__init__()
        vertices = torch.as_tensor(template.vertices[0], dtype=torch.float32)
        joints = torch.as_tensor(template.joint_regressor, dtype=torch.float32) @ vertices
        self.register_buffer("mesh", (vertices - joints[0]) / MESH_SCALE)
        self.dummy = nn.Parameter(torch.zeros(()))  # predict reads the device from a parameter

    def forward(self, images: torch.Tensor) -> dict:
        batch = len(images)
        maps = torch.zeros(batch, 22, SIZE // 2, SIZE // 2)
        return cmr_outputs([self.mesh.expand(batch, -1, -1)], maps, [], [])


@pytest.fixture(scope="module")
def scene():
    """(network, template, K, detector keypoints of the rest hand at TRUE_TRANSLATION)."""
    template = load_template("template")
    network = RestHand(template).eval()
    K = torch.as_tensor(intrinsics_from_fov(SIZE, SIZE, 50.0), dtype=torch.float32)
    joints = torch.as_tensor(template.joint_regressor, dtype=torch.float32) @ network.mesh * MESH_SCALE
    uv = project_points(joints + TRUE_TRANSLATION, K)
    return network, template, K, uv


def _predict(scene, size: float):
    network, template, K, uv = scene
    config = RegistrationConfig.defaults(hand_size=size, use_silhouette=False)
    return predict(network, torch.zeros(1, 3, SIZE, SIZE), K[None], template.joint_regressor, config,
                   keypoints=(uv[None], torch.ones(1, 21)), keypoint_source="detector")


def test_a_fixed_hand_size_scales_the_mesh_and_its_depth_alike(scene):
    """Scaled to k times its size, the mesh is placed k times further and projects where it did."""
    template = scene[1]
    rest_size = float(hand_size(template.joint_regressor @ template.vertices[0]))
    network_own, same, larger = _predict(scene, 0.0), _predict(scene, rest_size), _predict(scene, 1.5 * rest_size)
    torch.testing.assert_close(network_own.registration.translation, TRUE_TRANSLATION[None], atol=1e-4, rtol=0)
    torch.testing.assert_close(same.vertices, network_own.vertices, atol=1e-5, rtol=0)
    assert float(hand_size(larger.joints_relative)[0]) == pytest.approx(1.5 * rest_size, rel=1e-5)
    torch.testing.assert_close(larger.vertices_relative, 1.5 * network_own.vertices_relative, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(larger.registration.translation, 1.5 * TRUE_TRANSLATION[None], atol=2e-4, rtol=0)
    pixels = [project_points(p.vertices, p.K[:, None]) for p in (network_own, larger)]
    np.testing.assert_allclose(pixels[1].numpy(), pixels[0].numpy(), atol=0.01)


def test_the_documented_mean_hand_size_is_the_templates(scene):
    """README and the REGISTRATION.HAND_SIZE comment quote the open hand's rest size, 0.827 m."""
    template = scene[1]
    assert float(hand_size(template.joint_regressor @ template.vertices[0])) == pytest.approx(0.827, abs=5e-4)


def test_a_negative_hand_size_is_refused():
    with pytest.raises(ValueError, match="REGISTRATION.HAND_SIZE must be >= 0"):
        RegistrationConfig.defaults(hand_size=-0.8)
