"""The offline hand detector on real crops, composed multi-hand photos and bad input."""

import cv2
import numpy as np
import pytest

from cmr.data.ge_real import GeRealWorld
from cmr.detection import DetectorConfig, DetectorUnavailable, HandDetector
from cmr.detection.detector import square_views
from cmr.detection.landmarks import Roi, roi_from_keypoints
from cmr.detection.model_files import read_models
from cmr.fileio import read_rgb
from cmr.geometry.camera import project_points
from cmr.geometry.pixel_maps import apply_affine, box_map, rotated_box_map


def test_rotated_box_map_turns_the_box_axes_onto_the_crop_axes():
    assert np.allclose(rotated_box_map((40.0, 30.0), 20.0, 0.0, 64), box_map((40.0, 30.0), 20.0, 64))
    angle = 0.7
    matrix = rotated_box_map((40.0, 30.0), 20.0, angle, 64)
    along_x = np.array([40.0, 30.0]) + 20.0 * np.array([np.cos(angle), np.sin(angle)])
    assert np.allclose(apply_affine(matrix, along_x), (63.5, 31.5))


def test_region_from_keypoints_points_the_hand_up():
    upright = np.zeros((21, 2))
    upright[:, 0] = np.linspace(-20, 20, 21)
    upright[:, 1] = -np.linspace(0, 80, 21)
    upright[0] = (0.0, 10.0)
    assert abs(roi_from_keypoints(upright).angle) < 0.3
    sideways = upright[:, ::-1] * (1.0, -1.0)  # fingers to the right of the wrist
    assert np.isclose(abs(roi_from_keypoints(sideways).angle), np.pi / 2, atol=0.3)


def test_large_images_are_searched_in_tiles():
    config = DetectorConfig.defaults(tile_min_side=480)
    assert len(square_views(256, 256, config)) == 2
    assert len(square_views(640, 480, config)) == 2 + 4
    assert len(square_views(1280, 720, config)) == 2 + 4 + 9


def test_a_bundle_with_another_checksum_is_refused(tmp_path):
    fake = tmp_path / "hand_landmarker.task"
    fake.write_bytes(b"not the model")
    with pytest.raises(DetectorUnavailable, match="hand_landmarker.task has sha256"):
        read_models(fake)
    with pytest.raises(DetectorUnavailable, match="DETECTOR.MODEL_FILE"):
        HandDetector(DetectorConfig.defaults(model_file=str(tmp_path / "missing.task")))


def test_bad_images_are_refused(hand_detector):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
        hand_detector.detect(np.zeros((64, 64), np.uint8))


def test_no_hand_in_a_plain_image(hand_detector):
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    assert hand_detector.detect(gradient) == []


def test_real_left_hands_are_found_with_their_keypoints(hand_detector, ge_real_dir):
    dataset, errors = GeRealWorld(ge_real_dir), []
    for index in range(0, 60, 6):
        sample = dataset[index]
        hands = hand_detector.detect(sample.image)
        assert len(hands) == 1 and hands[0].side == "left"
        truth = project_points(sample.joints, sample.K)
        errors.append(np.linalg.norm(hands[0].keypoints - truth, axis=1).mean())
        assert hands[0].confidence.shape == (21,) and 0 <= hands[0].confidence.min() <= hands[0].confidence.max() <= 1
    assert np.mean(errors) < 10.0


def test_tight_freihand_crops_are_found_as_right_hands(hand_detector, freihand_samples_dir):
    sides = [[hand.side for hand in hand_detector.detect(read_rgb(path))]
             for path in sorted(freihand_samples_dir.glob("*_img.jpg"))]
    assert all(len(found) == 1 for found in sides)
    assert sum(found == ["right"] for found in sides) >= 7


def _two_hand_photo(ge_real_dir, freihand_samples_dir, side: int) -> np.ndarray:
    """A 1280 x 720 grey photo with a left hand (Ge) and a right hand (FreiHAND), ``side`` px each."""
    left = cv2.resize(read_rgb(ge_real_dir / "images" / "00003.jpg"), (side, side), interpolation=cv2.INTER_AREA)
    right = cv2.resize(read_rgb(freihand_samples_dir / "64_img.jpg"), (side, side), interpolation=cv2.INTER_AREA)
    photo = np.full((720, 1280, 3), 90, np.uint8)
    photo[100:100 + side, 200:200 + side] = left
    photo[400:400 + side, 900:900 + side] = right
    return photo


@pytest.mark.parametrize("side", [240, 100])
def test_every_hand_of_a_photo_is_found_with_its_side(hand_detector, ge_real_dir, freihand_samples_dir, side):
    photo = _two_hand_photo(ge_real_dir, freihand_samples_dir, side)
    hands = sorted(hand_detector.detect(photo), key=lambda hand: hand.box[0])
    assert [hand.side for hand in hands] == ["left", "right"]
    assert 200 <= hands[0].box[0] and hands[0].box[2] <= 200 + side
    assert 900 <= hands[1].box[0] and hands[1].box[2] <= 900 + side
    mirrored = sorted(hand_detector.detect(np.ascontiguousarray(photo[:, ::-1])), key=lambda hand: hand.box[0])
    assert [hand.side for hand in mirrored] == ["left", "right"]  # the right hand, mirrored, is now on the left


def test_a_region_outside_the_image_is_not_a_hand(hand_detector):
    marks, _ = hand_detector.landmarks(np.zeros((100, 100, 3), np.uint8), Roi(np.array([50.0, 50.0]), 80.0, 0.0))
    assert marks.presence < 0.5


def test_a_small_box_inside_a_hand_is_the_same_hand():
    from cmr.detection.palm import box_containment, box_iou

    hand, fingertip = np.array([0.0, 0.0, 100.0, 100.0]), np.array([[10.0, 10.0, 30.0, 30.0]])
    assert box_iou(hand, fingertip)[0] < 0.05 and box_containment(hand, fingertip)[0] == 1.0
    assert box_containment(hand, np.array([[90.0, 90.0, 110.0, 110.0]]))[0] == pytest.approx(0.25)
