"""Stage 2 of the detector: 21 keypoints in a rotated square around one hand.

A hand's region of interest (:class:`Roi`) is a square turned so that the hand points up;
the landmark network (MediaPipe's, 224 x 224 RGB in [0, 1]) returns the 21 keypoints in that
view (pixels, with a relative depth), a hand-presence score, a handedness score and 3D "world"
keypoints (metres, about the hand's centre). Keypoints follow MediaPipe's order, which is
FreiHAND's (:mod:`cmr.hand.conventions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmr.detection.palm import MIDDLE_KNUCKLE_KEYPOINT, WRIST_KEYPOINT, Palm
from cmr.geometry.crop import warp_pixels
from cmr.geometry.pixel_maps import apply_affine, rotated_box_map

LANDMARK_INPUT = 224
#: Palm box -> hand region: shift along the hand by half the box, then 2.6 x its longer side.
PALM_SHIFT, PALM_SCALE = -0.5, 2.6
#: Keypoints -> hand region: shift by a tenth of the box, then 2 x its longer side.
KEYPOINT_SHIFT, KEYPOINT_SCALE = -0.1, 2.0
#: Keypoints whose box frames the hand for re-cropping: wrist, thumb base, knuckles and the
#: next joint of each finger (stable under finger motion).
_FRAMING_KEYPOINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
_INDEX_KNUCKLE, _MIDDLE_KNUCKLE, _RING_KNUCKLE = 5, 9, 13


@dataclass(frozen=True)
class Roi:
    """A rotated square region of an image: ``centre`` (2,) and ``side`` pixels, ``angle``
    radians (the region's x axis along (cos, sin) in the image, y down)."""

    centre: np.ndarray
    side: float
    angle: float

    def to_view(self) -> np.ndarray:
        """(3, 3) map image pixels -> pixels of the 224 px landmark view."""
        return rotated_box_map(self.centre, self.side / 2.0, self.angle, LANDMARK_INPUT)


@dataclass(frozen=True)
class Landmarks:
    """The landmark network's answer for one region (image pixels).

    keypoints: (21, 2). depth: (21,) relative depth, pixels (smaller is nearer).
    world: (21, 3) metres about the hand's centre, camera axes (x right, y down).
    presence: probability that the region shows a hand. right: probability that the hand is
    a right hand in the un-mirrored image. roi: the region it was cropped from.
    """

    keypoints: np.ndarray
    depth: np.ndarray
    world: np.ndarray
    presence: float
    right: float
    roi: Roi


def _upright_angle(start: np.ndarray, end: np.ndarray) -> float:
    """Rotation (radians, in (-pi, pi]) that turns the direction start -> end to point up."""
    angle = np.pi / 2.0 - np.arctan2(-(end[1] - start[1]), end[0] - start[0])
    return float(np.arctan2(np.sin(angle), np.cos(angle)))


def _shifted_square(centre: np.ndarray, size: np.ndarray, angle: float, shift: float,
                    scale: float) -> Roi:
    """A region ``scale`` x the longer side of a (w, h) box, moved by ``shift`` x h along the
    box's turned y axis."""
    along = np.array([-np.sin(angle), np.cos(angle)]) * shift * size[1]
    return Roi(centre=centre + along, side=float(scale * size.max()), angle=angle)


def roi_from_palm(palm: Palm) -> Roi:
    """The hand region around a detected palm (pixels of its image)."""
    angle = _upright_angle(palm.keypoints[WRIST_KEYPOINT], palm.keypoints[MIDDLE_KNUCKLE_KEYPOINT])
    centre = (palm.box[:2] + palm.box[2:]) / 2.0
    return _shifted_square(centre, palm.box[2:] - palm.box[:2], angle, PALM_SHIFT, PALM_SCALE)


def roi_from_keypoints(keypoints: np.ndarray) -> Roi:
    """The hand region framing (21, 2) keypoints (pixels), turned so the hand points up."""
    knuckles = (keypoints[_INDEX_KNUCKLE] + keypoints[_RING_KNUCKLE]) / 2.0
    angle = _upright_angle(keypoints[0], (knuckles + keypoints[_MIDDLE_KNUCKLE]) / 2.0)
    cos, sin = np.cos(angle), np.sin(angle)
    to_hand = np.array([[cos, sin], [-sin, cos]])
    turned = keypoints[list(_FRAMING_KEYPOINTS)] @ to_hand.T
    low, high = turned.min(axis=0), turned.max(axis=0)
    centre = ((low + high) / 2.0) @ to_hand
    return _shifted_square(centre, high - low, angle, KEYPOINT_SHIFT, KEYPOINT_SCALE)


def view_of(image: np.ndarray, roi: Roi) -> np.ndarray:
    """(1, 224, 224, 3) float32 network input of a region of an (H, W, 3) uint8 RGB image."""
    pixels = warp_pixels(image, roi.to_view(), LANDMARK_INPUT)
    return (pixels.astype(np.float32) / 255.0)[None]


def read_landmarks(outputs: list[np.ndarray], roi: Roi) -> Landmarks:
    """Decode the network's outputs (screen (1, 63), presence (1, 1), handedness (1, 1),
    world (1, 63)) for a region into image pixels and camera-axis metres."""
    screen, presence, handedness, world = (np.asarray(o, dtype=np.float64).reshape(-1) for o in outputs)
    screen = screen.reshape(21, 3)
    to_image = np.linalg.inv(roi.to_view())
    keypoints = apply_affine(to_image, screen[:, :2] - 0.5)
    cos, sin = np.cos(roi.angle), np.sin(roi.angle)
    world = world.reshape(21, 3)
    world_xy = world[:, :2] @ np.array([[cos, sin], [-sin, cos]])
    return Landmarks(keypoints=keypoints, depth=screen[:, 2] * roi.side / LANDMARK_INPUT,
                     world=np.concatenate([world_xy, world[:, 2:]], axis=1),
                     presence=float(presence[0]), right=float(handedness[0]), roi=roi)
