"""The Template bundle: PLY I/O, save/load, checksums, CMR's released files, the committed build
and its machine independence (grid snapping of the hand model's rest mesh and regressor)."""

import hashlib
import json
import math

import numpy as np
import pytest

from cmr import TEMPLATE_DIR
from cmr.cli import main
from cmr.fileio import npz_bytes
from cmr.hand import MANO_TO_FREIHAND, build_hand_assets
from cmr.mesh.ply import read_ply, write_ply
from cmr.mesh.template import Template
from cmr.tools.hand_template import (
    REGRESSOR_STEPS,
    VERTEX_STEPS_PER_M,
    build_hand_template,
    grid_margin,
    snap_regressor,
    snap_to_grid,
    template_from_hand,
    write_hand_template,
)
from cmr.tools.template_report import regressor_accuracy_mm, template_report

# FreiHAND order: 4 thumb tip, 8 index tip, 12 middle tip, 16 ring tip, 20 little tip.
CMR_TIP_VERTICES = {4: 744, 8: 333, 12: 444, 16: 555, 20: 672}


def _tetrahedron():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int64)
    return vertices, faces


@pytest.mark.parametrize("ascii", [True, False])
def test_ply_round_trip_keeps_order(tmp_path, ascii):
    vertices, faces = _tetrahedron()
    vertices = vertices * 0.1 + 0.0123
    write_ply(tmp_path / "m.ply", vertices, faces, ascii=ascii)
    read_vertices, read_faces = read_ply(tmp_path / "m.ply")
    np.testing.assert_allclose(read_vertices, vertices, atol=1e-7)
    np.testing.assert_array_equal(read_faces, faces)
    assert not list(tmp_path.glob("*.tmp"))


def test_ply_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ply"):
        read_ply(tmp_path / "missing.ply")
    (tmp_path / "bad.ply").write_text("not a ply\n")
    with pytest.raises(ValueError, match="bad.ply"):
        read_ply(tmp_path / "bad.ply")
    vertices, faces = _tetrahedron()
    with pytest.raises(ValueError, match=r"face indices"):
        write_ply(tmp_path / "x.ply", vertices, faces + 1)


def test_npz_bytes_are_deterministic_and_loadable(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.linspace(0, 1, 5)}
    data = npz_bytes(arrays)
    assert data == npz_bytes(dict(arrays))
    (tmp_path / "x.npz").write_bytes(data)
    with np.load(tmp_path / "x.npz") as loaded:
        np.testing.assert_array_equal(loaded["a"], arrays["a"])
        np.testing.assert_array_equal(loaded["b"], arrays["b"])


@pytest.fixture(scope="module")
def cmr_template(cmr_release_dir):
    return Template.from_cmr_release(cmr_release_dir, MANO_TO_FREIHAND)


def test_cmr_release_reads_into_a_template(cmr_template, cmr_release_dir):
    assert cmr_template.num_vertices == [778, 389, 195, 98, 49]
    assert [len(f) for f in cmr_template.faces] == [1538, 761, 374, 183, 86]
    for level in range(4):
        assert (np.diff(cmr_template.up[level].indptr) == 3).all()
        assert (cmr_template.down[level].sum(axis=1) == 1).all()
    regressor = cmr_template.joint_regressor
    np.testing.assert_allclose(regressor.sum(axis=1), 1.0, atol=1e-6)
    for joint, vertex in CMR_TIP_VERTICES.items():
        assert regressor[joint, vertex] == 1.0 and np.count_nonzero(regressor[joint]) == 1
    # Row 0 of CMR's released length-27 spiral (cmr.md section 2.3).
    assert cmr_template.spiral(0, 27)[0].tolist() == [
        0, 27, 94, 61, 3, 2, 1, 26, 24, 68, 63, 60, 8, 9, 240, 115, 113, 265, 25, 95, 67, 66,
        69, 93, 62, 64, 12,
    ]
    digest = hashlib.sha256(cmr_template.spiral(0, 27).astype(np.int64).tobytes()).hexdigest()
    assert digest.startswith("0d75796009701420")
    np.testing.assert_array_equal(cmr_template.spiral(1, 9), cmr_template.spiral(1, 27)[:, :9])


def test_save_load_round_trip_and_checksum(cmr_template, tmp_path):
    npz_path, json_path = cmr_template.save(tmp_path)
    loaded = Template.load(tmp_path, name=cmr_template.name)
    assert loaded.checksum() == cmr_template.checksum()
    assert loaded.num_vertices == cmr_template.num_vertices
    for a, b in zip(loaded.up, cmr_template.up):
        assert (a != b).nnz == 0
    np.testing.assert_array_equal(loaded.spiral(2, 27), cmr_template.spiral(2, 27))
    # Saving again gives the same bytes.
    first = npz_path.read_bytes(), json_path.read_bytes()
    loaded.save(tmp_path)
    assert (npz_path.read_bytes(), json_path.read_bytes()) == first


