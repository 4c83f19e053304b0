"""What the demo writes: per hand a mesh, a JSON and a plot; per photo an overlay of all its
hands; per run a contact sheet of the overlays (see :mod:`cmr.engine.demo`).

With a colour head (``MODEL.TEXTURE``) the network's mesh PLY carries its per-vertex colours
and the overlays render them under its light; without one, the meshes are uncoloured and the
overlays light blue (:data:`cmr.vis.overlay.MESH_COLOUR`)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from cmr.engine.hands import FIT_FIELDS, PredictedHand
from cmr.engine.inputs import InputImage
from cmr.fileio import OutputFolder, atomic_write_json
from cmr.geometry.camera import mirror_faces, project_points
from cmr.geometry.pixel_maps import apply_affine
from cmr.mesh.ply import write_ply
from cmr.models.texture import light_from_vector
from cmr.render import DirectionalLight
from cmr.vis.contact_sheet import contact_sheet
from cmr.vis.overlay import render_overlay, write_rgb_jpeg
from cmr.vis.plot import plot_prediction

CONTACT_SHEET = "contact_sheet.jpg"
#: Side (pixels) of a contact-sheet tile, and tiles per row.
TILE_SIDE, SHEET_COLUMNS = 256, 6


def _fit_record(fit: dict | None) -> dict | None:
    """The fit's JSON entry: model parameters (MANO-order axis-angle pose in the side's
    convention, shape coefficients, translation in metres), joints and residuals."""
    if fit is None:
        return None
    digits = {"pose": 5, "shape": 5, "translation": 5, "joints": 5}
    return {name: None if fit[name] is None else _rounded(fit[name], digits.get(name, 2)) for name in FIT_FIELDS}


def side_faces(faces: np.ndarray, side: str) -> np.ndarray:
    """(F, 3) faces with outward winding for a right or (mirrored) left hand, from the template's
    (right-hand) faces."""
    return mirror_faces(faces) if side == "left" else faces


def _rounded(array, digits: int) -> list:
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()


def texture_of(hands: list[PredictedHand]) -> tuple[np.ndarray | None, DirectionalLight | None]:
    """The hands' colour-head outputs for one render: their (N, 3) per-vertex colours in [0, 1],
    concatenated in the order of the hands (as :func:`photo_overlay` concatenates vertices), and
    one light, the mean of the hands' (:func:`cmr.models.texture.light_from_vector`; terms
    (1, 3)); (None, None) when a hand has no colours (a model without the head)."""
    if not hands or any(hand.prediction.albedo is None for hand in hands):
        return None, None
    colours = np.concatenate([hand.prediction.albedo for hand in hands])
    light = light_from_vector(torch.as_tensor(np.stack([hand.prediction.light for hand in hands])))
    return colours, DirectionalLight(*(term.mean(0, keepdim=True) for term in
                                       (light.direction, light.colour, light.ambient)))


def colour_bytes(colours: np.ndarray | None) -> np.ndarray | None:
    """(N, 3) RGB in [0, 1] -> (N, 3) uint8 (rounded; None stays None), for a PLY's vertex colours."""
    return None if colours is None else np.clip(np.round(np.asarray(colours) * 255.0), 0, 255).astype(np.uint8)


def hand_record(item: InputImage, index: int, hand: PredictedHand) -> dict:
    """JSON-ready description of one hand (metres, pixels of the photo)."""
    prediction = hand.prediction
    network_uv = apply_affine(np.linalg.inv(prediction.input_from_image), prediction.uv)
    return {
        "image": item.name, "hand": index, "side": hand.side, "K": _rounded(item.K, 4), "K_source": item.K_source,
        "translation_m": _rounded(prediction.translation, 5),
        "joints_camera_m": _rounded(prediction.joints, 5),
        "keypoints_projected_px": _rounded(project_points(prediction.joints, item.K), 2),
        "keypoints_network_px": _rounded(network_uv, 2),
        "registration": {"success": prediction.success, "silhouette_used": prediction.has_silhouette},
        "detector": hand.detection.to_json(),
        "detector_joints_camera_m": _rounded(hand.detector_joints, 5),
        "fit": _fit_record(hand.fit),
    }


def write_hand(item: InputImage, index: int, hand: PredictedHand, faces: np.ndarray, folder: OutputFolder,
               mask_threshold: float) -> None:
    """``<id>_hand<k>_mesh.ply`` (the network's, with its vertex colours when it has them),
    ``<id>_hand<k>_fit.ply`` (the fitted hand, when fitted), ``<id>_hand<k>.json`` and
    ``<id>_hand<k>_plot.jpg``; ``faces``: the template's (F, 3) right-hand faces."""
    stem = folder.path / f"{item.id}_hand{index}"
    mesh, record, plot, fitted = (stem.with_name(stem.name + suffix)
                                  for suffix in ("_mesh.ply", ".json", "_plot.jpg", "_fit.ply"))
    folder.record(mesh, record, plot, *([fitted] if hand.fit is not None else []))  # first: see OutputFolder
    faces = side_faces(faces, hand.side)
    colours, light = texture_of([hand])
    write_ply(mesh, hand.prediction.vertices, faces, vertex_colors=colour_bytes(colours))
    if hand.fit is not None:
        write_ply(fitted, hand.fit["vertices"], faces)
    atomic_write_json(record, hand_record(item, index, hand))
    overlay = render_overlay(item.image, hand.prediction.vertices, faces, item.K, vertex_colours=colours, light=light)
    plot_prediction(item.image, hand.prediction, faces, item.K, plot, mask_threshold, overlay=overlay)


def photo_overlay(item: InputImage, hands: list[PredictedHand], faces: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: every hand's mesh (:attr:`PredictedHand.vertices`) rendered over the
    photo in one pass (depth-tested), with their colours when they have them (:func:`texture_of`);
    ``faces``: the template's (F, 3) right-hand faces."""
    vertices = np.concatenate([hand.vertices for hand in hands])
    offsets = np.cumsum([0] + [len(hand.vertices) for hand in hands[:-1]])
    faces = np.concatenate([side_faces(faces, hand.side) + offset for hand, offset in zip(hands, offsets)])
    colours, light = texture_of(hands)
    return render_overlay(item.image, vertices, faces, item.K, vertex_colours=colours, light=light)


def write_photo(item: InputImage, hands: list[PredictedHand], faces: np.ndarray, folder: OutputFolder) -> np.ndarray:
    """``<id>_overlay.jpg`` of a photo (:func:`photo_overlay`); returns its contact-sheet tile."""
    path = folder.path / f"{item.id}_overlay.jpg"
    folder.record(path)
    overlay = photo_overlay(item, hands, faces)
    write_rgb_jpeg(path, overlay)
    return sheet_tile(overlay)


def sheet_tile(image: np.ndarray) -> np.ndarray:
    """A (TILE_SIDE, TILE_SIDE, 3) uint8 letterboxed thumbnail of an (H, W, 3) image."""
    scale = TILE_SIDE / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    tile = np.zeros((TILE_SIDE, TILE_SIDE, 3), np.uint8)
    top, left = (TILE_SIDE - size[1]) // 2, (TILE_SIDE - size[0]) // 2
    tile[top:top + size[1], left:left + size[0]] = small
    return tile


def write_contact_sheet(tiles: list[np.ndarray], folder: OutputFolder) -> None:
    """``contact_sheet.jpg``: the overlays of the run, :data:`SHEET_COLUMNS` per row."""
    path = folder.path / CONTACT_SHEET
    folder.record(path)
    write_rgb_jpeg(path, contact_sheet(tiles, min(SHEET_COLUMNS, len(tiles))))
