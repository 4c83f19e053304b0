"""Tests of the CMR networks: mesh operators, decoders, encoders, variants, configuration."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import trimesh

from cmr import REPO_ROOT, TEMPLATE_DIR
from cmr.config import get_cfg
from cmr.mesh.template import Template
from cmr.models.attention import LatentSelfAttention
from cmr.models.build import build_model, load_template
from cmr.models.heads import UNetDecoder2d
from cmr.models.mesh_decoder import ParallelDeblock, SpiralMeshDecoder, mesh_edge_index
from cmr.models.relations import FINGER_CHAINS, FINGERTIP_PAIRS, RelationMaps
from cmr.models.spiral import SparseUpsample, SpiralConv

torch.set_num_threads(1)

CMR_VERTICES = [778, 389, 195, 98, 49]
COMPACT_YAML = REPO_ROOT / "configs" / "compact.yaml"
VARIANTS = ["cmr_sg", "cmr_pg", "cmr_g"]


@pytest.fixture(scope="module")
def cmr_topology() -> Template:
    """The committed hand template (CMR's vertex counts, 778 .. 49)."""
    return Template.load(TEMPLATE_DIR)


def sphere_template() -> Template:
    """A two-level template (162 -> 81 vertices) decimated from an icosphere."""
    sphere = trimesh.creation.icosphere(subdivisions=2)
    regressor = np.full((21, len(sphere.vertices)), 1.0 / len(sphere.vertices))
    return Template.from_mesh("sphere", sphere.vertices, sphere.faces, regressor, factors=(2,))


def compact_cfg(name: str = "cmr_g", decoder: str = "spiral"):
    cfg = get_cfg()
    cfg.merge_from_file(str(COMPACT_YAML))
    cfg.MODEL.NAME = name
    cfg.MODEL.DECODER = decoder
    return cfg


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ spiral conv and up-sampling
def test_spiral_conv_is_neighbour_major_gather_then_linear():
    torch.manual_seed(0)
    num_vertices, length, c_in, c_out = 7, 4, 3, 5
    indices = torch.randint(0, num_vertices, (num_vertices, length))
    conv = SpiralConv(c_in, c_out, indices)
    x = torch.randn(2, num_vertices, c_in)
    weight = conv.linear.weight.detach().view(c_out, length, c_in)  # W[out, neighbour, in]
    expected = torch.zeros(2, num_vertices, c_out)
    for b in range(2):
        for n in range(num_vertices):
            for neighbour in range(length):
                expected[b, n] += weight[:, neighbour, :] @ x[b, indices[n, neighbour]]
    expected += conv.linear.bias.detach()
    torch.testing.assert_close(conv(x), expected)
    torch.testing.assert_close(conv(x[1]), expected[1])


def test_spiral_conv_linear_first_computes_the_same_sum():
    torch.manual_seed(0)
    num_vertices, length, c_in, c_out = 9, 5, 6, 2  # C_out < C_in: evaluated linear-first
    indices = torch.randint(0, num_vertices, (num_vertices, length))
    conv = SpiralConv(c_in, c_out, indices)
    torch.nn.init.normal_(conv.linear.bias)
    x = torch.randn(3, num_vertices, c_in, requires_grad=True)
    gathered = x.index_select(1, indices.view(-1)).view(3, num_vertices, length * c_in)
    expected = torch.nn.functional.linear(gathered, conv.linear.weight, conv.linear.bias)
    out = conv(x)
    torch.testing.assert_close(out, expected)
    (grad_out,) = torch.autograd.grad(out.square().sum(), x)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(grad_out, grad_expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), expected, atol=0.1, rtol=0.05)


def test_spiral_conv_init_and_topology_not_persistent():
    conv = SpiralConv(4, 6, np.zeros((10, 9), dtype=np.int64))
    assert conv.linear.weight.shape == (6, 36)
    assert torch.count_nonzero(conv.linear.bias) == 0
    assert set(conv.state_dict()) == {"linear.weight", "linear.bias"}
    with pytest.raises(ValueError, match=r"\(B, 10, 4\)"):
        conv(torch.zeros(1, 11, 4))


def test_sparse_upsample_equals_dense_product():
    rng = np.random.default_rng(1)
    fine, coarse = 12, 5
    rows = np.repeat(np.arange(fine), 3)
    cols = rng.integers(0, coarse, size=3 * fine)
    values = rng.normal(size=3 * fine)
    values[::7] = 0.0  # explicitly stored zeros, as in CMR's matrices
    matrix = sp.csc_matrix((values, (rows, cols)), shape=(fine, coarse))
    upsample = SparseUpsample(matrix)
    x = torch.randn(3, coarse, 4)
    dense = torch.as_tensor(matrix.toarray(), dtype=torch.float32)
    torch.testing.assert_close(upsample(x), dense @ x)
    assert len(upsample.state_dict()) == 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = upsample(x.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), dense @ x, atol=0.1, rtol=0.05)