def test_load_detects_corruption_and_missing_files(cmr_template, tmp_path):
    with pytest.raises(FileNotFoundError, match="build_template.sh"):
        Template.load(tmp_path, name="nothing")
    npz_path, json_path = cmr_template.save(tmp_path)
    json_path.write_text(json_path.read_text().replace(cmr_template.checksum(), "0" * 64))
    with pytest.raises(ValueError, match="checksum"):
        Template.load(tmp_path, name=cmr_template.name)


def test_cmr_release_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="transform.pkl"):
        Template.from_cmr_release(tmp_path, MANO_TO_FREIHAND)


def test_cli_converts_cmr_release(cmr_release_dir, tmp_path, capsys):
    assert main(["template", "--from-cmr", str(cmr_release_dir), "--out", str(tmp_path)]) == 0
    assert Template.load(tmp_path, name="cmr_mano").num_vertices == [778, 389, 195, 98, 49]
    assert main(["template", "--from-cmr", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_committed_hand_template_is_reproduced(tmp_path):
    """./scripts/build_template.sh output equals the committed template/ files byte for byte."""
    template, written = write_hand_template(tmp_path, preview=False)
    for path in written:
        committed = TEMPLATE_DIR / path.name
        assert committed.is_file(), f"{committed} is not committed; run ./scripts/build_template.sh"
        assert path.read_bytes() == committed.read_bytes(), f"{committed} differs from a fresh build"
    loaded = Template.load(TEMPLATE_DIR)
    assert loaded.num_vertices == [778, 389, 195, 98, 49]
    assert loaded.checksum() == template.checksum()
    manifest = json.loads((TEMPLATE_DIR / "hand.json").read_text())
    assert loaded.identity() == {"name": "hand", "checksum": manifest["checksum"]}


@pytest.fixture(scope="module")
def hand_assets():
    return build_hand_assets()


def test_hand_inputs_lie_far_from_grid_rounding_midpoints(hand_assets):
    """Snapping absorbs any input change below the margin; machines differ by ~1e-16 m (vertices)
    and ~1e-11 (regressor weights), so the margins must be far larger."""
    vertex_margin = grid_margin(hand_assets.rest_vertices, VERTEX_STEPS_PER_M)
    regressor_margin = grid_margin(hand_assets.joint_regressor, REGRESSOR_STEPS)
    assert vertex_margin > 1e-10, f"rest mesh within {vertex_margin:.2e} m of a grid mid-point"
    assert regressor_margin > 1e-9, f"regressor within {regressor_margin:.2e} of a grid mid-point"


def test_snapping_is_exact_and_keeps_the_regressor_affine(hand_assets):
    snapped = snap_regressor(hand_assets.joint_regressor)
    assert np.array_equal(snapped * REGRESSOR_STEPS, np.rint(snapped * REGRESSOR_STEPS))
    assert all(math.fsum(row) == 1.0 for row in snapped.tolist()) and (snapped >= 0.0).all()
    assert np.abs(snapped - hand_assets.joint_regressor).max() < 1e-4
    vertices = snap_to_grid(np.array([-1e-13, 0.0, 1.2345674e-3, -0.4e-6]), VERTEX_STEPS_PER_M)
    assert vertices.tobytes() == np.array([0.0, 0.0, 1.235e-3, 0.0]).tobytes()  # no -0.0
    with pytest.raises(ValueError, match="power of two"):
        snap_regressor(hand_assets.joint_regressor, steps=1000)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perturbed_rest_mesh_rebuilds_bit_identically(hand_assets, seed):
    """1e-12 m of noise on the rest mesh (1e-10 on the regressor) gives the same template bytes."""
    rng = np.random.default_rng(seed)
    vertices = hand_assets.rest_vertices + rng.normal(scale=1e-12, size=hand_assets.rest_vertices.shape)
    regressor = hand_assets.joint_regressor + rng.normal(scale=1e-10, size=hand_assets.joint_regressor.shape)
    assert not np.array_equal(vertices, hand_assets.rest_vertices)
    template = template_from_hand(vertices, hand_assets.faces, regressor)
    committed = json.loads((TEMPLATE_DIR / "hand.json").read_text())["checksum"]
    assert template.checksum() == committed


def test_report_confirms_release_spirals_and_regressor(cmr_release_dir):
    text = template_report(build_hand_template(), cmr_release_dir)
    spiral_rows = [line for line in text.splitlines() if line.startswith(("| 27 |", "| 9 |"))]
    assert len(spiral_rows) == 8 and all(row.endswith("| yes |") for row in spiral_rows)
    accuracy = regressor_accuracy_mm(num_shapes=10)
    assert max(largest for _, largest in list(accuracy.values())[:2]) < 1.0  # rest and shapes: < 1 mm
