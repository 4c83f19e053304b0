"""Data-loading benchmark: can the FreiHAND loader keep a training step fed?

For each model it measures (one after the other, so they do not share the CPU):

* the DataLoader's throughput (samples/s) on the augmented training split, cropped to the
  model's input size, with ``--workers`` worker processes and batches of ``--batch``;
* one training step of that model on a loaded batch: forward, every loss, backward and an Adam
  step (median of ``--steps`` after one warm-up), as samples/s;

and prints a table with their ratio (loader samples/s over step samples/s; it should be well
above 1). Models: 'compact' (``configs/compact.yaml``, the default), 'lite' and the full variants
(``--models compact lite cmr_g``; on a CPU one CMR-G step at batch 32 takes about a minute).

Run ``python -m cmr bench data --root data/FreiHAND_synth`` (``--help`` lists options).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from cmr.bench import add_training_data_arguments, make_loader, model_config
from cmr.engine.train_support import to_device

#: What the default run measures.
DEFAULT_MODELS = ("compact",)


@dataclass
class DataResult:
    """One row of the table: loader and training-step throughput at one input size."""

    model: str
    input_size: int
    loader_samples_per_second: float
    first_batch_seconds: float
    step_seconds: float
    batch: int

    @property
    def step_samples_per_second(self) -> float:
        return self.batch / self.step_seconds

    @property
    def ratio(self) -> float:
        return self.loader_samples_per_second / self.step_samples_per_second


def time_loader(loader: DataLoader) -> tuple[float, float]:
    """(samples/s after the first batch, seconds to the first batch, worker start-up included)."""
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - start
    start, samples = time.perf_counter(), 0
    for batch in iterator:
        samples += len(batch["index"])
    return samples / (time.perf_counter() - start), first


def time_training_step(cfg, template, batch: dict, steps: int, device: torch.device) -> float:
    """Median seconds of one training step of ``cmr train`` (forward, losses, backward, Adam) on
    ``batch`` (:mod:`cmr.bench.train`)."""
    from cmr.bench.train import build_step, time_phases

    bench = build_step(cfg.MODEL.NAME, cfg, template, device)
    time_phases([bench], [to_device(batch, device)], steps, device)
    return bench.step_seconds()


def measure(model_name: str, args: argparse.Namespace) -> DataResult:
    """Loader throughput and training-step time for one model at its configured input size."""
    from cmr.data.freihand import dataset_from_config
    from cmr.models.build import load_template

    cfg = model_config(model_name)
    cfg.DATA.ROOT = str(Path(args.root).absolute())
    template = load_template(args.template or cfg.MODEL.TEMPLATE)
    dataset = dataset_from_config(cfg, "training", template, augment=True)
    torch.manual_seed(0)
    loader_rate, first = time_loader(make_loader(dataset, args.batch, args.workers, args.batches))
    batch = next(iter(make_loader(dataset, args.batch, 0, 1)))
    step = time_training_step(cfg, template, batch, args.steps, torch.device(args.device))
    return DataResult(model_name, cfg.MODEL.INPUT_SIZE, loader_rate, first, step, args.batch)


def format_header(workers: int) -> str:
    return (f"| model | input | loader samples/s ({workers} workers) | first batch s | train step s "
            f"| step samples/s | loader / step |\n|---|---|---|---|---|---|---|")


def format_row(result: DataResult) -> str:
    return (f"| {result.model} | {result.input_size} | {result.loader_samples_per_second:.1f} | "
            f"{result.first_batch_seconds:.2f} | {result.step_seconds:.2f} | "
            f"{result.step_samples_per_second:.1f} | {result.ratio:.1f}x |")


DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    add_training_data_arguments(parser, DEFAULT_MODELS)
    parser.add_argument("--template", default="", help="template folder (default: the model config's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=8, help="batches timed by the loader (after the first)")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps after one warm-up")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device of the training step (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    args.batches += 1  # the first batch (worker start-up) is timed separately
    print(f"training step on {args.device} (torch threads: {torch.get_num_threads()}); "
          f"dataset {args.root}", flush=True)
    print(format_header(args.workers), flush=True)
    for model_name in args.models:
        print(format_row(measure(model_name, args)), flush=True)
    return 0
