"""Tests of the MANO-format pickle: writing the open hand, reading any such file without chumpy."""

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from cmr.fitting import FittingConfig, fit_hand
from cmr.hand import POSE_KINDS, HandModel, build_hand_assets, sample_poses
from cmr.hand.mano_format import fit_mano_joint_regressor, load_mano_pickle, open_hand_mano_arrays, write_mano_pickle
from cmr.hand.mano_model import MANO_TIP_VERTEX_IDS, ManoFormatHandModel, default_tip_vertex_ids
from cmr.hand.skinning import axis_angle_to_matrix


@pytest.fixture(scope="module")
def hand():
    return HandModel()


@pytest.fixture(scope="module")
def pose_batch():
    pose = torch.cat([sample_poses(kind, 2, index, random_global_rotation=True) for index, kind in enumerate(POSE_KINDS)])
    generator = torch.Generator().manual_seed(0)
    return pose, torch.randn(len(pose), 10, generator=generator), 0.1 * torch.randn(len(pose), 3, generator=generator)


def test_the_file_has_manos_keys_as_plain_arrays(tmp_path):
    path = write_mano_pickle(tmp_path / "open_right.pkl")
    with open(path, "rb") as handle:  # what MANO tools do: a plain pickle.load, no cmr needed
        content = pickle.load(handle, encoding="latin1")
    assert set(content) == {"v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs", "kintree_table",
                            "J", "bs_style", "bs_type", "hands_components", "hands_mean", "hands_coeffs"}
    shapes = {"v_template": (778, 3), "f": (1533, 3), "weights": (778, 16), "shapedirs": (778, 3, 10),
              "posedirs": (778, 3, 135), "kintree_table": (2, 16), "J": (16, 3), "hands_components": (45, 45),
              "hands_mean": (45,), "hands_coeffs": (1554, 45)}
    assert {key: content[key].shape for key in shapes} == shapes
    assert content["f"].dtype == np.uint32 and not content["posedirs"].any()
    assert isinstance(content["J_regressor"], sp.csc_matrix) and content["J_regressor"].toarray().shape == (16, 778)
    assert content["kintree_table"][0, 0] == 4294967295 and (content["bs_style"], content["bs_type"]) == ("lbs", "lrotmin")
    poses = content["hands_coeffs"] @ content["hands_components"] + content["hands_mean"]
    natural = torch.cat([sample_poses(kind, 259, index) for index, kind in enumerate(POSE_KINDS)])[:, 1:]
    assert np.allclose(poses, natural.reshape(-1, 45).numpy(), atol=1e-5)


def test_the_joint_regressor_reproduces_the_models_joints():
    assets = build_hand_assets()
    regressor = fit_mano_joint_regressor(assets)
    assert np.abs(regressor @ assets.rest_vertices - assets.rest_joints).max() < 1e-12
    assert np.allclose(regressor.sum(1), 1.0)
    beta = np.random.default_rng(0).normal(size=(500, 10))
    shaped = assets.rest_vertices + np.einsum("vck,bk->bvc", assets.shape_dirs, beta)
    joints = assets.rest_joints + np.einsum("jck,bk->bjc", assets.joint_shape_dirs, beta)
    error = np.linalg.norm(np.einsum("jv,bvc->bjc", regressor, shaped) - joints, axis=-1)
    assert error.mean() < 2e-5 and error.max() < 5e-4  # metres: 0.009 mm mean, 0.36 mm at most measured
    model = HandModel().double()
    posed = model(torch.cat([sample_poses(kind, 5, 50 + i) for i, kind in enumerate(POSE_KINDS)]).double())
    posed_error = np.linalg.norm(np.einsum("jv,bvc->bjc", regressor, posed.vertices.numpy())
                                 - posed.rig_joints.numpy(), axis=-1)
    assert posed_error.max() < 1e-3


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_round_trip_poses_like_the_hand_model(tmp_path, hand, pose_batch, side):
    pose, shape, translation = pose_batch
    model = ManoFormatHandModel.from_file(write_mano_pickle(tmp_path / f"open_{side}.pkl", side))
    assert model.tip_vertex_ids.tolist() == build_hand_assets().tip_vertex_ids.tolist()
    expected = hand(pose, None, translation, side=side)
    mean_shape = model(pose, None, translation)  # the file's own side is its 'right'
    assert (mean_shape.vertices - expected.vertices).abs().max() < 1e-5
    assert (mean_shape.rig_joints - expected.rig_joints).abs().max() < 1e-5
    shaped = model(pose, shape, translation).vertices - hand(pose, shape, translation, side=side).vertices
    assert shaped.abs().max() < 1e-3  # the regressor's shape error (0.16 mm measured)
    mirrored = model(pose, shape, translation, side="left")  # the file's mirror image: the other hand
    other = hand(pose, shape, translation, side="left" if side == "right" else "right")
    assert (mirrored.vertices - other.vertices).abs().max() < 1e-3


