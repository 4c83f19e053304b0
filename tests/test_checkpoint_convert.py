"""Tests of the converter from official CMR state dicts to this package's models."""

import ast
import os
import re
from pathlib import Path

import pytest
import torch

from cmr import REPO_ROOT, TEMPLATE_DIR
from cmr.config import get_cfg
from cmr.mesh.template import Template
from cmr.models.build import build_model
from cmr.models.convert import (
    CheckpointMismatchError,
    detect_variant,
    from_official_state_dict,
    load_official_checkpoint,
    to_official_state_dict,
)

torch.set_num_threads(1)

#: (MODEL.NAME, MODEL.ATTENTION) of the four released layouts.
LAYOUTS = [("cmr_sg", None), ("cmr_pg", None), ("cmr_g", None), ("cmr_g", True)]
STATE_DICT_REFERENCE = (
    Path(os.environ.get("CMR_SHARED", REPO_ROOT.parent / "shared")) / "reference" / "cmr_state_dict.md"
)


@pytest.fixture(scope="module")
def cmr_topology() -> Template:
    """The committed hand template (CMR's vertex counts, 778 .. 49)."""
    return Template.load(TEMPLATE_DIR)


def small_model(topology, name, attention, seed):
    """A compact model (same key names as the full one, smaller tensors), seeded init."""
    cfg = get_cfg()
    cfg.merge_from_file(str(REPO_ROOT / "configs" / "compact.yaml"))
    cfg.MODEL.NAME, cfg.MODEL.ATTENTION = name, attention
    torch.manual_seed(seed)
    return build_model(cfg, topology).eval()


@pytest.mark.parametrize("name, attention", LAYOUTS)
def test_round_trip_through_the_official_layout_reproduces_outputs(cmr_topology, name, attention):
    source = small_model(cmr_topology, name, attention, seed=0)
    if attention or name != "cmr_g":
        source.mesh_decoder.attention.gamma.data.fill_(0.3)  # make the attention matter
    official = to_official_state_dict(source)
    assert detect_variant(official) == (name, bool(attention) or name != "cmr_g")
    checkpoint = {"epoch": 38, "model_state_dict": {f"module.{k}": v for k, v in official.items()}}
    target = load_official_checkpoint(small_model(cmr_topology, name, attention, seed=1), checkpoint)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, actual = source(image), target(image)
    for a, b in zip(expected["mesh"], actual["mesh"]):
        assert torch.equal(a, b)
    assert torch.equal(expected["heatmap_logits"], actual["heatmap_logits"])
    assert torch.equal(expected["mask_logits"], actual["mask_logits"])


def test_official_names_of_key_modules(cmr_topology):
    official = to_official_state_dict(small_model(cmr_topology, "cmr_sg", None, seed=0))
    for key in (
        "backbone1.conv1.weight",
        "backbone2.reduce.0.conv.bias",
        "backbone2.fc.weight",
        "mask_delayer.3.norm.num_batches_tracked",
        "mask_head.conv.weight",
        "uvm_head.conv.bias",
        "attention.gamma",
        "attention.query_conv.weight",
        "de_layers.0.weight",
        "de_layers.1.conv_2d3.layer.weight",
        "de_layers.4.conv1.layer.bias",
        "heads.3.layer.weight",
    ):
        assert key in official, key


def test_mismatch_error_names_every_bad_key_and_the_needed_topology(cmr_topology):
    model = small_model(cmr_topology, "cmr_g", None, seed=0)
    official = to_official_state_dict(model)
    del official["uv_head.conv.bias"]
    official["de_layers.1.conv.layer.weight"] = torch.zeros(3, 3)
    official["not_a_module.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as error:
        from_official_state_dict(official, model)
    message = str(error.value)
    assert "missing (1): uv_head.conv.bias" in message
    assert "unexpected (1): not_a_module.weight" in message
    assert "de_layers.1.conv.layer.weight [3, 3]" in message
    assert "778" in message and "length 27" in message


def test_attention_mismatch_is_reported_with_the_detected_variant(cmr_topology):
    with_attention = to_official_state_dict(small_model(cmr_topology, "cmr_g", True, seed=0))
    with pytest.raises(CheckpointMismatchError, match="cmr_g with attention on"):
        from_official_state_dict(with_attention, small_model(cmr_topology, "cmr_g", None, seed=0))


def _official_listings() -> dict[str, dict[str, list[int]]]:
    """The §7 listings of cmr_state_dict.md: section title -> {key: shape}."""
    text = STATE_DICT_REFERENCE.read_text().split("## 7. Complete state_dict listings", 1)[1]
    listings = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        body = section.split("```")[1]
        listings[section.splitlines()[0]] = {
            line.split()[0]: ast.literal_eval(line.split(None, 1)[1]) for line in body.strip().splitlines()
        }
    return listings


def test_full_models_have_exactly_the_official_keys_and_shapes(cmr_topology):
    if not STATE_DICT_REFERENCE.is_file():
        pytest.skip(f"official state-dict listing not available at {STATE_DICT_REFERENCE}")
    listings = _official_listings()
    assert len(listings) == len(LAYOUTS)
    for (name, attention), (title, reference) in zip(LAYOUTS, listings.items()):
        cfg = get_cfg()
        cfg.MODEL.NAME, cfg.MODEL.ATTENTION = name, attention
        model = build_model(cfg, cmr_topology)
        official = to_official_state_dict(model)
        assert {key: list(value.shape) for key, value in official.items()} == reference, title
        from_official_state_dict(official, model)  # and the forward mapping accepts it


@pytest.mark.parametrize("key, value", [("WIDTH", 32), ("MESH_REDUCE", "strided")])
def test_models_of_another_width_or_input_block_have_no_official_layout(cmr_topology, key, value):
    cfg = get_cfg()
    cfg.merge_from_file(str(REPO_ROOT / "configs" / "compact.yaml"))
    cfg.MODEL[key] = value
    with pytest.raises(CheckpointMismatchError, match=f"MODEL.{key} {value!r}"):
        to_official_state_dict(build_model(cfg, cmr_topology))
