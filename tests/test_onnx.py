"""ONNX export: the graph (network + output decoding) in onnxruntime matches torch on the same inputs."""

import cv2
import numpy as np
import onnx
import pytest
import torch

from cmr import REPO_ROOT
from cmr.cli import main
from cmr.config import get_cfg
from cmr.data.augment import normalise_image
from cmr.engine.checkpoint import open_run
from cmr.models.build import build_model, load_template
from cmr.models.onnx_graph import OPSET, OUTPUT_NAMES, DecodingNetwork, OnnxNetwork, export_onnx
from cmr.models.outputs import heatmaps_to_uv
from cmr.models.prediction import predict
from cmr.registration import RegistrationConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOLERANCE = 1e-4
SMALL_SIZE = 32
BUNDLED = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"


def small_model(name: str, decoder: str):
    """A random-init model of configs/compact.yaml's widths with the given variant and decoder."""
    cfg = get_cfg()
    cfg.merge_from_file(str(REPO_ROOT / "configs" / "compact.yaml"))
    cfg.MODEL.NAME, cfg.MODEL.DECODER, cfg.MODEL.INPUT_SIZE = name, decoder, SMALL_SIZE
    template = load_template(cfg.MODEL.TEMPLATE)
    torch.manual_seed(0)
    return build_model(cfg, template).eval(), template


def torch_outputs(model, regressor, size: int, images: torch.Tensor) -> dict:
    with torch.no_grad():
        return dict(zip(OUTPUT_NAMES, DecodingNetwork(model, regressor, size)(images)))


def max_differences(network: OnnxNetwork, reference: dict, images: torch.Tensor) -> dict:
    decoded = network(images)
    return {name: (getattr(decoded, name) - reference[name]).abs().max().item() for name in OUTPUT_NAMES}


