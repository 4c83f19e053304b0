"""The open hand as a MANO-format pickle, and a chumpy-free reader of any MANO-format pickle.

MANO (``MANO_RIGHT.pkl``) is a pickled dict; :func:`open_hand_mano_arrays` fills the same keys
from the open hand model (plain numpy, float64 unless noted; V = 778 vertices, J = 16 joints):

==================  ================  =====================================================
key                 shape             content
==================  ================  =====================================================
v_template          (V, 3)            rest mesh, metres
f                   (F, 3) uint32     triangles (F = 1533 for the open hand, 1538 in MANO)
weights             (V, J)            skinning weights
J_regressor         (J, V)            scipy.sparse.csc_matrix: rest joints from vertices
shapedirs           (V, 3, 10)        vertex offsets per unit of beta
posedirs            (V, 3, 135)       pose correctives: zeros (the open hand has none)
kintree_table       (2, J) int64      parents (root: 4294967295, as MANO) over joint ids
J                   (J, 3)            rest joints, metres
bs_style, bs_type   str               'lbs', 'lrotmin'
hands_components    (45, 45)          principal directions (rows, unit norm) of the 15 local
                                      rotation vectors over sampled natural poses
hands_mean          (45,)             their mean
hands_coeffs        (1554, 45)        the samples' coefficients (MANO keeps its scans')
==================  ================  =====================================================

``J_regressor`` is stored as a scipy sparse CSC matrix, as MANO does, because readers call
``.toarray()`` on it (others accept either). It is fitted (:func:`fit_mano_joint_regressor`) to
be exact for the mean hand (2e-16 m, rows summing to one) and close over the shape space and
on posed meshes, measured against the model's joints: ``J_regressor @ (v_template +
shapedirs beta)`` is 0.009 mm off on average and 0.36 mm at most for beta ~ N(0, 1) (0.50 mm
for beta uniform in [-3, 3]); on posed, shaped meshes the regressed joints are 0.03 mm (at
most 0.54 mm) from the rig joints. Weights lie in [-0.43, 0.60]. The model's own nonnegative
rows are up to 1.2 mm off over the shape space and 0.26 mm at rest.

:func:`load_mano_pickle` reads MANO's own Python-2 pickles (``encoding='latin1'``) without
chumpy: chumpy objects are unpickled as stand-ins and replaced by their stored array, scipy
sparse matrices by dense arrays, and only the globals a MANO file needs may be loaded.
:class:`cmr.hand.mano_model.ManoFormatHandModel` poses what it returns.

Writing the open hand's file (``side='left'`` for the mirrored one)::

    python -c "from cmr.hand.mano_format import write_mano_pickle; write_mano_pickle('OPEN_HAND_RIGHT.pkl')"
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from cmr.fileio import atomic_write_bytes
from cmr.geometry.camera import mirror_faces
from cmr.hand.assets import HandAssets, build_hand_assets
from cmr.hand.conventions import NUM_ARTICULATED_JOINTS, PARENTS
from cmr.hand.model import HandModel
from cmr.hand.poses import POSE_KINDS, sample_poses

#: Root entry of MANO's kintree_table (the uint32 -1).
KINTREE_ROOT = 4294967295
#: Natural poses sampled per kind for the pose principal components (6 kinds: 1554, MANO's count).
PCA_SAMPLES_PER_KIND = 259
#: J_regressor fit (:func:`fit_mano_joint_regressor`): radius (metres) of a row's vertices, weight
#: of the shape equations (metres per unit beta) against the posed examples (metres), pull
#: towards the model's own rows (per unit weight^2), natural posed examples per pose kind.
REGRESSOR_RADIUS = 0.06
SHAPE_EQUATION_WEIGHT = 100.0
REGRESSOR_PULL = 1e-5
REGRESSOR_POSES_PER_KIND = 20
#: Keys every MANO-format pickle must have for :func:`load_mano_pickle`.
REQUIRED_KEYS = ("v_template", "f", "weights", "J_regressor", "shapedirs", "kintree_table")
#: Globals (module, name) a MANO-format pickle may load, besides chumpy and scipy.sparse classes.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"), ("__builtin__", "set"), ("builtins", "set"),
}
#: Mirroring a rotation vector through the x = 0 plane, tiled over the 15 local joints.
_MIRRORED_POSE = np.tile([1.0, -1.0, -1.0], NUM_ARTICULATED_JOINTS - 1)


def _posed_examples(assets: HandAssets) -> tuple[np.ndarray, np.ndarray]:
    """Posed meshes (N, V, 3) and rig joints (N, 16, 3), metres, of natural poses with random shapes."""
    poses = torch.cat([sample_poses(kind, REGRESSOR_POSES_PER_KIND, 100 + index)
                       for index, kind in enumerate(POSE_KINDS)]).double()
    generator = torch.Generator().manual_seed(0)
    shapes = torch.randn(len(poses), assets.shape_dirs.shape[-1], generator=generator, dtype=torch.float64)
    with torch.no_grad():
        posed = HandModel().double()(poses, shapes)
    return posed.vertices.numpy(), posed.rig_joints.numpy()


def _regressor_row(assets: HandAssets, joint: int, posed_vertices: np.ndarray, posed_joints: np.ndarray) -> np.ndarray:
    """One J_regressor row (V,): see :func:`fit_mano_joint_regressor`."""
    bones = [joint] + ([int(PARENTS[joint])] if PARENTS[joint] >= 0 else [])
    near = np.linalg.norm(assets.rest_vertices - assets.rest_joints[joint], axis=1) < REGRESSOR_RADIUS
    candidates = np.flatnonzero(near & (assets.skin_weights[:, bones].sum(axis=1) > 0.05))
    count = len(candidates)
    shape_rows = SHAPE_EQUATION_WEIGHT * assets.shape_dirs[candidates].reshape(count, -1).T
    pose_rows = posed_vertices[:, candidates].transpose(0, 2, 1).reshape(-1, count)
    rows = np.vstack([shape_rows, pose_rows])
    wanted = np.concatenate([SHAPE_EQUATION_WEIGHT * assets.joint_shape_dirs[joint].reshape(-1),
                             posed_joints[:, joint].reshape(-1)])
    start = assets.joint_regressor_mano21[joint, candidates]
    exact = np.vstack([assets.rest_vertices[candidates].T, np.ones((1, count))])  # rest joint, sum to one
    exact_values = np.concatenate([assets.rest_joints[joint], [1.0]])
    # Karush-Kuhn-Tucker system of the equality-constrained least squares.
    system = np.block([[rows.T @ rows + REGRESSOR_PULL * np.eye(count), exact.T],
                       [exact, np.zeros((len(exact), len(exact)))]])
    solution = np.linalg.solve(system, np.concatenate([rows.T @ wanted + REGRESSOR_PULL * start, exact_values]))
    row = np.zeros(len(assets.rest_vertices))
    row[candidates] = solution[:count]
    return row


def fit_mano_joint_regressor(assets: HandAssets) -> np.ndarray:
    """MANO's (16, V) ``J_regressor`` for the open hand: rest joints from (shaped, posed) vertices.

    Each row uses the vertices within :data:`REGRESSOR_RADIUS` of the joint that the joint or
    its parent bone moves, reproduces the mean hand's joint and sums to one exactly, and fits
    in least squares the shape directions (weighted :data:`SHAPE_EQUATION_WEIGHT`) and the rig
    joints of natural posed, shaped examples, pulled (:data:`REGRESSOR_PULL`) towards the
    model's own nonnegative rows. A regressor exact over the whole shape space needs large
    weights far from the joint and is then centimetres off on posed meshes, which MANO tools
    feed it too; see the module docstring for the measured errors.
    """
    posed_vertices, posed_joints = _posed_examples(assets)
    return np.stack([_regressor_row(assets, joint, posed_vertices, posed_joints)
                     for joint in range(NUM_ARTICULATED_JOINTS)])


def pose_components(side: str = "right") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of natural local poses (:func:`cmr.hand.poses.sample_poses`, all kinds).

    Returns components (45, 45) (rows, unit norm, by decreasing variance), mean (45,) and the
    samples' coefficients (1554, 45), so that ``poses = coefficients @ components + mean``
    (15 local rotation vectors in radians, in ``side``'s convention).
    """
    poses = np.concatenate([sample_poses(kind, PCA_SAMPLES_PER_KIND, index).numpy()[:, 1:].reshape(-1, 45)
                            for index, kind in enumerate(POSE_KINDS)]).astype(np.float64)
    if side == "left":
        poses = poses * _MIRRORED_POSE
    mean = poses.mean(0)
    _, _, components = np.linalg.svd(poses - mean, full_matrices=False)
    return components, mean, (poses - mean) @ components.T


