"""``python -m cmr export``: shrink a training checkpoint to an inference one (weights + config)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = ("Keep only a checkpoint's model weights (float16 unless --float32), its config and its "
               "template identity, e.g. to bundle it: python -m cmr export "
               "out/.../checkpoint_best.pt cmr/assets/compact_synth.pt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, destination and the precision."""
    parser.add_argument("source", type=Path, help="checkpoint written by `train`")
    parser.add_argument("destination", type=Path, help="where to write the inference checkpoint")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")


def run(args: argparse.Namespace) -> int:
    """Write the inference checkpoint and report its size."""
    from cmr.engine.checkpoint import export_checkpoint

    path = export_checkpoint(args.source.absolute(), args.destination.absolute(), half=not args.float32)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