# ------------------------------------------------------------------ mesh decoder
def test_parallel_deblock_combines_four_spiral_reaches():
    torch.manual_seed(0)
    template = sphere_template()
    assert template.num_vertices == [162, 81]
    block = ParallelDeblock(6, 8, template.spiral(0, 27), template.up[0])
    assert [block.shortcut.spiral_length, block.spiral_full.spiral_length,
            block.spiral_two_thirds.spiral_length, block.spiral_one_third.spiral_length] == [1, 27, 18, 9]
    x = torch.randn(2, 81, 6)
    up = block.upsample(x)
    expected = torch.relu(
        block.shortcut(up)
        + torch.cat([block.spiral_full(up), block.spiral_two_thirds(up), block.spiral_one_third(up)], dim=-1)
    )
    torch.testing.assert_close(block(x), expected)
    assert block.spiral_full.out_channels == 4 and block.spiral_one_third.out_channels == 2


def test_spiral_decoder_averages_with_upsampled_coarser_prediction(cmr_topology):
    torch.manual_seed(0)
    decoder = SpiralMeshDecoder(16, [8, 8, 8, 8], cmr_topology, [27] * 4, [1] * 4, attention=False)
    for head in decoder.heads:  # heads output only their bias: a constant per level
        torch.nn.init.zeros_(head.linear.weight)
    biases = [torch.tensor([1.0, 2.0, 3.0]) * (i + 1) for i in range(4)]
    for head, bias in zip(decoder.heads, biases):
        head.linear.bias.data.copy_(bias)
    mesh = decoder(torch.randn(2, 16))
    assert [tuple(level.shape) for level in mesh] == [(2, n, 3) for n in CMR_VERTICES[:4]]
    expected = biases[0].expand(98, 3)
    torch.testing.assert_close(mesh[3][0], expected)
    for level, i in zip((2, 1, 0), (1, 2, 3)):
        expected = (biases[i] + torch.as_tensor(cmr_topology.up[level].toarray(), dtype=torch.float32) @ expected) / 2
        torch.testing.assert_close(mesh[level][0], expected)


def test_latent_attention_is_identity_at_init_and_matches_outer_product_form():
    torch.manual_seed(0)
    attention = LatentSelfAttention(6)
    z = torch.randn(2, 6)
    torch.testing.assert_close(attention(z), z)
    attention.gamma.data.fill_(0.5)
    q, k, v = attention.query(z), attention.key(z), attention.value(z)
    weights = torch.softmax(torch.einsum("bi,bj->bij", q, k), dim=-1)
    expected = 0.5 * torch.einsum("bij,bj->bi", weights, v) + z
    torch.testing.assert_close(attention(z), expected)


def test_mesh_edge_index_lists_each_edge_in_both_directions():
    edges = mesh_edge_index(np.array([[0, 1, 2], [0, 2, 3]]))
    pairs = set(map(tuple, edges.T.tolist()))
    undirected = {(0, 1), (1, 2), (0, 2), (2, 3), (0, 3)}
    assert pairs == undirected | {(b, a) for a, b in undirected}
    assert edges.shape == (2, 10)


# ------------------------------------------------------------------ 2-D parts
def test_relation_maps_sum_joint_groups_in_cmr_order():
    assert FINGERTIP_PAIRS[:3] == ((4, 8), (4, 12), (4, 16)) and FINGERTIP_PAIRS[-1] == (16, 20)
    assert len(FINGERTIP_PAIRS) == 10 and FINGER_CHAINS[1] == (5, 6, 7, 8)
    maps = torch.rand(2, 21, 3, 3)
    relations = RelationMaps(FINGERTIP_PAIRS + FINGER_CHAINS)(maps)
    assert relations.shape == (2, 15, 3, 3)
    torch.testing.assert_close(relations[:, 4], maps[:, 8] + maps[:, 12])
    torch.testing.assert_close(relations[:, 14], maps[:, 17:21].sum(dim=1))


def test_unet_decoder_outputs_half_resolution_logits():
    decoder = UNetDecoder2d((64, 128, 256, 512), 22)
    assert [block.conv.in_channels for block in decoder.blocks] == [768, 384, 192, 64]
    assert [block.conv.out_channels for block in decoder.blocks] == [256, 128, 64, 64]
    pyramid = tuple(torch.randn(1, channels, side, side) for channels, side in ((512, 2), (256, 4), (128, 8), (64, 16)))
    out = decoder(pyramid)
    assert out.shape == (1, 22, 32, 32)
    assert out.min() < 0  # logits, not probabilities


# ------------------------------------------------------------------ full models
@pytest.mark.parametrize(
    "name, attention, expected",
    [
        ("cmr_sg", None, 79_416_515),
        ("cmr_pg", None, 79_478_155),
        ("cmr_g", None, 62_264_811),
        ("cmr_g", True, 65_267_812),
    ],
)
def test_full_size_parameter_counts_match_reference(cmr_topology, name, attention, expected):
    cfg = get_cfg()
    cfg.MODEL.NAME = name
    cfg.MODEL.ATTENTION = attention
    assert count_parameters(build_model(cfg, cmr_topology)) == expected


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("decoder", ["spiral", "cheb"])
def test_output_dict_shapes(cmr_topology, name, decoder):
    model = build_model(compact_cfg(name, decoder), cmr_topology).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert [tuple(level.shape) for level in out["mesh"]] == [(2, n, 3) for n in CMR_VERTICES[:4]]
    assert out["heatmap_logits"].shape == (2, 21, 32, 32)
    assert out["mask_logits"].shape == (2, 1, 32, 32)
    aux_heatmaps = {"cmr_sg": 1, "cmr_pg": 2, "cmr_g": 1}[name]
    assert [tuple(m.shape) for m in out["aux_heatmap_logits"]] == [(2, 21, 32, 32)] * aux_heatmaps
    assert [tuple(m.shape) for m in out["aux_mask_logits"]] == ([(2, 1, 32, 32)] if name == "cmr_sg" else [])