@functools.lru_cache(maxsize=2)
def _open_hand_arrays(side: str) -> dict:
    assets = build_hand_assets()
    regressor = fit_mano_joint_regressor(assets)
    components, mean, coefficients = pose_components(side)
    mirror = np.array([-1.0, 1.0, 1.0]) if side == "left" else np.ones(3)
    num_vertices = len(assets.rest_vertices)
    kintree = np.stack([PARENTS, np.arange(NUM_ARTICULATED_JOINTS)]).astype(np.int64)
    kintree[0, 0] = KINTREE_ROOT
    faces = mirror_faces(assets.faces) if side == "left" else assets.faces
    return {
        "v_template": assets.rest_vertices * mirror,
        "f": np.ascontiguousarray(faces, dtype=np.uint32),
        "weights": np.array(assets.skin_weights),
        "J_regressor": sp.csc_matrix(regressor),
        "shapedirs": assets.shape_dirs * mirror[:, None],
        "posedirs": np.zeros((num_vertices, 3, 9 * (NUM_ARTICULATED_JOINTS - 1))),
        "kintree_table": kintree,
        "J": assets.rest_joints * mirror,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "hands_components": components,
        "hands_mean": mean,
        "hands_coeffs": coefficients,
    }


def open_hand_mano_arrays(side: str = "right") -> dict:
    """The open hand's MANO-format dict (keys and shapes in the module docstring), a fresh copy.

    ``side='left'`` gives the mirrored model (as ``MANO_LEFT.pkl`` is MANO's): posed with pose
    p by MANO's linear blend skinning it equals ``HandModel()(p, side='left')``.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return {key: value if isinstance(value, str) else value.copy() for key, value in _open_hand_arrays(side).items()}


def write_mano_pickle(path: str | os.PathLike, side: str = "right") -> Path:
    """Write the open hand as a MANO-format pickle (protocol 2, plain numpy) atomically; returns the path."""
    return atomic_write_bytes(path, pickle.dumps(open_hand_mano_arrays(side), protocol=2))


class _PickledObject:
    """Stand-in for a class of a package that need not be installed: keeps the pickled state."""

    qualified_name = ""
    state = None

    def __setstate__(self, state) -> None:
        self.state = state


class _ChumpyObject(_PickledObject):
    """Stand-in for a chumpy class (its pickled state is the object's ``__dict__``)."""


class _SparseMatrix(_PickledObject):
    """Stand-in for a scipy.sparse matrix class (its pickled state is the matrix's ``__dict__``)."""


@functools.lru_cache(maxsize=None)
def _stand_in(base: type, module: str, name: str) -> type:
    return type(name, (base,), {"qualified_name": f"{module}.{name}"})


class _ManoUnpickler(pickle.Unpickler):
    """Unpickler of MANO-format files: chumpy and scipy.sparse classes become stand-ins, and any
    other global outside :data:`ALLOWED_GLOBALS` is refused (a model file runs no code)."""

    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in(_ChumpyObject, module, name)
        if module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array")):
            return _stand_in(_SparseMatrix, module, name)
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which a MANO-format file does not need")


def _sparse_to_dense(matrix: _SparseMatrix, where: str) -> np.ndarray:
    """The dense array of a pickled scipy.sparse CSC, CSR or COO matrix."""
    state = matrix.state
    shape = tuple(int(size) for size in state.get("_shape", state.get("shape", ())))
    kind = matrix.qualified_name.rsplit(".", 1)[-1].split("_")[0]
    if kind in ("csc", "csr") and {"data", "indices", "indptr"} <= state.keys():
        build = sp.csc_matrix if kind == "csc" else sp.csr_matrix
        return build((state["data"], state["indices"], state["indptr"]), shape=shape).toarray()
    if kind == "coo" and {"data", "row", "col"} <= state.keys():
        return sp.coo_matrix((state["data"], (state["row"], state["col"])), shape=shape).toarray()
    raise ValueError(f"{where}: unsupported sparse matrix {matrix.qualified_name} with fields {sorted(state)}")


def _plain(value, where: str):
    """``value`` with chumpy stand-ins replaced by their arrays and sparse matrices made dense."""
    if isinstance(value, _ChumpyObject):
        if not isinstance(value.state, dict) or "x" not in value.state:
            raise ValueError(f"{where} is a chumpy expression ({value.qualified_name}), not a stored array; "
                             "convert the file once where chumpy is installed")
        return np.asarray(_plain(value.state["x"], where))
    if isinstance(value, _SparseMatrix):
        return _sparse_to_dense(value, where)
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value


def _check_arrays(arrays: dict, source: str) -> None:
    """ValueError naming ``source`` and the key when the arrays do not form one MANO-format model."""
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{source}: not a MANO-format model, missing {missing}")
    num_vertices, num_joints = len(arrays["v_template"]), len(arrays["J_regressor"])
    expected = {"v_template": (num_vertices, 3), "weights": (num_vertices, num_joints),
                "J_regressor": (num_joints, num_vertices), "kintree_table": (2, num_joints),
                "posedirs": (num_vertices, 3, 9 * (num_joints - 1))}
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise ValueError(f"{source}: {key} has shape {arrays[key].shape}, expected {shape}")
    if arrays["shapedirs"].ndim != 3 or arrays["shapedirs"].shape[:2] != (num_vertices, 3):
        raise ValueError(f"{source}: shapedirs has shape {arrays['shapedirs'].shape}, expected ({num_vertices}, 3, S)")
    faces = arrays["f"]
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= num_vertices:
        raise ValueError(f"{source}: f must be (F, 3) vertex ids below {num_vertices}, got shape {faces.shape}")


def load_mano_pickle(path: str | os.PathLike) -> dict:
    """The arrays of any MANO-format pickle (MANO's own, or :func:`write_mano_pickle`'s), no chumpy needed.

    Returns a dict with every key of the file: numpy arrays (float64 for the model's arrays;
    ``J_regressor`` dense (J, V); ``posedirs`` zeros when the file has none), strings
    (``bs_style``, ``bs_type``) and any other value as stored. Raises FileNotFoundError, or
    ValueError naming the file when it is not a pickle, needs a global a model file does not
    need, or lacks a key or an array has the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MANO-format model not found: {path}")
    try:
        with open(path, "rb") as handle:
            content = _ManoUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: cannot be read as a MANO-format pickle ({error})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a pickled dict of model arrays, got {type(content).__name__}")
    arrays = {str(key): _plain(value, f"{path}: {key}") for key, value in content.items()}
    for key in REQUIRED_KEYS + ("posedirs", "J", "hands_components", "hands_mean", "hands_coeffs"):
        if key in arrays:
            try:
                arrays[key] = np.asarray(arrays[key], dtype=np.int64 if key in ("f", "kintree_table") else np.float64)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}: {key} is not a numeric array ({error})") from None
    if "posedirs" not in arrays and "v_template" in arrays and "J_regressor" in arrays:
        arrays["posedirs"] = np.zeros((len(arrays["v_template"]), 3, 9 * (len(arrays["J_regressor"]) - 1)))
    _check_arrays(arrays, str(path))
    return arrays
