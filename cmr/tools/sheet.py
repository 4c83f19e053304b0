"""A contact sheet of dataset samples with the ground-truth keypoints, mesh and silhouette overlaid.

``python -m cmr sheet [--config FILE] [--root DIR] [--split training] [--count 16] [--out PNG]
[KEY VALUE ...]`` draws ``--count`` random samples as the network sees them (framed by the
configuration's crop policy and jitter, :mod:`cmr.vis.contact_sheet`) and writes one PNG.
``--root``, ``--template``, ``--input-size`` and ``--seed`` are sugar for ``DATA.ROOT``,
``MODEL.TEMPLATE``, ``MODEL.INPUT_SIZE`` and ``TRAIN.SEED``. The output's folder is checked
writable before the dataset is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from cmr import REPO_ROOT
from cmr.config import load_cfg
from cmr.data.freihand import dataset_from_config
from cmr.engine.command import add_config_arguments, flag_overrides
from cmr.fileio import atomic_write_bytes, writable_folder
from cmr.models.build import load_template
from cmr.vis.contact_sheet import contact_sheet, sample_tile

DESCRIPTION = (
    "Contact sheet of dataset samples: each tile is one sample as the network sees it (augmented for "
    "the training split) with the ground-truth mesh, silhouette outline and keypoints overlaid.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sheet's options (dataset, split, sample count and choice, framing, output PNG)."""
    parser.add_argument("--root", default=None, help="dataset root laid out like FreiHAND (DATA.ROOT)")
    parser.add_argument("--split", choices=("training", "evaluation"), default="training")
    parser.add_argument("--count", type=int, default=16, help="number of samples (tiles)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "contact_sheet.png",
                        help="PNG to write (default: out/contact_sheet.png in the repository)")
    parser.add_argument("--template", default=None,
                        help="template (MODEL.TEMPLATE): 'template' (the project's hand) or CMR's release "
                             "folder for the real FreiHAND meshes")
    parser.add_argument("--input-size", type=int, default=None, help="crop side in pixels (MODEL.INPUT_SIZE)")
    parser.add_argument("--no-augment", action="store_true", help="centred crops, no jitter or colour change")
    parser.add_argument("--seed", type=int, default=None, help="sample choice and augmentation seed (TRAIN.SEED)")
    add_config_arguments(parser)


FLAGS = {"root": "DATA.ROOT", "template": "MODEL.TEMPLATE", "input_size": "MODEL.INPUT_SIZE", "seed": "TRAIN.SEED"}


def run(args: argparse.Namespace) -> int:
    """Write the contact sheet PNG and say so; returns 0.

    Raises:
        ValueError: ``--count`` below 1, or the folder of ``--out`` is not writable (both
            checked before the dataset is read); OpenCV cannot encode the sheet.
        FileNotFoundError: the dataset root or the template is missing.
    """
    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    writable_folder(args.out.parent)
    cfg = load_cfg(args.config, flag_overrides(args, FLAGS, paths=("root", "template")))
    template = load_template(cfg.MODEL.TEMPLATE)
    dataset = dataset_from_config(cfg, args.split, template, augment=not args.no_augment)
    torch.manual_seed(cfg.TRAIN.SEED)
    rng = np.random.default_rng(cfg.TRAIN.SEED)
    count = min(args.count, len(dataset))
    indices = np.sort(rng.choice(len(dataset), size=count, replace=False))
    faces = np.asarray(template.faces[0])
    tiles = [sample_tile(dataset[int(i)], faces) for i in indices]
    sheet = contact_sheet(tiles, columns=int(np.ceil(np.sqrt(count))))
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{args.out}: OpenCV could not encode the contact sheet")
    atomic_write_bytes(args.out, encoded.tobytes())
    print(f"wrote {args.out} ({count} {args.split} samples from {cfg.DATA.ROOT})")
    return 0
