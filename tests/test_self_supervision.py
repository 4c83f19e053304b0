"""Self-supervised, depth and photometric terms: each decreases when optimised, and its gradient
reaches the network weights it should (cmr.models.mixed_losses)."""

import numpy as np
import pytest
import torch

from cmr import REPO_ROOT
from cmr.config import load_cfg
from cmr.data import targets
from cmr.data.mixing import collate_mixed
from cmr.geometry.camera import project_points
from cmr.models.build import build_model, load_template
from cmr.models.mixed_losses import MixedLoss, total_loss
from cmr.render import render

COMPACT = str(REPO_ROOT / "configs" / "compact.yaml")
SIZE, BATCH = 64, 2
SELF_TERMS = ("keypoint_2d", "keypoint_heatmap", "consistency", "bone_direction", "bone_length", "smoothness",
              "silhouette", "depth", "photometric", "pseudo_mesh_l1", "pseudo_normal", "pseudo_edge")


@pytest.fixture(scope="module")
def setting():
    cfg = load_cfg(COMPACT, ["MODEL.INPUT_SIZE", str(SIZE), "MODEL.TEXTURE", "True", "LOSS.SELF.RENDER_SIZE", "32",
                             "LOSS.SELF.WARMUP_STEPS", "0"])
    template = load_template(cfg.MODEL.TEMPLATE)
    faces = torch.as_tensor(template.faces[0], dtype=torch.long)
    regressor = torch.as_tensor(template.joint_regressor, dtype=torch.float32)
    return cfg, template, faces, regressor


