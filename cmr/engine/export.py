"""``python -m cmr export``: shrink a training checkpoint to an inference one (weights + config),
and/or write its network with the output decoding as an ONNX graph (``--onnx``)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: Crops of the training split that calibrate a static int8 graph by default.
CALIBRATION_CROPS = 64

DESCRIPTION = ("Keep only a checkpoint's model weights (float16 unless --float32), its config and its "
               "template identity, e.g. to bundle it: python -m cmr export "
               "out/.../checkpoint_last.pt cmr/assets/lite_real.pt; and/or write the network and its "
               "output decoding as ONNX: python -m cmr export cmr/assets/lite_real.pt --onnx lite.onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, destination, the precision and the ONNX file."""
    from cmr.models.onnx_graph import INT8_MODES

    parser.add_argument("source", type=Path, help="checkpoint written by `train` (or exported)")
    parser.add_argument("destination", type=Path, nargs="?", help="where to write the inference checkpoint")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    parser.add_argument("--onnx", type=Path, metavar="OUT.onnx",
                        help="also write the network + output decoding as an ONNX graph (dynamic batch, "
                             "opset 17; the demo runs it with DEMO.BACKEND onnx DEMO.ONNX OUT.onnx)")
    parser.add_argument("--int8", choices=INT8_MODES, metavar="{dynamic,static}",
                        help="with --onnx, also write an int8 copy of the graph as OUT_int8.onnx; 'static' "
                             "calibrates on crops of the checkpoint's DATA.ROOT training split")
    parser.add_argument("--calibration", type=int, default=CALIBRATION_CROPS, metavar="N",
                        help=f"crops that calibrate a static int8 graph (default {CALIBRATION_CROPS})")
    parser.add_argument("--calibration-root", type=Path, metavar="DIR",
                        help="FreiHAND-layout set whose training split calibrates (default: the checkpoint's DATA.ROOT)")


def calibration_crops(cfg, template, count: int, root: Path | None = None):
    """(M, 3, S, S) normalised crops, M = min(count, training images), spread evenly over the
    training split of ``root`` (default ``DATA.ROOT``), framed by the crop policy around each
    image's hand without jitter or colour change (no depth maps read): a static int8 graph's
    calibration set (the evaluation split is left for scoring)."""
    import numpy as np
    import torch

    from cmr.data.freihand import dataset_from_config

    if count < 1:
        raise ValueError(f"--calibration must be at least 1 crop, got {count}")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATA.DEPTH = False
    if root is not None:
        cfg.DATA.ROOT = str(root)
    dataset = dataset_from_config(cfg, "training", template, ground_truth=False)
    picks = np.unique(np.linspace(0, len(dataset) - 1, count).round().astype(int))
    return torch.stack([dataset[int(index)]["image"] for index in picks])


def int8_path(graph: Path) -> Path:
    """Where the int8 copy of ``graph`` goes: ``<stem>_int8.onnx`` beside it."""
    return graph.with_name(f"{graph.stem}_int8.onnx")


def run(args: argparse.Namespace) -> int:
    """Write the inference checkpoint and/or the ONNX graph and report their sizes."""
    if args.destination is None and args.onnx is None:
        raise ValueError("nothing to write: give a destination checkpoint and/or --onnx OUT.onnx")
    if args.int8 and args.onnx is None:
        raise ValueError("--int8 quantises the ONNX graph: give --onnx OUT.onnx too")
    loaded = crops = None
    if args.onnx is not None:  # load (and calibrate) first: a bad calibration set stops before anything is written
        from cmr.engine.checkpoint import open_run

        loaded = open_run(args.source.absolute(), None, ["DEVICE", "cpu"])
        if args.int8 == "static":
            root = args.calibration_root.expanduser().absolute() if args.calibration_root else None
            crops = calibration_crops(loaded.cfg, loaded.template, args.calibration, root)
    written = []
    if args.destination is not None:
        from cmr.engine.checkpoint import export_checkpoint

        written.append(export_checkpoint(args.source.absolute(), args.destination.absolute(), half=not args.float32))
    if loaded is not None:
        from cmr.models.onnx_graph import export_onnx, quantize_graph

        written.append(export_onnx(loaded.model, loaded.template.joint_regressor, loaded.cfg.MODEL.INPUT_SIZE,
                                   args.onnx.absolute()))
        if args.int8:
            written.append(quantize_graph(written[-1], int8_path(written[-1]), args.int8, crops))
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
