"""The figure of the pseudo-labels experiment: photos beside their pseudo-label drawn over them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: Photos shown (evenly spaced through the folder), tiles per row, and each tile's side in pixels.
SHEET_PHOTOS, SHEET_COLUMNS, TILE = 24, 4, 150


def pseudo_label_sheet(hands: list, pseudo, faces: np.ndarray, figure: Path) -> None:
    """Pairs (photo, the pseudo-label's mesh over it) of :data:`SHEET_PHOTOS` hands spread evenly
    through ``hands`` (:class:`cmr.data.photos.DetectedHand`, with their
    :class:`~cmr.data.photos.PseudoLabels`), in the right-hand view the labels are in, as one JPEG.
    ``faces``: (F, 3) int of the hand model."""
    from cmr.fileio import read_rgb
    from cmr.vis.overlay import render_overlay, write_rgb_jpeg

    step = max(1, len(hands) // SHEET_PHOTOS)
    tiles = []
    for index in range(0, len(hands), step)[:SHEET_PHOTOS]:
        hand = hands[index]
        image = read_rgb(hand.path)
        image = np.ascontiguousarray(image[:, ::-1]) if hand.side == "left" else image
        drawn = render_overlay(image, pseudo.vertices[index], faces, hand.right_view()[0])
        tiles.append(cv2.resize(np.concatenate([image, drawn], axis=1), (2 * TILE, TILE), interpolation=cv2.INTER_AREA))
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % SHEET_COLUMNS)
    rows = [np.concatenate(tiles[r:r + SHEET_COLUMNS], axis=1) for r in range(0, len(tiles), SHEET_COLUMNS)]
    write_rgb_jpeg(figure, np.concatenate(rows, axis=0))
