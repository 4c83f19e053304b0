"""``python -m cmr export``: shrink a training checkpoint to an inference one (weights + config),
and/or write its network with the output decoding as an ONNX graph (``--onnx``)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = ("Keep only a checkpoint's model weights (float16 unless --float32), its config and its "
               "template identity, e.g. to bundle it: python -m cmr export "
               "out/.../checkpoint_last.pt cmr/assets/lite_real.pt; and/or write the network and its "
               "output decoding as ONNX: python -m cmr export cmr/assets/lite_real.pt --onnx lite.onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, destination, the precision and the ONNX file."""
    parser.add_argument("source", type=Path, help="checkpoint written by `train` (or exported)")
    parser.add_argument("destination", type=Path, nargs="?", help="where to write the inference checkpoint")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    parser.add_argument("--onnx", type=Path, metavar="OUT.onnx",
                        help="also write the network + output decoding as an ONNX graph (dynamic batch, "
                             "opset 17; the demo runs it with DEMO.BACKEND onnx DEMO.ONNX OUT.onnx)")


def run(args: argparse.Namespace) -> int:
    """Write the inference checkpoint and/or the ONNX graph and report their sizes."""
    if args.destination is None and args.onnx is None:
        raise ValueError("nothing to write: give a destination checkpoint and/or --onnx OUT.onnx")
    written = []
    if args.destination is not None:
        from cmr.engine.checkpoint import export_checkpoint

        written.append(export_checkpoint(args.source.absolute(), args.destination.absolute(), half=not args.float32))
    if args.onnx is not None:
        from cmr.engine.checkpoint import open_run
        from cmr.models.onnx_graph import export_onnx

        loaded = open_run(args.source.absolute(), None, ["DEVICE", "cpu"])
        written.append(export_onnx(loaded.model, loaded.template.joint_regressor, loaded.cfg.MODEL.INPUT_SIZE,
                                   args.onnx.absolute()))
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