def _photo_batch(template, faces, regressor) -> tuple[dict, torch.Tensor]:
    """Two photo samples of the template hand at 0.5 m: keypoints (confidence 0.9), heatmaps,
    depth map, a skin-coloured image and a pseudo-label, all rendered from the true mesh."""
    vertices = torch.as_tensor(template.vertices[0], dtype=torch.float32)
    vertices = vertices - (regressor @ vertices)[0]
    K = torch.tensor([[120.0, 0, SIZE / 2 - 0.5], [0, 120.0, SIZE / 2 - 0.5], [0, 0, 1]])
    placed = vertices + torch.tensor([0.0, -0.06, 0.5])
    keypoints = project_points(regressor @ placed, K)
    shown = render(placed[None], faces, K[None], (SIZE, SIZE), torch.full((1, len(vertices), 3), 0.7),
                   background=torch.zeros(3))
    half = torch.nn.functional.avg_pool2d(shown.depth[:, None] * shown.mask[:, None], 2) * 4 / \
        torch.nn.functional.avg_pool2d(shown.mask[:, None].float(), 2).mul(4).clamp_min(1)
    heatmaps = targets.gaussian_heatmaps(keypoints.numpy(), np.ones(21, bool), SIZE, SIZE // 2)
    sample = {"image": shown.image[0].permute(2, 0, 1) * 2 - 1, "K": K, "keypoints": keypoints,
              "keypoint_confidence": torch.full((21,), 0.9), "keypoint_heatmaps": torch.from_numpy(heatmaps),
              "depth": half[0], "index": 0,
              "pseudo_mesh": [torch.from_numpy(level) for level in
                              targets.mesh_pyramid(targets.normalise_3d(vertices.numpy(), np.zeros(3)), template)],
              "pseudo_xyz": torch.from_numpy(targets.normalise_3d((regressor @ vertices).numpy(), np.zeros(3)))}
    return collate_mixed([sample, dict(sample, index=1)]), vertices


def _free_outputs(vertices: torch.Tensor, template) -> dict:
    """An output dict of free tensors, started away from the truth (mesh 1.25x, noisy, every level
    of the pyramid; blank maps)."""
    torch.manual_seed(0)
    start = vertices * 1.25 + 0.002 * torch.randn_like(vertices)
    levels = targets.mesh_pyramid(start.numpy() / targets.MESH_SCALE, template)
    return {
        "mesh": [torch.from_numpy(level).repeat(BATCH, 1, 1).requires_grad_() for level in levels],
        "heatmap_logits": torch.full((BATCH, 21, SIZE // 2, SIZE // 2), -3.0, requires_grad=True),
        "mask_logits": torch.zeros(BATCH, 1, SIZE // 2, SIZE // 2, requires_grad=True),
        "aux_heatmap_logits": [], "aux_mask_logits": [],
        "albedo_logits": torch.zeros(BATCH, len(vertices), 3, requires_grad=True),
        "light": torch.tensor([[0.0, 0.0, -1.0, 0.5, 0.5, 0.5, -0.5, -0.5, -0.5]] * BATCH, requires_grad=True),
    }


def _bundled_model(cfg, template):
    """The bundled weights (a mesh that covers the hand) with a fresh colour head, training mode."""
    from cmr.engine.checkpoint import load_checkpoint, load_weights

    torch.manual_seed(0)
    model = build_model(cfg, template)
    path = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"
    return load_weights(model, load_checkpoint(path), path, template, new_heads=("texture.",)).train()


@pytest.mark.parametrize("name", SELF_TERMS)
def test_each_term_decreases_under_optimisation(setting, name):
    cfg, template, faces, regressor = setting
    batch, vertices = _photo_batch(template, faces, regressor)
    free = _free_outputs(vertices, template)
    loss = MixedLoss(cfg.LOSS, template, faces, regressor, SIZE)
    maps = [free["heatmap_logits"], free["mask_logits"], free["albedo_logits"], free["light"]]
    optimiser = torch.optim.Adam([{"params": free["mesh"], "lr": 0.02}, {"params": maps, "lr": 0.2}])
    values = []
    for step in range(25):
        outputs = dict(free, albedo=torch.sigmoid(free["albedo_logits"]))
        term = loss(outputs, batch, step)[name]
        values.append(term.value.item())
        optimiser.zero_grad()
        term.value.backward()
        optimiser.step()
    assert values[0] > 0 and min(values[-5:]) < 0.8 * values[0], values


def test_gradients_reach_the_weights_each_term_should(setting):
    cfg, template, faces, regressor = setting
    batch, _ = _photo_batch(template, faces, regressor)
    model = _bundled_model(cfg, template)
    loss = MixedLoss(cfg.LOSS, template, faces, regressor, SIZE)
    reaches = {"keypoint_2d": ["mesh_decoder"], "keypoint_heatmap": ["final_decoder", "pose_prior_decoder"],
               "consistency": ["mesh_decoder"], "bone_direction": ["mesh_decoder"],
               "bone_length": ["mesh_decoder"], "smoothness": ["mesh_decoder"],
               "silhouette": ["final_decoder", "mesh_decoder"], "depth": ["mesh_decoder"],
               "photometric": ["texture", "mesh_decoder"], "pseudo_mesh_l1": ["mesh_decoder"],
               "pseudo_normal": ["mesh_decoder"], "pseudo_edge": ["mesh_decoder"]}
    for name, modules in reaches.items():
        model.zero_grad()
        loss(model(batch["image"]), batch, 0)[name].value.backward()
        for module in modules:
            grads = [p.grad for n, p in model.named_parameters() if n.startswith(module + ".") and p.grad is not None]
            assert grads and sum(g.abs().sum().item() for g in grads) > 0, (name, module)
        if name in ("keypoint_heatmap", "consistency"):  # each moves one branch only
            other = "mesh_decoder." if name == "keypoint_heatmap" else "final_decoder."
            assert all(p.grad is None or p.grad.abs().sum() == 0 for n, p in model.named_parameters()
                       if n.startswith(other)), f"{name} leaked into {other}"


def test_a_mixed_batch_weighs_each_term_by_the_samples_it_applies_to(setting, tmp_path):
    cfg, template, faces, regressor = setting
    photos, _ = _photo_batch(template, faces, regressor)
    loss = MixedLoss(cfg.LOSS, template, faces, regressor, SIZE)
    torch.manual_seed(0)
    model = build_model(cfg, template).train()
    labelled = {"image": photos["image"][0], "K": photos["K"][0], "index": 5, "xyz": torch.zeros(21, 3),
                "mesh": [torch.zeros(n, 3) for n in template.num_vertices[:4]],
                "heatmaps": torch.zeros(21, SIZE // 2, SIZE // 2), "mask": torch.zeros(1, SIZE // 2, SIZE // 2),
                "uv": photos["keypoints"][0], "uv_visible": torch.ones(21)}
    photo = {key: [level[0] for level in value] if isinstance(value, list) else value[0]
             for key, value in photos.items() if key != "rows"}
    photo["index"] = 6
    batch = collate_mixed([labelled, photo, photo])
    terms = loss(model(batch["image"]), batch, 0)
    assert terms["mesh_l1"].share == pytest.approx(1 / 3) and terms["keypoint_2d"].share == pytest.approx(2 / 3)
    assert terms["depth"].share == pytest.approx(2 / 3) and terms["photometric"].share == 1.0
    assert terms["pseudo_mesh_l1"].share == pytest.approx(2 / 3)
    assert torch.isfinite(total_loss(terms))


def test_aligned_pseudo_labels_supervise_articulation_not_rotation_or_size(setting):
    from cmr.hand.skinning import axis_angle_to_matrix

    cfg, template, faces, regressor = setting
    batch, vertices = _photo_batch(template, faces, regressor)
    aligned_cfg = cfg.clone()
    aligned_cfg.defrost()
    aligned_cfg.LOSS.SELF.PSEUDO_ALIGN = True
    plain, aligned = (MixedLoss(c.LOSS, template, faces, regressor, SIZE) for c in (cfg, aligned_cfg))
    turn = axis_angle_to_matrix(torch.tensor([[0.0, 0.6, 0.3]]))[0]
    moved = lambda level, scale: scale * level @ turn.T + torch.tensor([0.1, -0.2, 0.05])  # noqa: E731
    free = _free_outputs(vertices, template)
    exact = dict(free, mesh=[moved(level.detach(), 0.7).repeat(BATCH, 1, 1) for level in batch["pseudo_mesh"]])
    assert plain(exact, batch, 0)["pseudo_mesh_l1"].value > 0.05
    assert aligned(exact, batch, 0)["pseudo_mesh_l1"].value < 1e-4  # the same hand, turned, moved and smaller
    noisy = aligned(free, batch, 0)["pseudo_mesh_l1"].value
    halved = aligned(dict(free, mesh=[0.5 * level for level in free["mesh"]]), batch, 0)["pseudo_mesh_l1"].value
    assert noisy > 1e-3 and torch.isclose(noisy, halved, rtol=1e-4)  # scaling the prediction changes nothing
    optimiser, values = torch.optim.Adam(free["mesh"], lr=0.02), []
    for _ in range(25):  # the aligned term decreases under optimisation, its gradient reaching the mesh
        value = aligned(free, batch, 0)["pseudo_mesh_l1"].value
        values.append(value.item())
        optimiser.zero_grad()
        value.backward()
        assert free["mesh"][0].grad.abs().sum() > 0
        optimiser.step()
    assert min(values[-5:]) < 0.8 * values[0], values
