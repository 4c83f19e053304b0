"""Data-loading benchmark: can the FreiHAND loader keep a training step fed?

For each model it measures (one after the other, so they do not share the CPU):

* the DataLoader's throughput (samples/s) on the augmented training split, cropped to the
  model's input size, with ``--workers`` worker processes and batches of ``--batch``;
* one training step of that model on a loaded batch: forward, every loss, backward and an Adam
  step (median of ``--steps`` after one warm-up), as samples/s;

and prints a table with their ratio (loader samples/s over step samples/s; it should be well
above 1). Models: 'compact' (``configs/compact.yaml``, the default) and the full variants
(``--models compact cmr_g``; on a CPU one CMR-G step at batch 32 takes about a minute).

Run ``python -m cmr bench data --root data/FreiHAND_synth`` (``--help`` lists options).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler

from cmr import REPO_ROOT
from cmr.bench import model_config
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


def make_loader(dataset, batch: int, workers: int, batches: int) -> DataLoader:
    """A shuffling loader that yields ``batches`` full batches whatever the dataset size."""
    sampler = RandomSampler(dataset, replacement=True, num_samples=batch * batches)
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)


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


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_step(cfg, template, batch: dict, steps: int, device: torch.device) -> float:
    """Median seconds of one forward + losses + backward + Adam step on ``batch``."""
    from cmr.models.build import build_model
    from cmr.models.losses import compute_losses

    model = build_model(cfg, template).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.TRAIN.LR)
    targets = to_device({key: batch[key] for key in ("mesh", "heatmaps", "mask", "xyz")}, device)
    images = batch["image"].to(device)
    times = []
    for step in range(steps + 1):
        _synchronise(device)
        start = time.perf_counter()
        outputs = model(images)
        losses = compute_losses(outputs, targets, cfg.LOSS, template.faces[0], template.joint_regressor)
        optimiser.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimiser.step()
        _synchronise(device)
        if step:  # the first step is a warm-up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    parser.add_argument("--root", default=str(REPO_ROOT / "data" / "FreiHAND_synth"),
                        help="dataset root laid out like FreiHAND (default: data/FreiHAND_synth in the repository)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="'compact' and/or cmr_sg, cmr_pg, cmr_g")
    parser.add_argument("--template", default="", help="template folder (default: the model config's)")
    parser.add_argument("--batch", type=int, default=32)
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
