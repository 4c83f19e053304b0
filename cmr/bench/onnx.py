"""torch eager vs onnxruntime on the same network and inputs: images/s of the decoded outputs, and
optionally the accuracy of each backend.

Both run in this process on the CPU with the same thread count, on the weights of
``--checkpoint`` (default: the bundled model): torch runs the model and
:func:`cmr.models.outputs.decode_outputs` under ``torch.inference_mode``, onnxruntime the graph of
:func:`cmr.models.onnx_graph.export_onnx` (the same network and decoding). With ``--int8`` the
graph is also quantised to int8 both ways of :func:`cmr.models.onnx_graph.quantize_graph`
(``static`` calibrated on crops of the checkpoint's ``DATA.ROOT`` training split, as
``cmr export --int8 static`` does). Timings are the median of ``--iterations`` calls after one
warm-up; the inputs are the first crops of ``DATA.ROOT``'s evaluation split (random images when
the set is not there), and "max change" is each output's largest difference from torch's on them.

``--accuracy`` then scores every backend as the evaluation does (``DEMO.BACKEND onnx``): the
synthetic evaluation split of ``DATA.ROOT`` (official FreiHAND metrics of the network's mesh,
registered) and, when ``../shared/data/ge_real_dev`` is there, Ge et al.'s real dev crops (the
network stage of the photo pipeline).

Run ``python -m cmr bench onnx`` (``--help`` lists options).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]
#: The network timed by default: the bundled model.
BUNDLED_CHECKPOINT = "cmr/assets/lite_real.pt"


def _median_seconds(call, iterations: int) -> float:
    """Median wall time (s) of ``iterations`` calls of ``call()`` after one warm-up call."""
    call()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _max_change(network, reference, images) -> str:
    """'name: max |difference|' of each decoded output of ``network`` against ``reference``."""
    from cmr.models.onnx_graph import OUTPUT_NAMES

    decoded = network(images)
    return ", ".join(f"{name} {(getattr(decoded, name) - reference[name]).abs().max().item():.1e}"
                     for name in OUTPUT_NAMES)


def _inputs(loaded, count: int):
    """(count, 3, S, S): the first crops of the evaluation split, or random images without it."""
    import torch

    from cmr.data.freihand import dataset_from_config
    from cmr.engine.runs import data_root

    size = loaded.cfg.MODEL.INPUT_SIZE
    if not (data_root(loaded.cfg) / "evaluation").is_dir():
        return torch.randn(count, 3, size, size)
    dataset = dataset_from_config(loaded.cfg, "evaluation", loaded.template, ground_truth=False)
    return torch.stack([dataset[index % len(dataset)]["image"] for index in range(count)])


def export_graphs(loaded, folder: Path, int8: bool) -> dict[str, Path]:
    """The checkpoint's graph in ``folder`` (backend name -> .onnx file), and its int8 copies (the
    static one only when ``DATA.ROOT`` has a training split to calibrate on)."""
    from cmr.engine.export import CALIBRATION_CROPS, calibration_crops
    from cmr.engine.runs import data_root
    from cmr.models.onnx_graph import INT8_MODES, export_onnx, quantize_graph

    graph = export_onnx(loaded.model, loaded.template.joint_regressor, loaded.cfg.MODEL.INPUT_SIZE,
                        folder / "model.onnx")
    graphs = {"onnxruntime": graph}
    if not int8:
        return graphs
    calibrate = (data_root(loaded.cfg) / "training").is_dir()
    if not calibrate:
        print(f"no training split under {data_root(loaded.cfg)} to calibrate on: int8 static left out", flush=True)
    crops = calibration_crops(loaded.cfg, loaded.template, CALIBRATION_CROPS) if calibrate else None
    for mode in INT8_MODES if calibrate else ("dynamic",):
        graphs[f"onnxruntime int8 {mode}"] = quantize_graph(graph, folder / f"int8_{mode}.onnx", mode, crops)
    return graphs


def time_backends(loaded, model_name: str, graphs: dict[str, Path], batch_sizes: list[int], iterations: int,
                  threads: int) -> None:
    """Print a table row per backend and batch size: images/s, against torch, and the outputs' change."""
    import torch

    from cmr.models.onnx_graph import OUTPUT_NAMES, DecodingNetwork, OnnxNetwork

    eager = DecodingNetwork(loaded.model, loaded.template.joint_regressor, loaded.cfg.MODEL.INPUT_SIZE).eval()
    networks = {backend: OnnxNetwork(graph, threads) for backend, graph in graphs.items()}
    print("| model | batch | backend | images/s | x torch | max change vs torch |\n|---|---|---|---|---|---|")
    for batch in batch_sizes:
        images = _inputs(loaded, batch)
        with torch.inference_mode():
            reference = dict(zip(OUTPUT_NAMES, eager(images)))
            torch_rate = batch / _median_seconds(lambda: eager(images), iterations)
        print(f"| {model_name} | {batch} | torch eager | {torch_rate:.1f} | 1.00 | |", flush=True)
        for backend, network in networks.items():
            rate = batch / _median_seconds(lambda: network(images), iterations)
            print(f"| {model_name} | {batch} | {backend} | {rate:.1f} | {rate / torch_rate:.2f} | "
                  f"{_max_change(network, reference, images)} |", flush=True)


