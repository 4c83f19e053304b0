"""Fast inference path against the plain eager model, in one process: images/s and the ratio.

For each model and batch size both forms are built from the same random weights (the fast one
by :func:`cmr.models.fast.prepare_for_inference`), warmed up once, then timed in interleaved
repeats (eager, fast, eager, fast, ...) under ``torch.inference_mode`` on random images, so
both see the same machine load. The table gives the median images/s of each, the ratio of the
medians and the spread of the per-repeat ratios (min-max), a measure of the noise. It also
prints the largest |fast - eager| over all outputs of the timed inputs. ``--clock cpu`` times
the process's CPU time instead of the wall clock: on a CPU shared with other jobs it counts only
this process's work (with ``--threads 1`` it is then the single-core cost, stable under load).

Run ``python -m cmr bench fast``; ``--help`` lists options.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

#: What the default run measures: two full-size variants and the compact configuration.
DEFAULT_MODELS = ("cmr_sg", "cmr_g", "compact")


@dataclass
class FastResult:
    """One row of the table (images/s are medians over the repeats)."""

    model: str
    batch: int
    eager_images_per_second: float
    fast_images_per_second: float
    ratio_low: float
    ratio_high: float
    max_difference: float

    @property
    def ratio(self) -> float:
        """Speed-up of the fast path (ratio of the median images/s)."""
        return self.fast_images_per_second / self.eager_images_per_second


def _max_difference(expected: dict, actual: dict) -> float:
    """Largest |a - b| over every tensor of two output dicts (lists: over their levels)."""
    largest = 0.0
    for key, value in expected.items():
        pairs = zip(value, actual[key]) if isinstance(value, list) else [(value, actual[key])]
        for a, b in pairs:
            largest = max(largest, (a - b).abs().max().item())
    return largest


#: ``--clock`` choice -> timer (seconds).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _timed(model, images, clock) -> tuple[float, dict]:
    """(seconds by ``clock``, outputs) of one forward pass."""
    import torch

    if images.is_cuda:
        torch.cuda.synchronize()
    start = clock()
    outputs = model(images)
    if images.is_cuda:
        torch.cuda.synchronize()
    return clock() - start, outputs


def measure(model_name: str, batch: int, repeats: int, device: str, compile: bool = False,
            clock: str = "wall") -> FastResult:
    """Time the eager model and its fast copy on (batch, 3, S, S) random images, interleaved."""
    import torch

    from cmr.bench import model_config
    from cmr.models.build import build_model, load_template
    from cmr.models.fast import prepare_for_inference

    cfg = model_config(model_name)
    eager = build_model(cfg, load_template(cfg.MODEL.TEMPLATE)).to(device).eval()
    fast = prepare_for_inference(eager, compile=compile)
    size = cfg.MODEL.INPUT_SIZE
    images = torch.randn(batch, 3, size, size, device=device)
    eager_times, fast_times, difference = [], [], 0.0
    with torch.inference_mode():
        fast(images), eager(images)  # warm-up (and compilation)
        for _ in range(repeats):
            eager_seconds, expected = _timed(eager, images, CLOCKS[clock])
            fast_seconds, actual = _timed(fast, images, CLOCKS[clock])
            eager_times.append(eager_seconds)
            fast_times.append(fast_seconds)
            difference = max(difference, _max_difference(expected, actual))
    ratios = [e / f for e, f in zip(eager_times, fast_times)]
    return FastResult(model_name, batch, batch / statistics.median(eager_times),
                      batch / statistics.median(fast_times), min(ratios), max(ratios), difference)


HEADER = ("| model | batch | eager images/s | fast images/s | ratio | per-repeat ratios | max abs diff |\n"
          "|---|---|---|---|---|---|---|")


def format_row(result: FastResult) -> str:
    return (f"| {result.model} | {result.batch} | {result.eager_images_per_second:.2f} | "
            f"{result.fast_images_per_second:.2f} | {result.ratio:.2f}x | "
            f"{result.ratio_low:.2f}-{result.ratio_high:.2f} | {result.max_difference:.1e} |")


DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="variants (cmr_sg, cmr_pg, cmr_g) and/or 'compact' (configs/compact.yaml)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed passes of each form")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall clock, or this process's CPU time (robust on a shared CPU)")
    parser.add_argument("--compile", action="store_true",
                        help="also torch.compile the fast copy (minutes of compilation per shape on CPU)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, device: {args.device}, clock: {args.clock}", flush=True)
    print(HEADER, flush=True)
    for model_name in args.models:
        for batch in args.batch_sizes:
            print(format_row(measure(model_name, batch, args.repeats, args.device, args.compile, args.clock)), flush=True)
    return 0
