"""Command line: ``python -m cmr <command> [options]`` (also installed as ``cmr``).

Every command lives in its own module, which registers its options (``add_arguments(parser)``)
and runs (``run(args) -> int``); application commands take ``--config FILE`` and trailing
``KEY VALUE`` overrides, and their flags are sugar for overrides. Errors the user can fix
(a missing file, bad input, an existing run) print ``error: ...`` and exit with status 2; a run
that produced nothing exits with 1. ``CMR_DEBUG=1`` re-raises them with the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from cmr.engine.command import PROG, NothingProduced

#: Command name -> (module with add_arguments/run, one-line help).
COMMANDS = {
    "train": ("cmr.engine.train", "train a model (single process, or multi-GPU / multi-node under torchrun)"),
    "eval": ("cmr.engine.evaluate", "evaluate a checkpoint: FreiHAND submission, official scores, PCK plot"),
    "score": ("cmr.engine.score", "score an existing submission file against a ground-truth folder"),
    "detect": ("cmr.engine.detect", "every hand in a folder of images or a video: boxes, handedness, 21 keypoints (JSON)"),
    "demo": ("cmr.engine.demo", "camera-space hand meshes for a folder of images: plots, PLY meshes, overlays"),
    "export": ("cmr.engine.export", "shrink a training checkpoint to weights (float16) + config for inference"),
    "synth": ("cmr.tools.synth", "generate the synthetic FreiHAND-layout dataset"),
    "sheet": ("cmr.tools.sheet", "a contact sheet of dataset samples with keypoints and mesh overlaid"),
    "template": ("cmr.tools.template_command", "build the hand template bundle, or convert CMR's released files"),
    "samples": ("cmr.tools.samples", "bundle demo inputs and their ground truth from a FreiHAND-layout set"),
    "experiment": ("cmr.tools.experiments", "the experiments of learning without 3-D labels (self-supervision, depth, texture)"),
}
#: Benchmark name -> module with add_arguments/run.
BENCHMARKS = {
    "data": "cmr.bench.data",
    "synth": "cmr.bench.synth",
    "model": "cmr.bench.model",
    "registration": "cmr.bench.registration",
    "fitting": "cmr.bench.fitting",
    "registration_accuracy": "cmr.bench.registration_accuracy",
    "render": "cmr.bench.render",
    "hand_presence": "cmr.bench.hand_presence",
    "paths": "cmr.bench.paths",
    "real": "cmr.bench.real",
    "onnx": "cmr.bench.onnx",
    "fast": "cmr.bench.fast",
    "video": "cmr.bench.video",
    "realtime": "cmr.bench.realtime",
    "train": "cmr.bench.train",
    "orientation": "cmr.bench.orientation",
}

#: Errors reported as ``error: ...`` (exit 2) instead of a traceback.
USER_ERRORS = (FileNotFoundError, ValueError, PermissionError, IsADirectoryError, NotADirectoryError)


def _add_command(commands: argparse._SubParsersAction, name: str, module_name: str, summary: str,
                 prog: str) -> argparse.ArgumentParser:
    module = importlib.import_module(module_name)
    parser = commands.add_parser(name, help=summary, description=getattr(module, "DESCRIPTION", summary), prog=prog)
    module.add_arguments(parser)
    parser.set_defaults(run=module.run)
    return parser


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser; only the named command's module is imported (start-up stays fast)."""
    parser = argparse.ArgumentParser(prog=PROG, description="cmr: camera-space 3D hand mesh recovery "
                                                            "from a single RGB image.")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    wanted = argv[0] if argv else None
    for name, (module_name, summary) in COMMANDS.items():
        if name == wanted:
            _add_command(commands, name, module_name, summary, f"{PROG} {name}")
        else:
            commands.add_parser(name, help=summary)
    bench = commands.add_parser("bench", help="benchmarks: " + ", ".join(BENCHMARKS), prog=f"{PROG} bench")
    benches = bench.add_subparsers(dest="benchmark", metavar="<benchmark>", required=True)
    for name, module_name in BENCHMARKS.items():
        if wanted == "bench" and len(argv) > 1 and argv[1] == name:
            _add_command(benches, name, module_name, f"the {name} benchmark", f"{PROG} bench {name}")
        else:
            benches.add_parser(name, help=f"the {name} benchmark")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and run one command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = os.environ.get("CMR_DEBUG") == "1"
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.run(args) or 0)
    except NothingProduced as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