def _fake_chumpy(monkeypatch):
    """A throwaway ``chumpy.ch.Ch`` that pickles as chumpy's does (its __dict__ minus caches)."""
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x, self._dirty_vars, self._parents, self._cache = np.asarray(x), {"x"}, {}, {}

        def __getstate__(self):
            return {key: value for key, value in self.__dict__.items() if key not in ("_parents", "_cache")}

    class Select(Ch):
        pass

    for cls in (Ch, Select):
        cls.__module__, cls.__qualname__ = "chumpy.ch", cls.__name__
        setattr(module, cls.__name__, cls)
    package.ch = module
    monkeypatch.setitem(sys.modules, "chumpy", package)
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch, Select


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_objects_are_read_without_chumpy(tmp_path, monkeypatch, protocol):
    Ch, Select = _fake_chumpy(monkeypatch)
    arrays = open_hand_mano_arrays()
    content = dict(arrays, shapedirs=Ch(arrays["shapedirs"]), v_template=Ch(arrays["v_template"]),
                   J=Ch(arrays["J"]), J_regressor=sp.csc_matrix(arrays["J_regressor"]))
    path = tmp_path / "chumpy.pkl"
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    expression = tmp_path / "expression.pkl"
    expression.write_bytes(pickle.dumps(dict(content, shapedirs=Select.__new__(Select)), protocol=protocol))
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(path.read_bytes())  # a plain load needs chumpy
    loaded = load_mano_pickle(path)
    for key in ("shapedirs", "v_template", "J"):
        assert isinstance(loaded[key], np.ndarray) and np.array_equal(loaded[key], arrays[key])
    assert np.array_equal(loaded["J_regressor"], arrays["J_regressor"].toarray())
    assert loaded["f"].dtype == np.int64 and loaded["bs_type"] == "lrotmin"
    with pytest.raises(ValueError, match=r"expression\.pkl: shapedirs is a chumpy expression \(chumpy\.ch\.Select\)"):
        load_mano_pickle(expression)


def test_bad_files_are_refused_with_the_file_and_key_named(tmp_path):
    arrays = open_hand_mano_arrays()
    cases = {
        "missing.pkl": (dict((k, v) for k, v in arrays.items() if k != "weights"), r"missing \['weights'\]"),
        "shape.pkl": (dict(arrays, weights=arrays["weights"][:, :15]), r"weights has shape \(778, 15\), expected \(778, 16\)"),
        "faces.pkl": (dict(arrays, f=arrays["f"] + 1000), r"f must be \(F, 3\) vertex ids below 778"),
        "list.pkl": ([1, 2], r"expected a pickled dict"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(pickle.dumps(content, protocol=2))
        with pytest.raises(ValueError, match=f"{name}.*{message}"):
            load_mano_pickle(tmp_path / name)
    (tmp_path / "code.pkl").write_bytes(b"cos\ngetcwd\n(tR.")  # a pickle that would call os.getcwd()
    with pytest.raises(ValueError, match=r"code\.pkl: cannot be read .*refers to os\.getcwd"):
        load_mano_pickle(tmp_path / "code.pkl")
    with pytest.raises(FileNotFoundError, match="MANO-format model not found"):
        load_mano_pickle(tmp_path / "absent.pkl")


def test_pose_correctives_are_applied_as_mano_does():
    arrays = open_hand_mano_arrays()
    arrays["J_regressor"] = arrays["J_regressor"].toarray()
    arrays["weights"] = np.zeros_like(arrays["weights"])
    arrays["weights"][:, 0] = 1.0  # everything on the root: with no global rotation, skinning is the identity
    arrays["posedirs"] = np.random.default_rng(0).normal(scale=1e-3, size=arrays["posedirs"].shape)
    model = ManoFormatHandModel(arrays)
    pose = torch.zeros(1, 16, 3)
    pose[0, 2] = torch.tensor([0.4, -0.2, 0.1])
    corrective = model(pose).vertices[0] - model(torch.zeros(1, 16, 3)).vertices[0]
    features = torch.zeros(15, 3, 3)
    features[1] = axis_angle_to_matrix(pose[0, 2]) - torch.eye(3)
    expected = torch.einsum("vcp,p->vc", torch.tensor(arrays["posedirs"], dtype=torch.float32), features.flatten())
    assert torch.allclose(corrective, expected, atol=1e-6) and expected.abs().max() > 1e-3


def test_fingertips_default_by_topology():
    assets = build_hand_assets()
    assert default_tip_vertex_ids(assets.faces[:, ::-1]) == tuple(assets.tip_vertex_ids.tolist())
    assert default_tip_vertex_ids(np.zeros((1538, 3), np.int64)) == MANO_TIP_VERTEX_IDS
    with pytest.raises(ValueError, match="unknown mesh topology .*tip_vertex_ids"):
        default_tip_vertex_ids(np.zeros((100, 3), np.int64))
    with pytest.raises(ValueError, match="tip_vertex_ids: expected 5 vertex ids below 778"):
        ManoFormatHandModel(open_hand_mano_arrays() | {"J_regressor": np.zeros((16, 778))}, tip_vertex_ids=[1, 2])


def test_a_loaded_model_can_be_fitted(tmp_path, pose_batch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pose, shape, translation = pose_batch
        model = ManoFormatHandModel.from_file(write_mano_pickle(tmp_path / "open.pkl"))
        target = model(pose[:4], shape[:4], translation[:4] + torch.tensor([0.0, 0.0, 0.6])).vertices
        fit = fit_hand(target, config=FittingConfig.defaults(joint_limits=False), model=model)
    finally:
        torch.set_num_threads(threads)
    assert fit.mesh_error_mm.max() < 2.0
