"""A contact sheet of dataset samples with the ground-truth keypoints, mesh and silhouette overlaid.

``python -m cmr sheet --root data/FreiHAND_synth [--split training] [--count 16] [--out PNG]``
draws ``--count`` random samples as the network sees them (:mod:`cmr.vis.contact_sheet`) and
writes one PNG. The output's folder is checked writable before the dataset is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from cmr.data.freihand import FreiHANDDataset
from cmr.fileio import atomic_write_bytes, writable_folder
from cmr.geometry.crop import CropJitter, CropPolicy
from cmr.models.build import load_template
from cmr.vis.contact_sheet import contact_sheet, sample_tile

DESCRIPTION = (
    "Contact sheet of dataset samples: each tile is one sample as the network sees it (augmented for "
    "the training split) with the ground-truth mesh, silhouette outline and keypoints overlaid.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sheet's options (dataset, split, sample count and choice, framing, output PNG)."""
    parser.add_argument("--root", default="data/FreiHAND_synth", help="dataset root laid out like FreiHAND")
    parser.add_argument("--split", choices=("training", "evaluation"), default="training")
    parser.add_argument("--count", type=int, default=16, help="number of samples (tiles)")
    parser.add_argument("--out", type=Path, default=Path("out/contact_sheet.png"), help="PNG to write")
    parser.add_argument("--template", default="template",
                        help="template folder: 'template' (the project's hand) or CMR's release folder "
                             "for the real FreiHAND meshes")
    parser.add_argument("--input-size", type=int, default=224, help="crop side in pixels")
    parser.add_argument("--no-augment", action="store_true", help="centred crops, no jitter or colour change")
    parser.add_argument("--seed", type=int, default=0, help="sample choice and augmentation seed")


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
    template = load_template(args.template)
    augment = not args.no_augment
    dataset = FreiHANDDataset(args.root, args.split, template, CropPolicy(args.input_size),
                              CropJitter() if augment else None, color_aug=augment)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    count = min(args.count, len(dataset))
    indices = np.sort(rng.choice(len(dataset), size=count, replace=False))
    faces = np.asarray(template.faces[0])
    tiles = [sample_tile(dataset[int(i)], faces) for i in indices]
    sheet = contact_sheet(tiles, columns=int(np.ceil(np.sqrt(count))))
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{args.out}: OpenCV could not encode the contact sheet")
    atomic_write_bytes(args.out, encoded.tobytes())
    print(f"wrote {args.out} ({count} {args.split} samples from {args.root})")
    return 0