@pytest.mark.parametrize("decoder", ["spiral", "cheb"])
@pytest.mark.parametrize("name", ["cmr_sg", "cmr_pg", "cmr_g"])
def test_random_init_variant_matches_torch_with_a_dynamic_batch(tmp_path, name, decoder):
    model, template = small_model(name, decoder)
    path = export_onnx(model, template.joint_regressor, SMALL_SIZE, tmp_path / "model.onnx")
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert max(entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")) >= OPSET
    network = OnnxNetwork(path, threads=1)
    images = torch.randn(3, 3, SMALL_SIZE, SMALL_SIZE, generator=torch.Generator().manual_seed(1))  # exported with 2
    reference = torch_outputs(model, template.joint_regressor, SMALL_SIZE, images)
    differences = max_differences(network, reference, images)
    # A random-init network's heatmaps are nearly flat, so the sub-pixel peak amplifies float32
    # rounding (or flips the argmax): uv is checked against torch's decoding of the graph's heatmaps.
    uv_difference = differences.pop("uv")
    assert all(value <= TOLERANCE for value in differences.values()), differences
    decoded = network(images)
    uv, confidence = heatmaps_to_uv(decoded.heatmaps, SMALL_SIZE)
    assert (uv - decoded.uv).abs().max() <= TOLERANCE, uv_difference
    assert (confidence - decoded.confidence).abs().max() <= TOLERANCE


@pytest.fixture(scope="module")
def bundled_export(tmp_path_factory):
    """(loaded bundled compact model, its ONNX network written by ``python -m cmr export --onnx``,
    the bundled photos resized to its input, the graph's path)."""
    path = tmp_path_factory.mktemp("onnx") / "compact.onnx"
    assert main(["export", str(BUNDLED), "--onnx", str(path)]) == 0
    loaded = open_run(BUNDLED, None, ["DEVICE", "cpu"])
    size = loaded.cfg.MODEL.INPUT_SIZE
    photos = sorted((REPO_ROOT / "cmr" / "assets" / "samples").glob("*_img.jpg"))[:4]
    images = [cv2.resize(cv2.imread(str(photo))[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA)
              for photo in photos]
    images = torch.as_tensor(np.stack([normalise_image(image) for image in images]))
    return loaded, OnnxNetwork(path, threads=1), images, path


def test_bundled_compact_model_matches_torch_on_every_output(bundled_export):
    loaded, network, images, _ = bundled_export
    reference = torch_outputs(loaded.model, loaded.template.joint_regressor, images.shape[-1], images)
    differences = max_differences(network, reference, images)
    assert all(value <= TOLERANCE for value in differences.values()), differences


def test_predict_runs_the_onnx_network_in_place_of_the_model(bundled_export):
    loaded, network, images, _ = bundled_export
    size = images.shape[-1]
    K = np.tile(np.array([[size, 0, size / 2], [0, size, size / 2], [0, 0, 1]], dtype=np.float32), (len(images), 1, 1))
    regressor, config = loaded.template.joint_regressor, RegistrationConfig.from_config(loaded.cfg.REGISTRATION)
    by_torch = predict(loaded.model, images, K, regressor, config)
    by_onnx = predict(network, images, K, regressor, config)
    assert (by_onnx.vertices_relative - by_torch.vertices_relative).abs().max() <= TOLERANCE
    assert (by_onnx.uv - by_torch.uv).abs().max() <= TOLERANCE
    assert (by_onnx.vertices - by_torch.vertices).abs().max() <= 1e-3  # metres, after registration


def test_demo_backend_key_loads_the_exported_graph(bundled_export, tmp_path):
    _, _, images, path = bundled_export
    loaded = open_run(BUNDLED, None, ["DEVICE", "cpu", "DEMO.BACKEND", "onnx", "DEMO.ONNX", str(path)])
    assert isinstance(loaded.model, OnnxNetwork) and loaded.model.input_size == images.shape[-1]
    with pytest.raises(ValueError, match="DEMO.ONNX"):
        open_run(BUNDLED, None, ["DEVICE", "cpu", "DEMO.BACKEND", "onnx"])
    with pytest.raises(ValueError, match="DEMO.BACKEND"):
        open_run(BUNDLED, None, ["DEVICE", "cpu", "DEMO.BACKEND", "tensorrt"])
    model, template = small_model("cmr_g", "spiral")
    other = export_onnx(model, template.joint_regressor, SMALL_SIZE, tmp_path / "small.onnx")
    with pytest.raises(ValueError, match="32-px inputs"):
        open_run(BUNDLED, None, ["DEVICE", "cpu", "DEMO.BACKEND", "onnx", "DEMO.ONNX", str(other)])


@pytest.fixture(scope="module")
def calibration_root(tmp_path_factory):
    from cmr.data.synth import generate

    path = tmp_path_factory.mktemp("calibration")
    generate(path, 6, 3, versions=1, seed=0, workers=1, progress=False)
    return path


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_graphs_are_quantised_and_stay_near_the_float_graph(bundled_export, calibration_root, mode, tmp_path):
    from cmr.data.freihand import dataset_from_config
    from cmr.engine.export import int8_path

    loaded, network, _, _ = bundled_export
    path = tmp_path / "compact.onnx"
    assert main(["export", str(BUNDLED), "--onnx", str(path), "--int8", mode, "--calibration", "6",
                 "--calibration-root", str(calibration_root)]) == 0
    quantised = int8_path(path)
    assert quantised.is_file() and quantised.name == "compact_int8.onnx"
    operators = {node.op_type for node in onnx.load(str(quantised)).graph.node}
    assert ("DynamicQuantizeLinear" if mode == "dynamic" else "QuantizeLinear") in operators, operators
    cfg = loaded.cfg.clone()
    cfg.defrost()
    cfg.DATA.ROOT = str(calibration_root)
    dataset = dataset_from_config(cfg, "evaluation", loaded.template, ground_truth=False)
    images = torch.stack([dataset[index]["image"] for index in range(len(dataset))])
    by_float, by_int8 = network(images), OnnxNetwork(quantised, threads=1)(images)
    change_mm = 1000 * (by_int8.vertices - by_float.vertices).norm(dim=-1).mean(1)
    assert (change_mm < 10).all(), change_mm  # measured 0.4-0.7 mm (dynamic), 0.8-2.7 mm (static)


def test_int8_export_needs_a_graph_and_calibration_crops(tmp_path, calibration_root, capsys):
    assert main(["export", str(BUNDLED), str(tmp_path / "small.pt"), "--int8", "dynamic"]) == 2
    assert "give --onnx" in capsys.readouterr().err
    assert main(["export", str(BUNDLED), "--onnx", str(tmp_path / "m.onnx"), "--int8", "static", "--calibration",
                 "0", "--calibration-root", str(calibration_root)]) == 2
    assert "at least 1 crop" in capsys.readouterr().err
    assert main(["export", str(BUNDLED), "--onnx", str(tmp_path / "m.onnx"), "--int8", "static",
                 "--calibration-root", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()


def test_a_relative_calibration_root_is_read_from_the_working_directory(calibration_root, tmp_path, monkeypatch):
    monkeypatch.chdir(calibration_root.parent)
    assert main(["export", str(BUNDLED), "--onnx", str(tmp_path / "m.onnx"), "--int8", "static", "--calibration", "2",
                 "--calibration-root", calibration_root.name]) == 0
    assert (tmp_path / "m_int8.onnx").is_file()


def test_the_onnx_benchmark_times_every_backend_on_the_sets_crops(calibration_root, tmp_path, capsys):
    from cmr.bench.onnx import export_graphs, time_backends

    loaded = open_run(BUNDLED, None, ["DEVICE", "cpu", "DATA.ROOT", str(calibration_root)])
    graphs = export_graphs(loaded, tmp_path, int8=True)
    assert list(graphs) == ["onnxruntime", "onnxruntime int8 dynamic", "onnxruntime int8 static"]
    time_backends(loaded, "compact", graphs, [2], iterations=1, threads=1)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| compact | 2 |")]
    assert [row.split(" | ")[2] for row in rows] == ["torch eager", *graphs]
    assert all(float(row.split(" | ")[3]) > 0 for row in rows)


def test_without_a_training_split_the_benchmark_leaves_out_the_static_graph(tmp_path, capsys):
    from cmr.bench.onnx import export_graphs

    loaded = open_run(BUNDLED, None, ["DEVICE", "cpu", "DATA.ROOT", str(tmp_path / "no_set")])
    assert list(export_graphs(loaded, tmp_path, int8=True)) == ["onnxruntime", "onnxruntime int8 dynamic"]
    assert "int8 static left out" in capsys.readouterr().out
