"""Benchmark of the synthetic dataset generator (end to end, files included).

Generates ``--training`` annotations x ``--versions`` images plus ``--evaluation`` images into a
temporary folder once per worker count and prints RGB images per second over the whole run
(parameters, JSONs, rendering, encoding, writing), and the process CPU time of the parent.
Run ``python -m cmr bench synth [--workers 1 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from cmr.data.synth import generate


def run_once(training: int, evaluation: int, versions: int, workers: int) -> dict:
    """Generate into a fresh temporary root; returns the generator's summary."""
    with tempfile.TemporaryDirectory(prefix="cmr_synth_bench_") as root:
        return generate(root, training, evaluation, versions=versions, seed=0, workers=workers, progress=False)


DESCRIPTION = __doc__.splitlines()[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--training", type=int, default=64, help="training annotations (default 64)")
    parser.add_argument("--evaluation", type=int, default=16, help="evaluation images (default 16)")
    parser.add_argument("--versions", type=int, default=4, help="images per training annotation (default 4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    images = args.training * args.versions + args.evaluation
    print(f"synthetic FreiHAND: {args.training} annotations x {args.versions} versions + {args.evaluation} "
          f"evaluation = {images} RGB images at 224 px")
    print(f"{'workers':>7} {'seconds':>8} {'images/s':>9} {'parent CPU s':>12}")
    for workers in args.workers:
        cpu = time.process_time()
        summary = run_once(args.training, args.evaluation, args.versions, workers)
        print(f"{workers:>7} {summary['seconds']:>8.2f} {summary['images_per_second']:>9.1f} "
              f"{time.process_time() - cpu:>12.2f}")
    return 0
