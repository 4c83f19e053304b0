"""Command line: ``python -m cmr <command> [options]`` (also installed as ``cmr``).

Commands:
    train      train a model (single process, or multi-GPU / multi-node under torchrun).
    synth      generate the synthetic FreiHAND-layout dataset.
    sheet      a contact sheet of dataset samples with keypoints and mesh overlaid.
    eval       evaluate a checkpoint: FreiHAND submission JSON/zip, official scores, PCK plot.
    demo       run a checkpoint on a folder of images: 5-panel plots, PLY meshes, overlays.
    export     shrink a training checkpoint to an inference one (weights in float16 + config).
    template   build the project's hand template bundle under template/ (and its preview),
               or convert CMR's released MANO-topology files into the same bundle format.
    bench      benchmarks: ``bench model`` (forward speed, parameters, memory),
               ``bench registration`` (closed form vs SLSQP), ``bench render`` (rasteriser).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cmr import TEMPLATE_DIR


def _add_template_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "template",
        help="build the hand template bundle (mesh levels, down/up matrices, spirals, regressor)",
        description=(
            "Build the project's hand template from the open hand model: the rest mesh (778 "
            "vertices), quadric decimation to 389/195/98/49 vertices with down and up matrices, "
            "spirals of length 9 and 27, and the FreiHAND-order joint regressor. The output is "
            "deterministic (byte-identical on rerun). With --from-cmr, read CMR's released "
            "template.ply / transform.pkl / j_reg.npy instead and write them in the same format."
        ),
    )
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR, help="output folder (default: template/)")
    parser.add_argument(
        "--from-cmr", type=Path, metavar="DIR", default=None,
        help="convert CMR's released template folder DIR (template.ply, transform.pkl, j_reg.npy)",
    )
    parser.add_argument("--no-preview", action="store_true", help="skip rendering preview.png")
    parser.add_argument(
        "--report", action="store_true",
        help="print measured figures: mesh statistics, up-sampling error, regressor accuracy",
    )
    parser.add_argument(
        "--compare-cmr", type=Path, metavar="DIR", default=None,
        help="with --report: also check spirals and decimation against CMR's released files in DIR",
    )
    parser.set_defaults(run=_run_template)


def _run_template(args: argparse.Namespace) -> int:
    from cmr.mesh.hand_template import write_hand_template
    from cmr.mesh.template import Template

    start = time.perf_counter()
    if args.from_cmr is not None:
        template = Template.from_cmr_release(args.from_cmr)
        written = list(template.save(args.out))
    else:
        template, written = write_hand_template(args.out, preview=not args.no_preview)
    elapsed = time.perf_counter() - start
    counts = " -> ".join(str(n) for n in template.num_vertices)
    print(f"template {template.name!r}: vertices per level {counts}; checksum {template.checksum()[:16]}")
    for path in written:
        print(f"  wrote {path}")
    print(f"  built in {elapsed:.1f} s")
    if args.report:
        from cmr.mesh.report import template_report

        print(template_report(template, args.compare_cmr))
    return 0


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model (torchrun-aware: multi-GPU and multi-node via DistributedDataParallel)",
        description=(
            "Train the model of a config on a FreiHAND-layout dataset (real or synthetic). Options: "
            "a YAML experiment (--config, see configs/) and KEY VALUE overrides of any config key, "
            "e.g. TRAIN.EPOCHS 5 DATA.ROOT data/FreiHAND_synth. Outputs go to "
            "<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/ (checkpoints, TensorBoard board/, history.json). "
            "Resume an interrupted run with TRAIN.RESUME last. Multi-GPU: "
            "torchrun --nproc_per_node N -m cmr train ...; multi-node: add torchrun's --nnodes, "
            "--node_rank and --rdzv_endpoint."
        ),
    )
    parser.add_argument("--config", default=None, help="YAML experiment file (defaults: cmr/config.py)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs overriding the config")
    parser.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from cmr.config import load_cfg
    from cmr.engine.train import train

    train(load_cfg(args.config, args.overrides))
    return 0


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export", help="shrink a training checkpoint to weights (float16) + config for inference",
        description="Keep only a checkpoint's model weights (float16 unless --float32) and config, "
                    "e.g. to bundle it: python -m cmr export out/.../checkpoint_best.pt cmr/assets/compact_synth.pt",
    )
    parser.add_argument("source", type=Path, help="checkpoint written by `train`")
    parser.add_argument("destination", type=Path, help="where to write the inference checkpoint")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from cmr.engine.checkpoint import export_checkpoint

    path = export_checkpoint(args.source, args.destination, half=not args.float32)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


#: Command name -> module whose ``main(argv)`` implements it (options pass through unchanged).
FORWARDED_COMMANDS = {
    "synth": ("cmr.data.synth", "generate the synthetic FreiHAND-layout dataset (see `synth --help`)"),
    "sheet": ("cmr.vis.contact_sheet", "contact sheet of dataset samples (see `sheet --help`)"),
    "eval": ("cmr.engine.evaluate", "evaluate a checkpoint: FreiHAND submission and scores (see `eval --help`)"),
    "demo": ("cmr.engine.demo", "run a checkpoint on a folder of images (see `demo --help`)"),
}


def _add_forwarded_parser(commands: argparse._SubParsersAction, name: str) -> None:
    _, summary = FORWARDED_COMMANDS[name]
    commands.add_parser(name, help=summary, add_help=False)  # listed here, dispatched by main()


def _run_module(module: str, options: list[str]) -> int:
    import importlib

    return importlib.import_module(module).main(options) or 0


#: Benchmark name -> module with a ``main(argv)``.
BENCHMARKS = {
    "data": "cmr.bench.data",
    "synth": "cmr.bench.synth",
    "model": "cmr.bench.model",
    "registration": "cmr.bench.registration",
    "render": "cmr.bench.render",
}


def _add_bench_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="run a benchmark: " + ", ".join(BENCHMARKS),
        description="Run a benchmark; options after its name go to it (e.g. `bench model --help`).",
    )
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own options")
    parser.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    return _run_module(BENCHMARKS[args.name], args.options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cmr",
        description="cmr: camera-space 3D hand mesh recovery from a single RGB image.",
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    _add_train_parser(commands)
    for name in FORWARDED_COMMANDS:
        _add_forwarded_parser(commands, name)
    _add_export_parser(commands)
    _add_template_parser(commands)
    _add_bench_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in FORWARDED_COMMANDS:  # the module parses its own options, --help included
            return _run_module(FORWARDED_COMMANDS[argv[0]][0], argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
