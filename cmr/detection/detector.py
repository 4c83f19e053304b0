"""``HandDetector``: every hand in a photo, with box, handedness, score and 21 keypoints.

Google's MediaPipe hand networks (:mod:`cmr.detection.model_files`) run in two stages, written
here on the project's own geometry: palms are found in several square views of the image (the
whole image letterboxed; the same with a margin, for hands that fill a tight crop; overlapping
tiles of large images, for small hands), merged, and each palm's hand region is given to the
landmark network, once as is and once mirrored (the mean of the two is the answer, and their
disagreement sets each keypoint's confidence). Hands found twice are reported once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmr.detection import model_files
from cmr.detection.landmarks import (LANDMARK_INPUT, Landmarks, Roi, read_landmarks, roi_from_keypoints,
                                     roi_from_palm, view_of)
from cmr.detection.palm import PALM_INPUT, Palm, box_containment, box_iou, merge_palms, palms_in_view
from cmr.detection.settings import DetectorConfig
from cmr.geometry.crop import warp_pixels
from cmr.geometry.pixel_maps import box_map

#: Keypoint disagreement (fraction of the hand region's side) at which confidence falls to 1/e.
CONFIDENCE_SCALE = 0.03
#: Fraction of the smaller keypoint box inside the larger beyond which two answers are one hand.
DUPLICATE_CONTAINMENT = 0.8
#: Tiles of large images: the first level's 2 x 2 squares are this fraction of the longer side.
TILE_FRACTION = 0.6


@dataclass(frozen=True)
class HandDetection:
    """One hand in an image (pixels of that image, pixel centres at integers).

    box: (4,) x0, y0, x1, y1 of the keypoints. side: 'left' or 'right' (in the image as
    given, not mirrored). handedness: probability of ``side``. score: hand-presence
    probability. palm_score: the palm detector's score. keypoints: (21, 2), FreiHAND order.
    confidence: (21,) in [0, 1]. depth: (21,) relative depth, pixels. world: (21, 3) metres
    about the hand's centre, camera axes.
    """

    box: np.ndarray
    side: str
    handedness: float
    score: float
    palm_score: float
    keypoints: np.ndarray
    confidence: np.ndarray
    depth: np.ndarray
    world: np.ndarray

    def to_json(self) -> dict:
        """JSON-ready dict (lists of floats)."""
        rounded = lambda a, d=3: np.round(np.asarray(a, dtype=np.float64), d).tolist()  # noqa: E731
        return {"box": rounded(self.box, 2), "side": self.side, "handedness": round(self.handedness, 4),
                "score": round(self.score, 4), "palm_score": round(self.palm_score, 4),
                "keypoints": rounded(self.keypoints, 2), "confidence": rounded(self.confidence),
                "depth": rounded(self.depth, 2), "world": rounded(self.world, 5)}


def square_views(width: int, height: int, config: DetectorConfig) -> list[np.ndarray]:
    """(3, 3) maps image -> 192 px palm views: the letterboxed image, the same with a margin
    of ``config.border`` x the longer side and, for large images, tiles: at level k (from 1)
    (k + 1) x (k + 1) overlapping squares of ``TILE_FRACTION * 2 / (k + 1)`` x the longer
    side, for images whose longer side is at least ``k * config.tile_min_side`` pixels."""
    centre, half = np.array([(width - 1) / 2.0, (height - 1) / 2.0]), max(width, height) / 2.0
    views = [box_map(centre, half, PALM_INPUT), box_map(centre, half * (1.0 + 2.0 * config.border), PALM_INPUT)]
    level = 1
    while config.tile_min_side > 0 and max(width, height) >= level * config.tile_min_side:
        tile_half = TILE_FRACTION * 2.0 * half / (level + 1)
        for x in np.linspace(tile_half - 0.5, width - 0.5 - tile_half, level + 1):
            for y in np.linspace(tile_half - 0.5, height - 0.5 - tile_half, level + 1):
                views.append(box_map((x, y), tile_half, PALM_INPUT))
        level += 1
    return views


class HandDetector:
    """Offline hand detector (see the module docstring). Not thread-safe: one per thread."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig.defaults()
        models = model_files.read_models(model_files.bundle_path(self.config.model_file))
        self._palm = model_files.interpreter(models[model_files.PALM_MODEL], self.config.threads)
        self._landmarks = model_files.interpreter(models[model_files.LANDMARK_MODEL], self.config.threads)

    @staticmethod
    def _run(network, tensor: np.ndarray) -> list[np.ndarray]:
        network.set_tensor(network.get_input_details()[0]["index"], np.ascontiguousarray(tensor))
        network.invoke()
        return [network.get_tensor(d["index"]) for d in network.get_output_details()]

    def palms(self, image: np.ndarray) -> list[Palm]:
        """Palms of an (H, W, 3) uint8 RGB image over all its views, merged, best first."""
        found = []
        for to_view in square_views(image.shape[1], image.shape[0], self.config):
            view = warp_pixels(image, to_view, PALM_INPUT).astype(np.float32) / 255.0
            boxes, scores = self._run(self._palm, view[None])
            found += palms_in_view(boxes[0], scores[0, :, 0], np.linalg.inv(to_view),
                                   self.config.palm_score, self.config.nms_iou)
        if not found:
            return []
        merged = merge_palms(np.stack([p.box for p in found]), np.stack([p.keypoints for p in found]),
                             np.array([p.score for p in found]), self.config.nms_iou)
        return [Palm(box=box, keypoints=points, score=score) for box, points, score in merged]

    def landmarks(self, image: np.ndarray, roi: Roi, mirrored: bool = True) -> tuple[Landmarks, np.ndarray | None]:
        """Keypoints of one region, averaged with those of its mirror image; also (21,) the
        distance between the two answers, pixels. ``mirrored`` False: one pass, the direct answer
        and None (no disagreement to measure)."""
        view = view_of(image, roi)
        direct = self._run(self._landmarks, view)
        first = read_landmarks(direct, roi)
        if not mirrored:
            return first, None
        mirrored_outputs = self._run(self._landmarks, view[:, :, ::-1])
        screen, world = (mirrored_outputs[i].reshape(21, 3) * np.array([-1.0, 1.0, 1.0]) for i in (0, 3))
        screen[:, 0] += LANDMARK_INPUT
        second = read_landmarks([screen.reshape(1, 63), mirrored_outputs[1], mirrored_outputs[2], world.reshape(1, 63)],
                                roi)
        mean = Landmarks(keypoints=(first.keypoints + second.keypoints) / 2.0,
                         depth=(first.depth + second.depth) / 2.0, world=(first.world + second.world) / 2.0,
                         presence=(first.presence + second.presence) / 2.0,
                         right=(first.right + 1.0 - second.right) / 2.0, roi=roi)
        return mean, np.linalg.norm(first.keypoints - second.keypoints, axis=1)

    def detect(self, image: np.ndarray) -> list[HandDetection]:
        """Every hand of an (H, W, 3) uint8 RGB image, most confident first."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"the detector needs an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        hands = []
        for palm in self.palms(image):
            hand = self._hand(image, palm)
            if hand is not None and not any(self.same_hand(hand, other) for other in hands):
                hands.append(hand)
        hands.sort(key=lambda h: -h.score * h.palm_score)
        return hands[: self.config.max_hands]

    def same_hand(self, hand: HandDetection, other: HandDetection) -> bool:
        """Two answers are one hand when their keypoint boxes overlap by more than
        ``duplicate_iou``, or one lies mostly (``DUPLICATE_CONTAINMENT``) inside the other (a
        finger region read as a second, small hand)."""
        boxes = other.box[None]
        return bool(box_iou(hand.box, boxes)[0] > self.config.duplicate_iou
                    or box_containment(hand.box, boxes)[0] > DUPLICATE_CONTAINMENT)

    def _hand(self, image: np.ndarray, palm: Palm) -> HandDetection | None:
        """The hand around one palm, or None when the landmark network sees no hand there."""
        return self._hand_in(image, roi_from_palm(palm), self.config.refine_passes, palm.score)

    def follow(self, image: np.ndarray, keypoints: np.ndarray, palm_score: float = 1.0) -> HandDetection | None:
        """The hand near (21, 2) keypoints of an earlier frame (video tracking, no palm search):
        one landmark pass re-cropped around them (with its mirror image unless
        ``config.follow_mirrored`` is off); None when the hand is gone. ``palm_score`` is carried
        over from the detection that started the track."""
        return self._hand_in(image, roi_from_keypoints(np.asarray(keypoints, dtype=np.float64)), 0, palm_score,
                             self.config.follow_mirrored)

    def _hand_in(self, image: np.ndarray, roi: Roi, refine_passes: int, palm_score: float,
                 mirrored: bool = True) -> HandDetection | None:
        """The hand in a region, re-cropped ``refine_passes`` times, or None below ``hand_score``.
        Each keypoint's confidence is the presence score, lowered by the disagreement with the
        mirrored pass (when ``mirrored``)."""
        marks, disagreement = self.landmarks(image, roi, mirrored)
        for _ in range(refine_passes):
            if marks.presence < self.config.hand_score:
                break
            roi = roi_from_keypoints(marks.keypoints)
            marks, disagreement = self.landmarks(image, roi, mirrored)
        if marks.presence < self.config.hand_score:
            return None
        agreement = 1.0 if disagreement is None else np.exp(-(disagreement / (CONFIDENCE_SCALE * roi.side)) ** 2)
        confidence = marks.presence * agreement * np.ones(len(marks.keypoints))
        right = marks.right >= 0.5
        return HandDetection(
            box=np.concatenate([marks.keypoints.min(axis=0), marks.keypoints.max(axis=0)]),
            side="right" if right else "left", handedness=marks.right if right else 1.0 - marks.right,
            score=marks.presence, palm_score=palm_score, keypoints=marks.keypoints, confidence=confidence,
            depth=marks.depth, world=marks.world)
