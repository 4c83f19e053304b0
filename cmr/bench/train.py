"""Training-speed benchmark: samples/s of a training step, phase by phase, against a baseline.

Every model is measured in this one process on batches of the augmented synthetic training split
(``--root``), through the step of ``cmr train`` (its model, losses, optimiser, loss scaler,
gradient clipping and precision, :mod:`cmr.engine.train_support`):

* **phases**: forward, losses, backward and the Adam step on a loaded batch, as the median
  milliseconds over ``--steps`` repeats after a warm-up; the models take turns repeat by repeat
  (A, B, A, B, ...), so they see the same machine load;
* **loop**: the training loop as ``cmr train`` runs it, the DataLoader's ``--workers`` sharing
  the cores with the steps, as samples/s over ``--loop-steps`` steps (after the first batch);
* the forward's GFLOP per sample (``torch.utils.flop_counter``).

The first model (``compact`` by default, the bundled configuration) is the baseline: the table
gives every model's step and loop samples/s as ratios to it. ``--before`` puts first, as the
baseline, the compact model with its spiral convolutions evaluated gather-first (the order
before linear-first evaluation, :class:`cmr.models.spiral.SpiralConv`); ``--channels-last``
measures each model a second time with channels-last weights (``TRAIN.CHANNELS_LAST``).
Models: ``compact``, ``lite`` (``configs/<name>.yaml``) or a variant name (``cmr_sg``,
``cmr_pg``, ``cmr_g``).

Run ``python -m cmr bench train`` (``--help`` lists options; the synthetic set comes from
``./scripts/make_synthetic.sh``). On a GPU add ``--device cuda`` (and ``--amp``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cmr.bench import add_training_data_arguments, make_loader, model_config
from cmr.engine.train_support import to_device
from cmr.models.build import forward_gflop

#: What the default run measures: the baseline first.
DEFAULT_MODELS = ("compact", "lite")
#: The phases of one step, in order.
PHASES = ("forward", "losses", "backward", "optimiser")


@dataclass
class StepBench:
    """One model's training step: its parts and the phase times measured so far (seconds)."""

    name: str
    cfg: object
    model: torch.nn.Module
    optimiser: torch.optim.Optimizer
    parameters: list[torch.nn.Parameter]
    scaler: torch.amp.GradScaler
    loss: object
    gflop: float
    times: dict[str, list[float]] = field(default_factory=lambda: {phase: [] for phase in PHASES})

    def median_ms(self, phase: str) -> float:
        return 1000.0 * statistics.median(self.times[phase])

    def step_seconds(self) -> float:
        """Median over repeats of the summed phases."""
        return statistics.median(sum(parts) for parts in zip(*(self.times[phase] for phase in PHASES)))


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_step(name: str, cfg, template, device: torch.device, gather_first: bool = False) -> StepBench:
    """The model, optimiser, loss scaler and losses of ``cmr train`` for one configuration
    (``gather_first``: every spiral convolution in its gather-then-linear order)."""
    from cmr.engine.train_support import loss_scaler, training_model, training_optimiser
    from cmr.models.mixed_losses import MixedLoss
    from cmr.models.spiral import SpiralConv

    model = training_model(cfg, template, device).train()
    if gather_first:
        for module in model.modules():
            if isinstance(module, SpiralConv):
                module.linear_first = False
    parameters = [p for p in model.parameters() if p.requires_grad]
    faces = torch.as_tensor(template.faces[0], device=device)
    regressor = torch.as_tensor(template.joint_regressor, dtype=torch.float32, device=device)
    loss = MixedLoss(cfg.LOSS, template, faces, regressor, cfg.MODEL.INPUT_SIZE)
    gflop = forward_gflop(model, cfg.MODEL.INPUT_SIZE, device)
    return StepBench(name, cfg, model, training_optimiser(cfg, parameters), parameters, loss_scaler(cfg, device),
                     loss, gflop)


def run_step(bench: StepBench, batch: dict, device: torch.device, record: bool) -> None:
    """One training step of ``cmr train`` (:mod:`cmr.engine.train_support`'s parts) on ``batch``
    (already on ``device``); ``record`` keeps its phase times."""
    from cmr.engine.train_support import backward, forward_outputs, optimiser_step
    from cmr.models.mixed_losses import total_loss

    clock = [time.perf_counter()]

    def lap() -> None:
        _synchronise(device)
        clock.append(time.perf_counter())

    outputs = forward_outputs(bench.model, bench.cfg, batch["image"], device)
    lap()
    total = total_loss(bench.loss(outputs, batch, bench.cfg.LOSS.SELF.WARMUP_STEPS))
    lap()
    backward(total, bench.optimiser, bench.scaler)
    lap()
    optimiser_step(bench.optimiser, bench.scaler, bench.parameters, bench.cfg.TRAIN.GRAD_CLIP)
    lap()
    if record:
        for phase, start, stop in zip(PHASES, clock, clock[1:]):
            bench.times[phase].append(stop - start)


