"""``cmr detect`` on folders and videos, and where the photo commands take K from."""

import json
import math
import shutil

import cv2
import numpy as np
from PIL import Image

from cmr.cli import main as cli_main
from cmr.data.intrinsics import FULL_FRAME_DIAGONAL_MM, read_intrinsics
from cmr.fileio import read_rgb


def _exif_jpeg(path, focal_35mm=None, focal_mm=None, plane_resolution=None):
    """A 320 x 240 JPEG with the given EXIF focal-length tags."""
    image = Image.fromarray(np.full((240, 320, 3), 128, np.uint8))
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    if focal_35mm is not None:
        ifd[0xA405] = focal_35mm
    if focal_mm is not None:
        ifd[0x920A], ifd[0xA20E], ifd[0xA210] = focal_mm, plane_resolution, 4
    image.save(path, exif=exif)
    return path


def test_intrinsics_from_exif_35mm_focal_length(tmp_path):
    path = _exif_jpeg(tmp_path / "phone.jpg", focal_35mm=28)
    K, source = read_intrinsics(path, 320, 240, 45.0)
    assert np.isclose(K[0, 0], 28 * math.hypot(320, 240) / FULL_FRAME_DIAGONAL_MM) and K[0, 0] == K[1, 1]
    assert np.allclose(K[:2, 2], (159.5, 119.5)) and "EXIF 35 mm" in source


def test_intrinsics_from_exif_focal_plane_resolution(tmp_path):
    path = _exif_jpeg(tmp_path / "camera.jpg", focal_mm=4.0, plane_resolution=100.0)  # 100 px per mm
    K, source = read_intrinsics(path, 320, 240, 45.0)
    assert np.isclose(K[0, 0], 400.0) and source.startswith("EXIF focal length")


def test_exif_that_does_not_fit_the_image_falls_back_to_the_field_of_view(tmp_path):
    path = _exif_jpeg(tmp_path / "resized.jpg", focal_mm=4.0, plane_resolution=5000.0)  # the original's sensor
    K, source = read_intrinsics(path, 320, 240, 45.0)
    assert np.isclose(K[0, 0], 160 / math.tan(math.radians(22.5)))
    assert source.startswith("field of view 45 degrees (EXIF focal length 4 mm does not fit a 320x240 image")


def test_a_K_file_wins_over_exif_and_no_exif_falls_back_to_the_field_of_view(tmp_path):
    path = _exif_jpeg(tmp_path / "phone.jpg", focal_35mm=28)
    K_file = np.array([[300.0, 0, 150], [0, 300, 110], [0, 0, 1]])
    np.save(tmp_path / "phone_K.npy", K_file)
    K, source = read_intrinsics(path, 320, 240, 45.0)
    assert np.allclose(K, K_file) and source == "K file phone_K.npy"
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), np.zeros((240, 320, 3), np.uint8))
    K, source = read_intrinsics(plain, 320, 240, 60.0)
    assert np.isclose(K[0, 0], 160 / math.tan(math.radians(30))) and source == "field of view 60 degrees"


def test_detect_writes_hands_and_s2hand_keypoints(tmp_path, freihand_samples_dir, hand_detector):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("64_img.jpg", "119_img.jpg"):
        shutil.copy(freihand_samples_dir / name, photos / name)
    cv2.imwrite(str(photos / "wall.png"), np.full((200, 300, 3), 200, np.uint8))
    (photos / "notes.txt").write_text("not an image")
    assert cli_main(["detect", "--input", str(photos), "--output", str(tmp_path / "out"), "--draw"]) == 0
    record = json.loads((tmp_path / "out" / "64_hands.json").read_text())
    assert record["image"] == "64_img.jpg" and (record["width"], record["height"]) == (224, 224)
    hand = record["hands"][0]
    assert hand["side"] == "right" and np.array(hand["keypoints"]).shape == (21, 2)
    assert np.array(hand["world"]).shape == (21, 3) and len(hand["confidence"]) == 21
    assert json.loads((tmp_path / "out" / "wall_hands.json").read_text())["hands"] == []
    xy, values, names = json.loads((tmp_path / "out" / "detect.json").read_text())
    assert names == [["119_img.jpg"], ["64_img.jpg"], ["wall.png"]]
    assert np.array(xy).shape == (3, 21, 2) and np.array(values).shape == (3, 21, 1)
    assert np.allclose(np.array(xy[1]), np.round(hand["keypoints"]), atol=1) and not np.any(values[2])
    assert read_rgb(tmp_path / "out" / "64_hands.jpg").shape == (224, 224, 3)


def test_detect_reads_every_nth_frame_of_a_video(tmp_path, ge_real_dir, hand_detector):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for index in range(4):
        writer.write(cv2.imread(str(ge_real_dir / "images" / f"{index:05d}.jpg")))
    writer.release()
    assert cli_main(["detect", "--input", str(video), "--output", str(tmp_path / "out"), "--every", "2"]) == 0
    found = sorted(p.name for p in (tmp_path / "out").glob("*_hands.json"))
    assert found == ["clip_000000_hands.json", "clip_000002_hands.json"]
    assert json.loads((tmp_path / "out" / found[0]).read_text())["hands"][0]["side"] == "left"


def test_detect_refuses_what_it_cannot_read(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert cli_main(["detect", "--input", str(tmp_path / "notes.txt"), "--output", str(tmp_path / "out")]) == 2
    assert "neither a folder nor a video" in capsys.readouterr().err
    assert cli_main(["detect", "--input", str(tmp_path / "missing"), "--every", "1"]) == 2
    assert cli_main(["detect", "--input", str(tmp_path), "--every", "0"]) == 2
