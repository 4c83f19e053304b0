"""Contact sheet of dataset samples: does the ground truth stay on the hand after cropping?

Each tile is one sample as the network sees it (augmented for the training split): the crop,
the ground-truth mesh rendered translucent with the sample's own ``K``, the sample's silhouette
target outlined in yellow, and the 21 keypoints with the skeleton. Geometry that drifts shows
at once as a mesh or skeleton off the hand, or an outline off the mesh.

Run ``python -m cmr.vis.contact_sheet --root data/FreiHAND_synth`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from cmr.data.targets import MESH_SCALE
from cmr.fileio import atomic_write_bytes
from cmr.vis.overlay import render_overlay
from cmr.vis.plot import FREIHAND_PARENTS, joint_colour

#: Opacity of the rendered mesh.
MESH_ALPHA = 0.45
#: Fixed-point bits of OpenCV's drawing calls (sub-pixel positions: 1/16 px).
DRAW_SHIFT = 4
OUTLINE_COLOUR = (255, 230, 40)


def denormalise(image: torch.Tensor) -> np.ndarray:
    """(3, S, S) network input in [-1, 1] -> (S, S, 3) uint8 RGB."""
    pixels = np.clip((image.numpy().transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).round()
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def _fixed(point: np.ndarray) -> tuple[int, int]:
    """Pixel coordinates (u, v) as OpenCV fixed-point integers (see ``DRAW_SHIFT``)."""
    return tuple(int(round(float(c) * (1 << DRAW_SHIFT))) for c in point)


def draw_skeleton(tile: np.ndarray, uv: np.ndarray) -> None:
    """Draw the (21, 2) keypoints (crop pixels) and bones on ``tile`` (S, S, 3) uint8 RGB in place."""
    colours = [tuple(int(255 * c) for c in joint_colour(j)) for j in range(len(uv))]
    for joint, parent in enumerate(FREIHAND_PARENTS):
        if parent >= 0:
            cv2.line(tile, _fixed(uv[parent]), _fixed(uv[joint]), colours[joint], 1, cv2.LINE_AA, DRAW_SHIFT)
    for joint, point in enumerate(uv):
        cv2.circle(tile, _fixed(point), 2 << DRAW_SHIFT, colours[joint], -1, cv2.LINE_AA, DRAW_SHIFT)


def draw_outline(tile: np.ndarray, mask: np.ndarray) -> None:
    """Outline a (h, h) silhouette in [0, 1] (h = S/2 or S) on the (S, S, 3) tile in place."""
    size = tile.shape[0]
    full = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) > 0.5
    contours, _ = cv2.findContours(full.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(tile, contours, -1, OUTLINE_COLOUR, 1)


def _project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    projected = points @ K.T
    return projected[:, :2] / projected[:, 2:]


def sample_tile(sample: dict, faces: np.ndarray | None) -> np.ndarray:
    """One (S, S, 3) uint8 RGB tile for a training or evaluation sample dict."""
    tile = denormalise(sample["image"])
    K = sample["K"].numpy().astype(np.float64)
    if "mesh" in sample:
        root = sample["root"].numpy().astype(np.float64)
        vertices = root + MESH_SCALE * sample["mesh"][0].numpy()
        joints = root + MESH_SCALE * sample["xyz"].numpy()
    else:
        vertices = sample["verts_camera"].numpy() if "verts_camera" in sample else None
        joints = sample["xyz_camera"].numpy() if "xyz_camera" in sample else None
    if vertices is not None and faces is not None and len(vertices) == faces.max() + 1:
        tile = render_overlay(tile, vertices, faces, K, alpha=MESH_ALPHA)
    if "mask" in sample:
        draw_outline(tile, sample["mask"][0].numpy())
    if joints is not None:
        draw_skeleton(tile, _project(joints.astype(np.float64), K))
    cv2.putText(tile, str(sample["index"]), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def contact_sheet(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Arrange equal (S, S, 3) tiles in a grid with 2-px gaps; returns uint8 RGB."""
    size, gap = tiles[0].shape[0], 2
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (size + gap) - gap, columns * (size + gap) - gap, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        top, left = (k // columns) * (size + gap), (k % columns) * (size + gap)
        sheet[top:top + size, left:left + size] = tile
    return sheet


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the contact sheet PNG; returns 0."""
    from cmr.data.freihand import FreiHANDDataset
    from cmr.models.build import load_template

    args = _parse(argv)
    template = load_template(args.template)
    dataset = FreiHANDDataset(args.root, args.split, template, input_size=args.input_size,
                              augment=not args.no_augment)
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


if __name__ == "__main__":
    raise SystemExit(main())
