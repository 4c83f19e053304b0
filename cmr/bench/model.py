"""Forward-pass benchmark of the CMR variants: images/s, parameter counts, peak memory.

Each (model, batch size) runs in a fresh process so that its peak memory is its own: on CPU the
peak resident set size of that process (``ru_maxrss``) and its growth over the built model, on
CUDA ``torch.cuda.max_memory_allocated``. Inputs are random images; timings are the median of
``--iterations`` forward passes under ``torch.inference_mode`` after one warm-up pass.

Run ``python -m cmr bench model`` (or ``python -m cmr bench model``); ``--help`` lists options.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time
from dataclasses import dataclass

#: What the default run measures: the three full-size variants, then the compact configuration.
DEFAULT_MODELS = ("cmr_sg", "cmr_pg", "cmr_g", "compact")


@dataclass
class ModelResult:
    """One row of the table."""

    model: str
    batch: int
    input_size: int
    parameters: int
    images_per_second: float
    peak_mib: float
    growth_mib: float


def _build(model_name: str, device: str):
    """(model, input size) for a variant name or 'compact' (configs/compact.yaml)."""
    from cmr.bench import model_config
    from cmr.models.build import build_model, load_template

    cfg = model_config(model_name)
    model = build_model(cfg, load_template(cfg.MODEL.TEMPLATE)).to(device).eval()
    return model, cfg.MODEL.INPUT_SIZE


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(model_name: str, batch: int, device: str, iterations: int, threads: int) -> ModelResult:
    """Build and time one model in this process (called in a fresh child process)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    model, size = _build(model_name, device)
    parameters = sum(p.numel() for p in model.parameters())
    images = torch.randn(batch, 3, size, size, device=device)
    baseline = _max_rss_mib()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    with torch.inference_mode():
        for step in range(iterations + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(images)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if step:  # the first pass is a warm-up
                times.append(time.perf_counter() - start)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
        growth = peak
    else:
        peak = _max_rss_mib()
        growth = peak - baseline
    return ModelResult(model_name, batch, size, parameters, batch / statistics.median(times), peak, growth)


def run_models(models, batch_sizes, device: str, iterations: int, threads: int) -> list[ModelResult]:
    """Measure every (model, batch size), each in a fresh spawned process."""
    context = multiprocessing.get_context("spawn")
    results = []
    with context.Pool(1, maxtasksperchild=1) as pool:
        for model_name in models:
            for batch in batch_sizes:
                results.append(pool.apply(_measure, (model_name, batch, device, iterations, threads)))
                print(format_row(results[-1], device), flush=True)
    return results


def format_header(device: str) -> str:
    memory = "peak CUDA MiB" if device.startswith("cuda") else "peak RSS MiB (+forward)"
    return f"| model | input | batch | parameters | images/s | {memory} |\n|---|---|---|---|---|---|"


def format_row(result: ModelResult, device: str) -> str:
    memory = f"{result.peak_mib:,.0f}"
    if not device.startswith("cuda"):
        memory += f" (+{result.growth_mib:,.0f})"
    return (
        f"| {result.model} | {result.input_size} | {result.batch} | {result.parameters:,} | "
        f"{result.images_per_second:.2f} | {memory} |"
    )


DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="variants (cmr_sg, cmr_pg, cmr_g) and/or 'compact' (configs/compact.yaml)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--iterations", type=int, default=3, help="timed forward passes after one warm-up")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    print(format_header(args.device), flush=True)
    run_models(args.models, args.batch_sizes, args.device, args.iterations, args.threads)
    return 0
