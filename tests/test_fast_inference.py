"""The fast inference copy (cmr.models.fast) computes what the eager model computes."""

import shutil

import pytest
import torch
from torch import nn

from cmr import REPO_ROOT, TEMPLATE_DIR
from cmr.config import get_cfg, load_cfg
from cmr.mesh.template import Template
from cmr.models.build import build_model, load_template
from cmr.models.fast import fold_batch_norms, prepare_for_inference

torch.set_num_threads(1)

#: The brief's bound on |fast - eager| for every output.
TOLERANCE = 2e-4
VARIANTS = [(name, decoder) for name in ("cmr_sg", "cmr_pg", "cmr_g") for decoder in ("spiral", "cheb")]


@pytest.fixture(scope="module")
def cmr_topology() -> Template:
    return Template.load(TEMPLATE_DIR)


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine terms, and a non-zero attention gate."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
        attention = getattr(model.mesh_decoder, "attention", None)
        if attention is not None:
            attention.gamma.fill_(0.3)
    return model.eval()


def compact_model(template, name, decoder, attention=None, seed=0, config="compact"):
    cfg = load_cfg(str(REPO_ROOT / "configs" / f"{config}.yaml"), freeze=False)
    cfg.MODEL.NAME, cfg.MODEL.DECODER, cfg.MODEL.ATTENTION = name, decoder, attention
    torch.manual_seed(seed)
    return randomise(build_model(cfg, template), seed)


def max_differences(model: nn.Module, size: int, batch: int = 2, relative: bool = False,
                    compile: bool = False) -> dict[str, float]:
    """Largest |fast - eager| per output (lists: over their levels) on random images, divided
    by max(1, largest |eager|) if ``relative``; in the model's dtype."""
    fast = prepare_for_inference(model, compile=compile)
    image = torch.randn(batch, 3, size, size, dtype=next(model.parameters()).dtype)
    with torch.no_grad():
        expected, actual = model(image), fast(image)
    assert expected.keys() == actual.keys()
    differences = {}
    for key, value in expected.items():
        pairs = list(zip(value, actual[key])) if isinstance(value, list) else [(value, actual[key])]
        scaled = [(a - b).abs().max().item() / (max(1.0, a.abs().max().item()) if relative else 1.0)
                  for a, b in pairs]
        differences[key] = max(scaled, default=0.0)
    return differences


@pytest.mark.parametrize("name, decoder", VARIANTS)
def test_fast_copy_matches_eager_on_every_variant(cmr_topology, name, decoder):
    differences = max_differences(compact_model(cmr_topology, name, decoder), 64)
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.parametrize("name", ["cmr_sg", "cmr_g"])
def test_fast_copy_matches_eager_on_the_lite_configuration(cmr_topology, name):
    """Half-width stages and the strided mesh-stage input block fold and run like the others."""
    differences = max_differences(compact_model(cmr_topology, name, "spiral", config="lite"), 64)
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.parametrize("name, attention", [("cmr_sg", None), ("cmr_pg", None), ("cmr_g", None), ("cmr_g", True)])
def test_fast_copy_matches_eager_on_the_official_template(cmr_release_dir, name, attention):
    template = load_template(str(cmr_release_dir))
    differences = max_differences(compact_model(template, name, "spiral", attention), 64)
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cmr_sg", "cmr_pg", "cmr_g"])
def test_fast_copy_matches_eager_on_full_official_models(cmr_release_dir, name):
    """In float64 the copy is exact up to rounding; in float32 the full models' logits reach
    ~130 here, so their float32 rounding (~5e-4 absolute) is bounded relative to that scale."""
    cfg = get_cfg()
    cfg.MODEL.NAME = name
    torch.manual_seed(0)
    model = randomise(build_model(cfg, load_template(str(cmr_release_dir))), 0)
    differences = max_differences(model, 224, batch=1, relative=True)
    assert max(differences.values()) < TOLERANCE, differences
    differences = max_differences(model.double(), 224, batch=1)
    assert max(differences.values()) < 1e-9, differences


def test_the_original_model_is_untouched(cmr_topology):
    model = compact_model(cmr_topology, "cmr_sg", "spiral")
    before = {key: value.clone() for key, value in model.state_dict().items()}
    fast = prepare_for_inference(model)
    assert all(torch.equal(value, model.state_dict()[key]) for key, value in before.items())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.modules())
    assert not any(isinstance(module, nn.BatchNorm2d) for module in fast.modules())
    assert not any(parameter.requires_grad for parameter in fast.parameters())


def test_a_batch_norm_after_no_convolution_is_refused():
    with pytest.raises(ValueError, match="cannot fold"):
        fold_batch_norms(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4)))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="torch.compile needs a C++ compiler")
def test_the_compiled_copy_matches_eager(cmr_topology):
    """torch.compile with frozen weights (TEST.COMPILE) keeps the fast copy's outputs."""
    differences = max_differences(compact_model(cmr_topology, "cmr_g", "spiral", config="lite"), 64, compile=True)
    assert max(differences.values()) < TOLERANCE, differences
