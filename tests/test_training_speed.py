"""The cheaper network of the lite configuration and the training-speed benchmark (``cmr bench train``)."""

import argparse

import pytest
import torch

from cmr import TEMPLATE_DIR
from cmr.bench import model_config
from cmr.bench import train as bench
from cmr.mesh.template import Template
from cmr.models.backbone import ResNetEncoder, make_resnet
from cmr.models.build import build_model, forward_gflop


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(TEMPLATE_DIR)


def test_lite_costs_a_quarter_of_the_compact_forward_with_the_same_outputs(template):
    torch.manual_seed(0)
    compact, lite = (build_model(model_config(name), template) for name in ("compact", "lite"))
    compact_gflop, lite_gflop = (forward_gflop(model, 128, torch.device("cpu")) for model in (compact, lite))
    assert lite_gflop < compact_gflop / 4
    assert sum(p.numel() for p in lite.parameters()) < sum(p.numel() for p in compact.parameters()) / 2
    image = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        expected, actual = compact.eval()(image), lite.eval()(image)
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert actual[key].shape == value.shape, key


def test_width_scales_every_stage_and_the_standard_width_is_torchvisions():
    import torchvision

    narrow = make_resnet("resnet18", 10, width=16)
    assert [narrow.layer1[0].conv1.out_channels, narrow.layer4[1].conv2.out_channels, narrow.fc.in_features] == [
        16, 128, 128]
    standard = make_resnet("resnet18", 10)
    reference = torchvision.models.resnet18(weights=None, num_classes=10)
    shapes = {key: value.shape for key, value in reference.state_dict().items()}
    assert {key: value.shape for key, value in standard.state_dict().items()} == shapes
    with pytest.raises(ValueError, match="MODEL.WIDTH"):
        make_resnet("resnet10", 10, width=20)


def test_the_strided_input_block_enters_at_quarter_resolution():
    encoder = ResNetEncoder("resnet10", 52, 8, width=16, strided_reduce=True)
    features = encoder(torch.randn(2, 52, 32, 32))
    assert features.stem.shape == (2, 16, 16, 16)
    assert features.x1.shape == (2, 16, 16, 16) and features.x4.shape == (2, 128, 2, 2)
    assert encoder.latent(features.x4).shape == (2, 8)


@pytest.mark.parametrize("variant", ["cmr_sg", "cmr_pg", "cmr_g"])
def test_every_variant_trains_at_a_narrow_width_with_the_strided_block(template, variant):
    from cmr.models.losses import weighted_terms

    cfg = model_config("lite")
    cfg.MODEL.NAME, cfg.MODEL.WIDTH = variant, 16
    torch.manual_seed(0)
    model = build_model(cfg, template).train()
    outputs = model(torch.randn(2, 3, 64, 64))
    assert outputs["mesh"][0].shape == (2, 778, 3) and outputs["heatmap_logits"].shape == (2, 21, 32, 32)
    vertices = [torch.randn_like(level) for level in outputs["mesh"]]
    terms = weighted_terms(outputs, {"mesh": vertices}, cfg.LOSS, template.faces[0], template.joint_regressor)
    sum(weight * value for value, weight in terms.values()).backward()
    assert model.mesh_encoder.reduce[0].conv.stride == (2, 2)
    assert model.mesh_encoder.reduce[0].conv.weight.grad.abs().sum() > 0


def test_an_unknown_mesh_input_block_is_refused(template):
    cfg = model_config("compact")
    cfg.MODEL.MESH_REDUCE = "pooled"
    with pytest.raises(ValueError, match="MODEL.MESH_REDUCE 'pooled'"):
        build_model(cfg, template)


def test_the_benchmark_times_every_phase_against_the_first_model(tmp_path, capsys):
    from cmr.data.synth import generate

    generate(tmp_path, num_training=4, num_evaluation=2, versions=1, seed=0, workers=1, progress=False)
    args = argparse.Namespace(root=str(tmp_path), models=["lite"], before=True, batch=2, steps=1, loop_steps=1,
                              workers=0, amp=False, channels_last=False, device="cpu")
    assert bench.run(args) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| lite", "| compact"))]
    assert [row.split("|")[1].strip() for row in rows] == ["compact, before", "lite"]
    assert rows[0].count("1.00x") == 2  # the baseline against itself
    before_gflop, lite_gflop = (float(row.split("|")[2]) for row in rows)
    assert lite_gflop < before_gflop / 4


def test_gather_first_and_linear_first_spirals_train_the_same_function(template):
    from cmr.models.spiral import SpiralConv

    cfg = model_config("lite")
    torch.manual_seed(0)
    model = build_model(cfg, template).train()
    image = torch.randn(2, 3, 64, 64)
    linear_first = model(image)["mesh"][0]
    switched = [m for m in model.modules() if isinstance(m, SpiralConv) and m.linear_first]
    assert switched  # the decoder's narrowing convolutions and its heads
    for module in switched:
        module.linear_first = False
    torch.testing.assert_close(model(image)["mesh"][0], linear_first, atol=1e-5, rtol=1e-5)


def test_channels_last_training_computes_what_the_contiguous_model_does(template):
    from cmr.engine.train_support import training_model

    cfg = model_config("lite")
    outputs = {}
    for channels_last in (False, True):
        cfg.TRAIN.CHANNELS_LAST = channels_last
        torch.manual_seed(0)
        model = training_model(cfg, template, torch.device("cpu")).train()
        weight = model.pose_encoder.conv1.weight
        assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        outputs[channels_last] = model(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    for key in ("mesh", "heatmap_logits", "mask_logits"):
        expected, actual = outputs[False][key], outputs[True][key]
        pairs = zip(expected, actual) if isinstance(expected, list) else [(expected, actual)]
        for first, second in pairs:
            torch.testing.assert_close(second, first, atol=1e-4, rtol=1e-4)