def score_backends(checkpoint: Path, graphs: dict[str, Path], threads: int) -> dict[str, dict]:
    """Backend -> the synthetic evaluation split's scores and, when there, Ge's dev crops' (network)."""
    from cmr.config import resolve_path
    from cmr.tools.experiments import GE_COLUMNS, GE_DEV, SYNTH_COLUMNS, ge_scores, synth_scores, table

    common = ("DEVICE", "cpu", "NUM_THREADS", str(threads))
    backends = {"torch": common}
    backends.update({name: (*common, "DEMO.BACKEND", "onnx", "DEMO.ONNX", str(graph)) for name, graph in graphs.items()})
    rows = {}
    for name, overrides in backends.items():
        exp_name = "bench_onnx_" + name.replace(" ", "_")
        rows[name] = {f"synthetic {title}": value
                      for title, value in synth_scores(checkpoint, exp_name, SYNTH_COLUMNS, overrides).items()}
        if resolve_path(GE_DEV).is_dir():
            ge = ge_scores(checkpoint, exp_name, overrides)
            rows[name].update({f"Ge {title}": ge[title] for title in GE_COLUMNS.values()})
    print(table(rows), flush=True)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    from cmr.config import resolve_path

    parser.add_argument("--checkpoint", type=Path, default=resolve_path(BUNDLED_CHECKPOINT),
                        help="checkpoint whose network is timed (default: the bundled model)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--iterations", type=int, default=5, help="timed calls after one warm-up")
    parser.add_argument("--threads", type=int, default=0, help="torch and onnxruntime CPU threads (0: defaults)")
    parser.add_argument("--int8", action="store_true",
                        help="also time the graph quantised to int8, dynamically and statically (needs the "
                             "checkpoint's DATA.ROOT training split for the calibration)")
    parser.add_argument("--accuracy", action="store_true",
                        help="then score every backend on the synthetic evaluation split and Ge's dev crops")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its tables."""
    from cmr.engine.checkpoint import open_run

    checkpoint = args.checkpoint.absolute()
    loaded = open_run(checkpoint, None, ["DEVICE", "cpu", "NUM_THREADS", str(args.threads)])
    with tempfile.TemporaryDirectory() as folder:
        graphs = export_graphs(loaded, Path(folder), args.int8)
        time_backends(loaded, checkpoint.stem, graphs, args.batch_sizes, args.iterations, args.threads)
        if args.accuracy:
            score_backends(checkpoint, graphs, args.threads)
    return 0
