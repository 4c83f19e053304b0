"""torch eager vs onnxruntime on the same network and inputs: images/s of the decoded outputs.

Both run in this process on the CPU with the same thread count, on the weights of
``--checkpoint`` (default: the bundled compact model): torch runs the model and
:func:`cmr.models.outputs.decode_outputs` under ``torch.inference_mode``, onnxruntime the graph of
:func:`cmr.models.onnx_graph.export_onnx` (the same network and decoding). Optionally
(``--int8``) the graph's weights are also quantised to int8 by onnxruntime's
``quantize_dynamic`` and its speed and output change reported. Timings are the median of
``--iterations`` calls after one warm-up; inputs are random images.

Run ``python -m cmr bench onnx`` (``--help`` lists options).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]
#: The network timed by default: the bundled compact model (configs/compact.yaml's widths).
BUNDLED_CHECKPOINT = "cmr/assets/compact_synth.pt"


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


def run_benchmark(checkpoint: Path, batch_sizes: list[int], iterations: int, threads: int, int8: bool) -> None:
    """Export the checkpoint's network, then print a table row per backend and batch size."""
    import torch

    from cmr.engine.checkpoint import open_run
    from cmr.models.onnx_graph import OUTPUT_NAMES, DecodingNetwork, OnnxNetwork, export_onnx

    loaded = open_run(checkpoint, None, ["DEVICE", "cpu", "NUM_THREADS", str(threads)])
    size, regressor, model_name = loaded.cfg.MODEL.INPUT_SIZE, loaded.template.joint_regressor, checkpoint.stem
    eager = DecodingNetwork(loaded.model, regressor, size).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(loaded.model, regressor, size, Path(folder) / "model.onnx")
        networks = {"onnxruntime": OnnxNetwork(path, threads)}
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(path), str(Path(folder) / "int8.onnx"), weight_type=QuantType.QInt8)
            networks["onnxruntime int8"] = OnnxNetwork(Path(folder) / "int8.onnx", threads)
        print("| model | batch | backend | images/s | x torch | max change vs torch |\n|---|---|---|---|---|---|")
        for batch in batch_sizes:
            images = torch.randn(batch, 3, size, size)
            with torch.inference_mode():
                reference = dict(zip(OUTPUT_NAMES, eager(images)))
                torch_rate = batch / _median_seconds(lambda: eager(images), iterations)
            print(f"| {model_name} | {batch} | torch eager | {torch_rate:.1f} | 1.00 | |", flush=True)
            for backend, network in networks.items():
                rate = batch / _median_seconds(lambda: network(images), iterations)
                print(f"| {model_name} | {batch} | {backend} | {rate:.1f} | {rate / torch_rate:.2f} | "
                      f"{_max_change(network, reference, images)} |", flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    from cmr.config import resolve_path

    parser.add_argument("--checkpoint", type=Path, default=resolve_path(BUNDLED_CHECKPOINT),
                        help="checkpoint whose network is timed (default: the bundled compact model)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--iterations", type=int, default=5, help="timed calls after one warm-up")
    parser.add_argument("--threads", type=int, default=0, help="torch and onnxruntime CPU threads (0: defaults)")
    parser.add_argument("--int8", action="store_true", help="also time an int8 dynamically quantised graph")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    run_benchmark(args.checkpoint.absolute(), args.batch_sizes, args.iterations, args.threads, args.int8)
    return 0
