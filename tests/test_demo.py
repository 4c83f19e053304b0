"""Detected hands through the crop policy, mirroring, and the demo command (cmr.engine.hands / demo)."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
import trimesh

from cmr import REPO_ROOT
from cmr.cli import main as cli_main
from cmr.config import load_cfg
from cmr.detection import HandDetection
from cmr.engine.checkpoint import load_checkpoint, load_weights, run_config, save_checkpoint
from cmr.engine.hands import HandSettings, predict_side
from cmr.engine.inputs import output_ids
from cmr.fileio import OUTPUT_MANIFEST
from cmr.geometry.camera import intrinsics_from_fov, mirror_intrinsics
from cmr.mesh.ply import read_ply
from cmr.models.build import build_model, load_template
from cmr.models.prediction import mirror_prediction

COMPACT_YAML = REPO_ROOT / "configs" / "compact.yaml"
BUNDLED = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"
SAMPLES = REPO_ROOT / "cmr" / "assets" / "samples"


@pytest.fixture(scope="module")
def compact():
    """(cfg, random-init compact model in eval mode, template)."""
    torch.manual_seed(0)
    cfg = load_cfg(str(COMPACT_YAML), ["DEVICE", "cpu"])
    template = load_template(cfg.MODEL.TEMPLATE)
    return cfg, build_model(cfg, template).eval(), template


@pytest.fixture
def checkpoint(compact, tmp_path):
    """The random compact model saved as one of our checkpoints (with its template identity)."""
    cfg, model, template = compact
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"model": model.state_dict(), "cfg": cfg.dump(), "template": template.identity()})
    return path


@pytest.fixture(scope="module")
def sample_image(freihand_samples_dir):
    """A FreiHAND crop whose principal point is far from the centre: (RGB image, K)."""
    image = cv2.cvtColor(cv2.imread(str(freihand_samples_dir / "889_img.jpg")), cv2.COLOR_BGR2RGB)
    return image, np.load(freihand_samples_dir / "889_K.npy")


def _detection(keypoints: np.ndarray, side: str = "right") -> HandDetection:
    """A detected hand with the given (21, 2) keypoints (pixels), all fully confident."""
    return HandDetection(box=np.concatenate([keypoints.min(0), keypoints.max(0)]), side=side, handedness=1.0,
                         score=1.0, palm_score=1.0, keypoints=keypoints, confidence=np.ones(21),
                         depth=np.zeros(21), world=np.zeros((21, 3)))


def _hand_keypoints(width: int, height: int) -> np.ndarray:
    """(21, 2) pixels: a fixed, asymmetric spread of keypoints in the middle of a width x height image."""
    angles = np.linspace(0.0, 1.5 * np.pi, 21)
    radius = np.linspace(0.1, 0.35, 21)
    return np.stack([width * (0.45 + radius * np.cos(angles)), height * (0.55 + radius * np.sin(angles))], axis=1)


def _predict(compact, images, Ks, keypoints, left=False):
    cfg, model, template = compact
    detections = [_detection(points, "left" if left else "right") for points in keypoints]
    return predict_side(model, images, Ks, detections, template.joint_regressor, HandSettings.from_config(cfg), left)


def test_predict_shapes_and_consistency(compact, sample_image):
    image, K = sample_image
    size, n = compact[0].MODEL.INPUT_SIZE, compact[2].num_vertices[0]
    noise = np.random.default_rng(2).integers(0, 256, (150, 90, 3), dtype=np.uint8)
    prediction = _predict(compact, [image, noise], [K, intrinsics_from_fov(90, 150, 50.0)],
                          [_hand_keypoints(image.shape[1], image.shape[0]), _hand_keypoints(90, 150)])
    shapes = {"vertices_relative": (2, n, 3), "joints_relative": (2, 21, 3), "heatmaps": (2, 21, size // 2, size // 2),
              "mask": (2, size, size), "uv": (2, 21, 2), "confidence": (2, 21), "K": (2, 3, 3),
              "input_from_image": (2, 3, 3), "vertices": (2, n, 3), "joints": (2, 21, 3)}
    for name, shape in shapes.items():
        value = getattr(prediction, name)
        assert value.shape == shape and torch.isfinite(value).all(), name
    translation = prediction.registration.translation[:, None]
    torch.testing.assert_close(prediction.vertices, prediction.vertices_relative + translation)
    K_input = prediction.input_from_image[0].numpy() @ K  # the input's K is the map applied to the image's
    np.testing.assert_allclose(prediction.K[0].numpy(), K_input, rtol=1e-5, atol=1e-3)
    one = prediction.sample(1)
    assert one.vertices.shape == (n, 3) and one.mask.shape == (size, size) and isinstance(one.success, bool)


def test_left_hand_is_the_mirrored_right_hand(compact, sample_image):
    """Predicting a left hand on the mirrored image (keypoints u -> W - 1 - u) gives the mirror of
    the right-hand prediction."""
    image, K = sample_image
    keypoints = _hand_keypoints(image.shape[1], image.shape[0])
    right = _predict(compact, [image], [K], [keypoints])
    left = _predict(compact, [np.ascontiguousarray(image[:, ::-1])], [mirror_intrinsics(K, image.shape[1])],
                    [keypoints * (-1.0, 1.0) + (image.shape[1] - 1.0, 0.0)], left=True)
    expected = mirror_prediction(right, [image.shape[1]])
    for name in ("vertices", "joints", "vertices_relative", "uv", "mask", "K"):
        torch.testing.assert_close(getattr(left, name), getattr(expected, name), atol=1e-4, rtol=1e-4)
    twice = mirror_prediction(mirror_prediction(right, [image.shape[1]]), [image.shape[1]])
    torch.testing.assert_close(twice.vertices, right.vertices)
    torch.testing.assert_close(twice.input_from_image, right.input_from_image)


def _demo(checkpoint, inputs, output, *extra) -> int:
    """Run the demo command; flags among ``extra`` must come before its KEY VALUE pairs (argparse)."""
    flags = [item for item in extra if item.startswith("--")]
    pairs = [item for item in extra if not item.startswith("--")]
    return cli_main(["demo", "--checkpoint", str(checkpoint), "--input", str(inputs), "--output", str(output),
                     *flags, "DEVICE", "cpu", *pairs])


def test_demo_writes_outputs_and_skips_bad_files(checkpoint, freihand_samples_dir, tmp_path, hand_detector):
    inputs = tmp_path / "in"
    inputs.mkdir()
    ids = ["119", "889"]
    for sample_id in ids:
        for suffix in ("_img.jpg", "_K.npy"):
            shutil.copy(freihand_samples_dir / f"{sample_id}{suffix}", inputs)
    wide = cv2.copyMakeBorder(cv2.imread(str(freihand_samples_dir / "119_img.jpg")), 0, 0, 40, 60, cv2.BORDER_REFLECT)
    cv2.imwrite(str(inputs / "wide.png"), wide)                      # no K: FOV intrinsics
    (inputs / "corrupt.jpg").write_bytes((freihand_samples_dir / "119_img.jpg").read_bytes()[:300])
    (inputs / "notes.txt").write_text("not an image\n")
    np.save(inputs / "normalised_K.npy", np.array([[2.4, 0, 0.5], [0, 2.4, 0.5], [0, 0, 1.0]]))
    cv2.imwrite(str(inputs / "normalised.png"), wide[:224, :224])
    output = tmp_path / "out"
    output.mkdir()
    (output / "mine.txt").write_text("the user's own file")
    (output / "old_plot.jpg").write_text("an earlier demo's output")
    (output / OUTPUT_MANIFEST).write_text(json.dumps(["old_plot.jpg"]))

    assert _demo(checkpoint, inputs, output, "DEMO.FOV", "50") == 0

    written = {path.name for path in output.iterdir()}
    assert {f"{i}_hand0{kind}" for i in ids + ["wide"] for kind in ("_plot.jpg", "_mesh.ply", ".json")} <= written
    assert {f"{i}_overlay.jpg" for i in ids + ["wide"]} | {"contact_sheet.jpg"} <= written
    assert "old_plot.jpg" not in written and "mine.txt" in written and not any(n.startswith("normalised") for n in written)
    vertices, _ = read_ply(output / "889_hand0_mesh.ply")
    assert vertices.shape == (778, 3) and np.isfinite(vertices).all()
    assert cv2.imread(str(output / "wide_overlay.jpg")).shape == wide.shape
    assert cv2.imread(str(output / "119_hand0_plot.jpg")).shape == (300, 1500, 3)
    record = json.loads((output / "889_hand0.json").read_text())
    assert record["side"] == "right" and record["K_source"] == "K file 889_K.npy"
    assert np.array(record["joints_camera_m"]).shape == (21, 3) and record["translation_m"][2] > 0
    assert np.array(record["detector"]["keypoints"]).shape == (21, 2)
    assert json.loads((output / "wide_hand0.json").read_text())["K_source"] == "field of view 50 degrees"
    fit = record["fit"]
    assert np.array(fit["pose"]).shape == (16, 3) and len(fit["shape"]) == 10 and len(fit["translation"]) == 3
    fitted, _ = read_ply(output / "889_hand0_fit.ply")
    assert fitted.shape == (778, 3) and np.allclose(fitted.mean(0), np.mean(fit["joints"], 0), atol=0.05)


def test_demo_finds_every_hand_and_its_side(checkpoint, freihand_samples_dir, ge_real_dir, tmp_path, hand_detector):
    left = cv2.imread(str(ge_real_dir / "images" / "00003.jpg"))
    right = cv2.imread(str(freihand_samples_dir / "64_img.jpg"))
    photo = np.full((480, 640, 3), 90, np.uint8)
    photo[40:296, 20:276] = left
    photo[200:424, 380:604] = right
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "two.png"), photo)
    assert _demo(checkpoint, tmp_path / "in", tmp_path / "out") == 0
    records = [json.loads((tmp_path / "out" / f"two_hand{k}.json").read_text()) for k in (0, 1)]
    by_side = {record["side"]: record for record in records}
    assert set(by_side) == {"left", "right"}
    assert by_side["left"]["detector"]["box"][2] < 320 < by_side["right"]["detector"]["box"][0]
    assert cv2.imread(str(tmp_path / "out" / "two_overlay.jpg")).shape == photo.shape
    assert _demo(checkpoint, tmp_path / "in", tmp_path / "forced", "--right") == 0
    assert {json.loads(p.read_text())["side"] for p in (tmp_path / "forced").glob("two_hand*.json")} == {"right"}


def test_demo_refuses_what_contradicts_the_weights(checkpoint, tmp_path, capsys):
    inputs = REPO_ROOT / "cmr" / "assets" / "samples"
    assert _demo(checkpoint, inputs, tmp_path / "out", "MODEL.INPUT_SIZE", "224") == 2
    assert "MODEL.INPUT_SIZE: 224 vs 128" in capsys.readouterr().err
    assert _demo(checkpoint, inputs, tmp_path / "out", "MODEL.TEMPLATE", "/nonexistent") == 2
    assert "/nonexistent" in capsys.readouterr().err
    other = tmp_path / "other_template"
    shutil.copytree(REPO_ROOT / "template", other)
    stored = torch.load(checkpoint, weights_only=False)
    stored["template"] = {"name": "hand", "checksum": "0" * 64}
    save_checkpoint(checkpoint, stored)
    assert _demo(checkpoint, inputs, tmp_path / "out", "MODEL.TEMPLATE", str(other)) == 2
    message = capsys.readouterr().err
    assert "was trained with template 'hand' (checksum 0000000000000000)" in message and "99863e" not in message[:0]


def test_demo_errors_and_empty_runs_exit_non_zero(checkpoint, tmp_path, capsys, hand_detector):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _demo(checkpoint, empty, tmp_path / "out") == 2
    assert "holds no files" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert _demo(checkpoint, REPO_ROOT / "cmr" / "assets" / "samples", tmp_path / "file" / "out") == 2
    assert "is a regular file" in capsys.readouterr().err
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "black.png"), np.zeros((64, 64, 3), np.uint8))
    assert _demo(checkpoint, tmp_path / "in", tmp_path / "out", "--left") == 1
    err = capsys.readouterr().err
    assert "skipped black.png: no hand found" in err and "no mesh written" in err
    assert [path.name for path in (tmp_path / "out").iterdir()] == [OUTPUT_MANIFEST]


def test_demo_reports_a_missing_checkpoint(tmp_path, capsys):
    assert cli_main(["demo", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_output_ids_follow_freihand_naming_and_stay_unique(tmp_path):
    paths = [tmp_path / name for name in ("64_img.jpg", "hand.jpg", "hand.png", "x_img.png")]
    assert output_ids(paths) == {paths[0]: "64", paths[1]: "hand_jpg", paths[2]: "hand_png", paths[3]: "x"}


@pytest.fixture(scope="module")
def textured(tmp_path_factory):
    """The bundled compact model with a colour head (``MODEL.TEXTURE``) whose albedo is a fixed,
    clearly red colour per vertex whatever the image: (cfg, model, template, checkpoint path,
    (N, 3) float32 albedo in [0, 1])."""
    stored = load_checkpoint(BUNDLED)
    cfg = run_config(stored, BUNDLED).clone()
    cfg.defrost()
    cfg.MODEL.TEXTURE, cfg.DEVICE = True, "cpu"
    template = load_template(cfg.MODEL.TEMPLATE)
    torch.manual_seed(0)
    model = load_weights(build_model(cfg, template), stored, BUNDLED, template, new_heads=("texture.",)).eval()
    rng = np.random.default_rng(0)
    n = template.num_vertices[0]
    red = torch.as_tensor(np.stack([rng.uniform(0.8, 0.95, n), rng.uniform(0.05, 0.2, n),
                                    rng.uniform(0.05, 0.2, n)], axis=1), dtype=torch.float32)
    with torch.no_grad():
        model.texture.albedo.weight.zero_()
        model.texture.albedo.bias.copy_(torch.logit(red).reshape(-1))
    path = tmp_path_factory.mktemp("textured") / "textured.pt"
    save_checkpoint(path, {"model": model.state_dict(), "cfg": cfg.dump(), "template": template.identity()})
    return cfg, model, template, path, torch.sigmoid(torch.logit(red)).numpy()


def _mesh_colours(textured_path, plain_path) -> tuple[np.ndarray, np.ndarray]:
    """(3,) mean RGB of two renderings of one mesh (textured, plain) where they differ clearly."""
    textured, plain = (cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.int64)
                       for path in (textured_path, plain_path))
    drawn = np.abs(textured - plain).sum(-1) > 60
    assert drawn.sum() > 200, "no hand drawn"
    return textured[drawn].mean(0), plain[drawn].mean(0)


def test_demo_writes_and_renders_the_colour_heads_vertex_colours(textured, tmp_path, hand_detector):
    """With the colour head the mesh PLY carries the predicted colours and the overlays show them;
    without it (the bundled model: the same weights but the head) the same mesh is written
    uncoloured and overlaid light blue."""
    _, _, _, checkpoint, albedo = textured
    inputs = tmp_path / "in"
    inputs.mkdir()
    for suffix in ("_img.jpg", "_K.npy"):
        shutil.copy(SAMPLES / f"0000{suffix}", inputs)
    for name, weights in (("textured", checkpoint), ("plain", BUNDLED)):
        assert _demo(weights, inputs, tmp_path / name, "FITTING.ENABLED", "False") == 0
    textured_mesh, plain_mesh = (trimesh.load(tmp_path / name / "0000_hand0_mesh.ply", process=False)
                                 for name in ("textured", "plain"))
    np.testing.assert_allclose(textured_mesh.vertices, plain_mesh.vertices, atol=1e-5)
    assert textured_mesh.visual.kind == "vertex" and plain_mesh.visual.kind is None
    np.testing.assert_array_equal(textured_mesh.visual.vertex_colors[:, :3], np.round(albedo * 255).astype(np.uint8))
    for picture in ("0000_overlay.jpg", "0000_hand0_plot.jpg"):  # the photo's; the hand's in the plot
        reddish, bluish = _mesh_colours(tmp_path / "textured" / picture, tmp_path / "plain" / picture)
        assert reddish[0] > reddish[1] + 60 and reddish[0] > reddish[2] + 60, (picture, reddish)
        assert bluish[2] > bluish[0], (picture, bluish)


def test_left_hand_colours_and_light_are_the_mirrored_right_hands(textured):
    """Colours are per vertex (kept by mirroring); the light's direction mirrors through x = 0."""
    cfg, model, template, _, albedo = textured
    image = cv2.cvtColor(cv2.imread(str(SAMPLES / "0000_img.jpg")), cv2.COLOR_BGR2RGB)
    K = np.load(SAMPLES / "0000_K.npy")
    keypoints = _hand_keypoints(image.shape[1], image.shape[0])
    compact = (cfg, model, template)
    right = _predict(compact, [image], [K], [keypoints])
    left = _predict(compact, [np.ascontiguousarray(image[:, ::-1])], [mirror_intrinsics(K, image.shape[1])],
                    [keypoints * (-1.0, 1.0) + (image.shape[1] - 1.0, 0.0)], left=True)
    np.testing.assert_allclose(right.sample(0).albedo, albedo, atol=1e-6)
    torch.testing.assert_close(left.albedo, right.albedo)
    torch.testing.assert_close(left.light, right.light * torch.tensor([-1.0] + [1.0] * 8), atol=1e-5, rtol=1e-4)
    assert right.light[0, 0] != 0