def test_compact_config_is_small_and_runs(cmr_topology):
    cfg = get_cfg()
    cfg.merge_from_file(str(COMPACT_YAML))
    model = build_model(cfg, cmr_topology).eval()
    assert count_parameters(model) <= 15_000_000
    size = cfg.MODEL.INPUT_SIZE
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out["heatmap_logits"].shape == (1, 21, size // 2, size // 2)
    assert all(torch.isfinite(level).all() for level in out["mesh"])


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_backward_gives_finite_gradients(cmr_topology, name):
    torch.manual_seed(0)
    model = build_model(compact_cfg(name), cmr_topology).train()
    out = model(torch.randn(2, 3, 64, 64))
    loss = sum(level.square().mean() for level in out["mesh"])
    loss = loss + out["heatmap_logits"].sigmoid().mean() + out["mask_logits"].sigmoid().mean()
    loss = loss + sum(m.sigmoid().mean() for m in out["aux_heatmap_logits"] + out["aux_mask_logits"])
    loss.backward()
    unused = {"pose_encoder.fc.weight", "pose_encoder.fc.bias", "refine_encoder.fc.weight", "refine_encoder.fc.bias"}
    for param_name, param in model.named_parameters():
        if name != "cmr_g" and param_name in unused:
            assert param.grad is None and not param.requires_grad, param_name  # checkpoint parity only
        elif param_name != "mesh_decoder.attention.gamma":
            assert param.grad is not None and torch.isfinite(param.grad).all(), param_name


def test_topology_buffers_follow_the_model_but_stay_out_of_the_state_dict(cmr_topology):
    model = build_model(compact_cfg("cmr_g"), cmr_topology)
    state_keys = set(model.state_dict())
    topology_names = ("indices", "rows", "cols", "values", "membership", "edge_index")
    assert not any(key.endswith(topology_names) for key in state_keys)
    assert any(name.endswith("indices") for name, _ in model.named_buffers())


def test_full_cmr_g_on_cmr_release_template(cmr_release_dir):
    template = load_template(str(cmr_release_dir))
    cfg = get_cfg()
    cfg.MODEL.NAME = "cmr_g"
    model = build_model(cfg, template).eval()
    assert count_parameters(model) == 62_264_811
    assert model.mesh_decoder.heads[0].indices.shape == (98, 27)
    assert model.mesh_decoder.heads[3].indices[0, :4].tolist() == [0, 27, 94, 61]  # cmr.md §2.3
    assert model.mesh_decoder.deblocks[-1].upsample.rows.numel() == 3 * 778
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert [level.shape[1] for level in out["mesh"]] == CMR_VERTICES[:4]
    assert out["heatmap_logits"].shape == (1, 21, 112, 112)


def test_load_template_reports_unknown_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="transform.pkl"):
        load_template(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("decoder", ["spiral", "cheb"])
def test_forward_under_autocast(cmr_topology, decoder):
    model = build_model(compact_cfg("cmr_sg", decoder), cmr_topology).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 3, 64, 64))
    assert all(torch.isfinite(level).all() for level in out["mesh"])
    assert torch.isfinite(out["heatmap_logits"]).all()


# ------------------------------------------------------------------ configuration
def test_get_cfg_returns_independent_copies_with_reference_defaults():
    cfg = get_cfg()
    cfg.MODEL.NAME = "cmr_g"
    cfg.LOSS.HEATMAP = 1.0
    fresh = get_cfg()
    assert fresh.MODEL.NAME == "cmr_sg" and fresh.LOSS.HEATMAP == 10.0
    assert fresh.MODEL.OUT_CHANNELS == [64, 128, 256, 512] and fresh.MODEL.SPIRAL_LENGTH == [27] * 4
    assert (fresh.LOSS.MASK, fresh.LOSS.AUX_MASK, fresh.LOSS.NORMAL, fresh.LOSS.EDGE) == (0.5, 0.5, 0.1, 1.0)


def test_build_model_rejects_bad_names(cmr_topology):
    cfg = compact_cfg()
    cfg.MODEL.NAME = "cmr_x"
    with pytest.raises(ValueError, match="MODEL.NAME"):
        build_model(cfg, cmr_topology)
    cfg = compact_cfg()
    cfg.MODEL.DECODER = "dense"
    with pytest.raises(ValueError, match="MODEL.DECODER"):
        build_model(cfg, cmr_topology)
