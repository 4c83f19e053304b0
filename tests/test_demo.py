"""Inference path, mirroring, plots and the demo command (cmr.engine.inference / demo, cmr.vis)."""

import dataclasses
import shutil

import cv2
import numpy as np
import pytest
import torch

from cmr import REPO_ROOT
from cmr.config import load_cfg
from cmr.engine import demo
from cmr.engine.checkpoint import save_checkpoint
from cmr.engine.inference import (
    hand_found, intrinsics_from_fov, mirror_faces, mirror_image, mirror_intrinsics,
    mirror_prediction, predict, predict_images, prepare_image,
)
from cmr.mesh.ply import read_ply
from cmr.models.build import build_model, load_template

COMPACT_YAML = REPO_ROOT / "configs" / "compact.yaml"


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(M, 3) camera-space points -> (M, 2) pixels."""
    image = points @ K.T
    return image[:, :2] / image[:, 2:]


@pytest.fixture(scope="module")
def compact():
    """(cfg, random-init compact model in eval mode, template)."""
    torch.manual_seed(0)
    cfg = load_cfg(str(COMPACT_YAML), ["DEVICE", "cpu"])
    template = load_template(cfg.MODEL.TEMPLATE)
    return cfg, build_model(cfg, template).eval(), template


@pytest.fixture(scope="module")
def sample_image(freihand_samples_dir):
    """A FreiHAND crop whose principal point is far from the centre: (RGB image, K)."""
    image = cv2.cvtColor(cv2.imread(str(freihand_samples_dir / "889_img.jpg")), cv2.COLOR_BGR2RGB)
    return image, np.load(freihand_samples_dir / "889_K.npy")


# ------------------------------------------------------------------ image preparation

CASES = [  # (height, width, fx, fy, skew, cx, cy, input size)
    (224, 224, 627.5, 627.4, 0.0, 146.4, 79.9, 128),   # FreiHAND 889: off-centre, shrink
    (100, 160, 300.0, 310.0, 2.0, 40.0, 70.0, 128),    # wide, padded top/bottom, shrink
    (90, 61, 200.0, 200.0, 0.0, 45.5, 20.0, 128),      # tall, odd padding, enlarge
]


@pytest.mark.parametrize("height, width, fx, fy, skew, cx, cy, size", CASES)
def test_prepare_image_maps_projections_exactly(height, width, fx, fy, skew, cx, cy, size):
    K = np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    tensor, K_input = prepare_image(np.zeros((height, width, 3), np.uint8), K, size)
    assert tensor.shape == (3, size, size) and tensor.dtype == torch.float32
    points = np.random.default_rng(0).uniform([-0.1, -0.1, 0.3], [0.1, 0.1, 0.8], (50, 3))
    side = max(height, width)
    left, top = (side - width) // 2, (side - height) // 2
    uv = project(points, K) + [left, top]                    # pad
    expected = (uv + 0.5) * size / side - 0.5                # resize, pixel centres at integers
    np.testing.assert_allclose(project(points, K_input), expected, atol=1e-4)


@pytest.mark.parametrize("height, width, fx, fy, skew, cx, cy, size", CASES)
def test_prepare_image_moves_pixels_with_K(height, width, fx, fy, skew, cx, cy, size):
    """A bright blob around a projected point ends up where K_input projects that point."""
    K = np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    u, v = 0.45 * width + 0.3, 0.55 * height - 0.2  # well inside: the blob is not cut
    point = 0.5 * np.linalg.solve(K, [u, v, 1.0])[None]
    rows, cols = np.mgrid[:height, :width]
    blob = np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * 5.0**2))
    image = np.repeat((255 * blob)[..., None], 3, axis=2).round().astype(np.uint8)
    tensor, K_input = prepare_image(image, K, size)
    weight = (tensor[0].numpy() + 1.0) / 2.0
    weight = weight * (weight > 0.05)
    rows, cols = np.mgrid[:size, :size]
    centroid = np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()
    np.testing.assert_allclose(centroid, project(point, K_input)[0], atol=0.25)


def test_intrinsics_from_fov_spans_the_image():
    K = intrinsics_from_fov(640, 480, 60.0)
    edge = np.array([[np.tan(np.radians(30.0)), 0.0, 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(project(edge, K), [[639.5, 239.5], [319.5, 239.5]], atol=1e-9)


# ------------------------------------------------------------------ mirroring


def test_mirroring_round_trip():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 31, 3), dtype=np.uint8)
    K = np.array([[300.0, 1.5, 10.0], [0.0, 310.0, 8.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(mirror_image(mirror_image(image)), image)
    np.testing.assert_array_equal(mirror_image(image)[:, 0], image[:, -1])
    np.testing.assert_allclose(mirror_intrinsics(mirror_intrinsics(K, 31), 31), K)
    points = rng.uniform([-0.1, -0.1, 0.3], [0.1, 0.1, 0.8], (20, 3))
    mirrored = points * [-1.0, 1.0, 1.0]
    uv, uv_mirrored = project(points, K), project(mirrored, mirror_intrinsics(K, 31))
    np.testing.assert_allclose(uv_mirrored, np.stack([30 - uv[:, 0], uv[:, 1]], axis=1), atol=1e-9)
    faces = np.array([[0, 1, 2]])
    triangle = points[:3]
    normal = np.cross(triangle[1] - triangle[0], triangle[2] - triangle[0])
    flipped = mirrored[mirror_faces(faces)[0]]
    normal_mirrored = np.cross(flipped[1] - flipped[0], flipped[2] - flipped[0])
    np.testing.assert_allclose(normal_mirrored, normal * [-1.0, 1.0, 1.0], atol=1e-12)


# ------------------------------------------------------------------ prediction


def test_predict_shapes_and_consistency(compact, sample_image):
    cfg, model, template = compact
    image, K = sample_image
    size = cfg.MODEL.INPUT_SIZE
    noise = np.random.default_rng(2).integers(0, 256, (150, 90, 3), dtype=np.uint8)
    prediction = predict_images(model, [image, noise], [K, intrinsics_from_fov(90, 150, 50.0)],
                                template, cfg.REGISTRATION, size)
    n = template.num_vertices[0]
    shapes = {
        "vertices_relative": (2, n, 3), "joints_relative": (2, 21, 3),
        "heatmaps": (2, 21, size // 2, size // 2),
        "mask": (2, size, size), "uv": (2, 21, 2), "confidence": (2, 21), "K": (2, 3, 3),
        "vertices": (2, n, 3), "joints": (2, 21, 3),
    }
    for name, shape in shapes.items():
        value = getattr(prediction, name)
        assert value.shape == shape, name
        assert torch.isfinite(value).all(), name
    assert prediction.registration.translation.shape == (2, 3)
    assert ((prediction.mask >= 0) & (prediction.mask <= 1)).all()
    translation = prediction.registration.translation[:, None]
    torch.testing.assert_close(prediction.vertices, prediction.vertices_relative + translation)
    regressor = torch.as_tensor(template.joint_regressor, dtype=torch.float32)
    torch.testing.assert_close(prediction.joints, torch.einsum("jn,bnc->bjc", regressor, prediction.vertices),
                               atol=1e-5, rtol=1e-5)
    _, K_input = prepare_image(image, K, size)
    torch.testing.assert_close(prediction.K[0], torch.as_tensor(K_input, dtype=torch.float32))
    one = prediction.sample(1)
    assert one.vertices.shape == (n, 3) and one.mask.shape == (size, size) and isinstance(one.success, bool)


def test_left_hand_is_the_mirrored_right_hand(compact, sample_image):
    """Predicting a left hand on the mirrored image gives the mirror of the right-hand prediction."""
    cfg, model, template = compact
    image, K = sample_image
    size = cfg.MODEL.INPUT_SIZE
    right = predict_images(model, [image], [K], template, cfg.REGISTRATION, size)
    left = predict_images(model, [mirror_image(image)], [mirror_intrinsics(K, image.shape[1])], template,
                          cfg.REGISTRATION, size, left=True)
    expected = mirror_prediction(right)
    for name in ("vertices", "joints", "vertices_relative", "uv", "mask", "K"):
        torch.testing.assert_close(getattr(left, name), getattr(expected, name), atol=1e-4, rtol=1e-4)
    twice = mirror_prediction(mirror_prediction(right))
    torch.testing.assert_close(twice.vertices, right.vertices)
    torch.testing.assert_close(twice.heatmaps, right.heatmaps)


def test_hand_found(compact, sample_image):
    cfg, model, template = compact
    image, K = sample_image
    tensor, K_input = prepare_image(image, K, cfg.MODEL.INPUT_SIZE)
    prediction = predict(model, tensor[None], K_input[None], template, cfg.REGISTRATION)
    failed = dataclasses.replace(prediction.registration, success=torch.zeros(1, dtype=torch.bool))
    empty = dataclasses.replace(prediction, registration=failed, mask=torch.zeros_like(prediction.mask))
    assert not hand_found(empty, 0.3)[0]
    blob = torch.zeros_like(prediction.mask)
    blob[:, 40:60, 40:60] = 0.9
    assert hand_found(dataclasses.replace(empty, mask=blob), 0.3)[0]
    assert hand_found(dataclasses.replace(prediction, mask=torch.zeros_like(prediction.mask)), 0.3)[0]


# ------------------------------------------------------------------ the demo


def test_demo_writes_outputs_and_skips_bad_files(compact, freihand_samples_dir, tmp_path):
    cfg, model, _ = compact
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "cfg": cfg.dump()})
    inputs = tmp_path / "in"
    inputs.mkdir()
    ids = ["119", "64", "889"]  # 64 and 889 have off-centre principal points (a few keep it quick)
    for sample_id in ids:
        for suffix in ("_img.jpg", "_K.npy"):
            shutil.copy(freihand_samples_dir / f"{sample_id}{suffix}", inputs)
    wide = cv2.copyMakeBorder(cv2.imread(str(freihand_samples_dir / f"{ids[0]}_img.jpg")), 0, 0, 40, 60,
                              cv2.BORDER_REFLECT)
    cv2.imwrite(str(inputs / "wide.png"), wide)                      # no K: FOV intrinsics
    (inputs / "corrupt.jpg").write_bytes((freihand_samples_dir / f"{ids[0]}_img.jpg").read_bytes()[:300])
    (inputs / "notes.txt").write_text("not an image\n")

    summary = demo.run_demo(cfg, checkpoint, inputs, tmp_path / "out", fov=50.0)

    assert sorted(summary.written) == sorted(ids + ["wide"])
    assert sorted(name for name, _ in summary.skipped) == ["corrupt.jpg", "notes.txt"]
    for sample_id in summary.written:
        plot = cv2.imread(str(tmp_path / "out" / f"{sample_id}_plot.jpg"))
        assert plot.shape == (300, 1500, 3)
        vertices, faces = read_ply(tmp_path / "out" / f"{sample_id}_mesh.ply")
        assert vertices.shape == (778, 3) and np.isfinite(vertices).all()
        overlay = cv2.imread(str(tmp_path / "out" / f"{sample_id}_overlay.jpg"))
        expected_shape = wide.shape if sample_id == "wide" else (224, 224, 3)
        assert overlay.shape == expected_shape


def test_output_ids_follow_freihand_naming_and_stay_unique(tmp_path):
    paths = [tmp_path / name for name in ("64_img.jpg", "hand.jpg", "hand.png", "x_img.png")]
    assert demo.output_ids(paths) == {paths[0]: "64", paths[1]: "hand_jpg", paths[2]: "hand_png",
                                      paths[3]: "x"}


def test_demo_main_reports_a_missing_checkpoint(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "BUNDLED_CHECKPOINT", tmp_path / "checkpoints" / "missing.pt")
    monkeypatch.setattr(demo, "REPO_ROOT", tmp_path)
    assert demo.main(["--input", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert "missing.pt" in message and "--checkpoint" in message


def test_demo_skips_images_without_a_hand(compact, sample_image, tmp_path, monkeypatch, capsys):
    cfg, model, _ = compact
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "cfg": cfg.dump()})
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "empty.png"), np.zeros((64, 64, 3), np.uint8))
    no_hand = lambda prediction, threshold: torch.zeros(len(prediction), dtype=torch.bool)  # noqa: E731
    monkeypatch.setattr(demo, "hand_found", no_hand)
    summary = demo.run_demo(cfg, checkpoint, tmp_path / "in", tmp_path / "out", left=True)
    assert summary.written == [] and summary.skipped[0][0] == "empty.png"
    assert "empty.png" in capsys.readouterr().err
    assert not list((tmp_path / "out").iterdir())


def test_bundled_checkpoint_is_the_compact_model_and_runs():
    from cmr.engine.checkpoint import load_model
    from cmr.engine.demo import BUNDLED_CHECKPOINT

    assert BUNDLED_CHECKPOINT.is_file(), "the bundled checkpoint must be committed"
    assert BUNDLED_CHECKPOINT.stat().st_size <= 30 * 2**20
    model, cfg, template = load_model(BUNDLED_CHECKPOINT)
    assert cfg.EXP_NAME == "compact_synth" and sum(p.numel() for p in model.parameters()) <= 15_000_000
    size = cfg.MODEL.INPUT_SIZE
    with torch.no_grad():
        mesh = model(torch.zeros(1, 3, size, size))["mesh"][0]
    assert mesh.shape == (1, template.num_vertices[0], 3) and torch.isfinite(mesh).all()