def time_phases(benches: list[StepBench], batches: list[dict], steps: int, device: torch.device) -> None:
    """Warm every model up once, then ``steps`` repeats, the models taking turns (each on its batch)."""
    for bench, batch in zip(benches, batches):
        run_step(bench, batch, device, record=False)
    for _ in range(steps):
        for bench, batch in zip(benches, batches):
            run_step(bench, batch, device, record=True)


def loop_samples_per_second(bench: StepBench, loader, device: torch.device) -> float:
    """Samples/s of the training loop (loader and steps together), after the first batch."""
    iterator = iter(loader)
    run_step(bench, to_device(next(iterator), device), device, record=False)
    start, samples = time.perf_counter(), 0
    for batch in iterator:
        run_step(bench, to_device(batch, device), device, record=False)
        samples += batch["image"].shape[0]
    _synchronise(device)
    return samples / (time.perf_counter() - start)


def format_table(benches: list[StepBench], loops: list[float], batch: int) -> str:
    """The markdown table: phases (ms), step and loop samples/s, ratios to the first model."""
    base_step, base_loop = benches[0].step_seconds(), loops[0]
    header = ("| model | GFLOP/sample | " + " | ".join(f"{phase} ms" for phase in PHASES)
              + " | step samples/s | vs first | loop samples/s | vs first |")
    rows = [header, "|" + "---|" * (len(PHASES) + 6)]
    for bench, loop in zip(benches, loops):
        step = bench.step_seconds()
        phases = " | ".join(f"{bench.median_ms(phase):.0f}" for phase in PHASES)
        rows.append(f"| {bench.name} | {bench.gflop:.2f} | {phases} | {batch / step:.1f} | {base_step / step:.2f}x "
                    f"| {loop:.1f} | {loop / base_loop:.2f}x |")
    return "\n".join(rows)


DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    add_training_data_arguments(parser, DEFAULT_MODELS)  # the first model is the baseline
    parser.add_argument("--before", action="store_true",
                        help="baseline first: the compact model with gather-first spiral convolutions")
    parser.add_argument("--steps", type=int, default=5, help="timed repeats of the phases after one warm-up")
    parser.add_argument("--loop-steps", type=int, default=10, help="timed steps of the training loop")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the loop")
    parser.add_argument("--amp", action="store_true", help="mixed precision (TRAIN.AMP)")
    parser.add_argument("--channels-last", action="store_true",
                        help="add each model with channels-last weights (TRAIN.CHANNELS_LAST) beside it")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    from cmr.data.freihand import dataset_from_config
    from cmr.models.build import load_template

    device = torch.device(args.device)
    torch.manual_seed(0)
    benches, datasets = [], []
    runs = [("compact, before", "compact", True, False)] if args.before else []
    for model in args.models:
        runs.append((model, model, False, False))
        if args.channels_last:
            runs.append((f"{model}, channels-last", model, False, True))
    for title, name, gather_first, channels_last in runs:
        cfg = model_config(name)
        cfg.DATA.ROOT, cfg.TRAIN.AMP, cfg.TRAIN.CHANNELS_LAST = str(Path(args.root).absolute()), args.amp, channels_last
        template = load_template(cfg.MODEL.TEMPLATE)
        benches.append(build_step(title, cfg, template, device, gather_first))
        datasets.append(dataset_from_config(cfg, "training", template, augment=True))
    print(f"training step on {device} (torch threads: {torch.get_num_threads()}), batch {args.batch}, "
          f"amp {args.amp}; dataset {args.root}", flush=True)
    batches = [to_device(next(iter(make_loader(dataset, args.batch, 0, 1))), device) for dataset in datasets]
    time_phases(benches, batches, args.steps, device)
    loops = [loop_samples_per_second(bench, make_loader(dataset, args.batch, args.workers, args.loop_steps + 1), device)
             for bench, dataset in zip(benches, datasets)]
    print(format_table(benches, loops, args.batch), flush=True)
    return 0
