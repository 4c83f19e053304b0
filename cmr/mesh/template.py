"""The Template bundle: everything the mesh decoder needs to know about the hand topology.

A template has ``L + 1`` mesh levels, fine (level 0, the full mesh) to coarse, linked by
selection ("down") and barycentric ("up") matrices, the spiral neighbourhoods of every level
that carries a prediction (levels ``0 .. L-1``), and the 21-row joint regressor of level 0 in
FreiHAND order. The same class holds the project's own hand template (``template/``) and CMR's
released MANO-topology files (``template.ply``, ``transform.pkl``, ``j_reg.npy``).

Shapes (``N_l`` vertices and ``F_l`` faces at level ``l``):
    vertices[l]      (N_l, 3) float64, metres
    faces[l]         (F_l, 3) int64, counter-clockwise seen from outside
    down[l]          (N_{l+1}, N_l) scipy CSR, one 1 per row (coarse vertices are a subset)
    up[l]            (N_l, N_{l+1}) scipy CSR, exactly 3 stored entries per row
    joint_regressor  (21, N_0) float64, FreiHAND joint order, rows sum to 1
    spirals[k][l]    (N_l, k) int64 spiral of length ``k`` around each vertex of level ``l``
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cmr.fileio import atomic_write_bytes, atomic_write_json, npz_bytes
from cmr.mesh.decimate import build_pyramid
from cmr.mesh.ply import read_ply
from cmr.mesh.spiral import spiral_indices

#: Version of the on-disk layout written by :meth:`Template.save`.
FORMAT_VERSION = 1
#: Spiral lengths stored with a template (CMR uses 27, MobRecon 9); others are computed on demand.
STORED_SPIRAL_LENGTHS = (9, 27)
#: Where CMR's released files are expected in a release folder.
CMR_RELEASE_FILES = ("template.ply", "transform.pkl", "j_reg.npy")


@dataclass
class Template:
    """A multi-level hand mesh template (see the module docstring for every shape)."""

    name: str
    vertices: list[np.ndarray]
    faces: list[np.ndarray]
    down: list[sp.csr_matrix]
    up: list[sp.csr_matrix]
    joint_regressor: np.ndarray
    spirals: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vertices = [np.asarray(v, dtype=np.float64) for v in self.vertices]
        self.faces = [np.asarray(f, dtype=np.int64) for f in self.faces]
        self.down = [sp.csr_matrix(d, dtype=np.float64) for d in self.down]
        self.up = [sp.csr_matrix(u, dtype=np.float64) for u in self.up]
        self.joint_regressor = np.asarray(self.joint_regressor, dtype=np.float64)
        self._check_consistency()
        for length in STORED_SPIRAL_LENGTHS:
            if length not in self.spirals:
                self.spirals[length] = [
                    spiral_indices(self.faces[level], self.vertices[level], length)
                    for level in range(self.num_levels - 1)
                ]

    # ------------------------------------------------------------------ queries
    @property
    def num_levels(self) -> int:
        """Number of mesh levels, the full mesh included (5 for CMR: 778 .. 49 vertices)."""
        return len(self.vertices)

    @property
    def num_vertices(self) -> list[int]:
        """Vertex count per level, fine to coarse."""
        return [len(v) for v in self.vertices]

    def spiral(self, level: int, length: int, dilation: int = 1) -> np.ndarray:
        """Spiral indices (N_level, length) int64 around every vertex of ``level``."""
        if not 0 <= level < self.num_levels - 1:
            raise ValueError(f"spirals exist for levels 0..{self.num_levels - 2}, got {level}")
        if dilation == 1 and length in self.spirals:
            return self.spirals[length][level]
        return spiral_indices(self.faces[level], self.vertices[level], length, dilation)

    def decoder_spirals(self, lengths: list[int], dilations: list[int]) -> list[np.ndarray]:
        """Spirals of every predicted level (fine to coarse), as a mesh decoder uses them.

        Args:
            lengths, dilations: one per predicted level ``0 .. num_levels - 2``
                (``MODEL.SPIRAL_LENGTH`` and ``MODEL.DILATION``).

        Returns:
            ``num_levels - 1`` int64 arrays, entry ``l`` of shape (N_l, lengths[l]).
        """
        levels = self.num_levels - 1
        if len(lengths) != levels or len(dilations) != levels:
            raise ValueError(
                f"template {self.name!r} has {levels} predicted levels; got {len(lengths)} spiral "
                f"lengths and {len(dilations)} dilations (MODEL.SPIRAL_LENGTH, MODEL.DILATION)"
            )
        return [self.spiral(level, lengths[level], dilations[level]) for level in range(levels)]

    def identity(self) -> dict[str, str]:
        """The template's name and content checksum: ``{"name": str, "checksum": sha256 hex}``.

        Recorded with a checkpoint, it tells which template the model was trained against.
        """
        return {"name": self.name, "checksum": self.checksum()}

    def checksum(self) -> str:
        """sha256 (hex) of the template's content: every array, its dtype and its shape."""
        digest = hashlib.sha256()
        for key, array in self._arrays().items():
            digest.update(f"{key}:{array.dtype.str}:{array.shape};".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mesh(
        cls,
        name: str,
        vertices: np.ndarray,
        faces: np.ndarray,
        joint_regressor: np.ndarray,
        factors: tuple[int, ...] = (2, 2, 2, 2),
    ) -> "Template":
        """Build a template from a full-resolution mesh by quadric decimation.

        Args:
            vertices: (N, 3) float, metres.
            faces: (F, 3) int.
            joint_regressor: (21, N) float, FreiHAND joint order.
            factors: down-sampling factor per level; level ``l+1`` has ``ceil(N_l / factor)``.
        """
        levels, level_faces, down, up = build_pyramid(np.asarray(vertices), np.asarray(faces), factors)
        return cls(name, levels, level_faces, down, up, joint_regressor)

    @classmethod
    def from_cmr_release(cls, folder: str | os.PathLike, keypoint_order: np.ndarray) -> "Template":
        """Read CMR's released MANO-topology files (``template.ply``, ``transform.pkl``, ``j_reg.npy``).

        keypoint_order: (21,) rows of the released regressor (MANO's keypoint order) in FreiHAND
        order, i.e. :data:`cmr.hand.conventions.MANO_TO_FREIHAND` (the hand model stands on the
        mesh tools, so the table is passed in rather than imported here).
        """
        folder = Path(folder)
        missing = [name for name in CMR_RELEASE_FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder}: missing CMR template file(s) {', '.join(missing)}; expected "
                f"{', '.join(CMR_RELEASE_FILES)} from CMR's released 'template' folder"
            )
        transform = load_transform_pkl(folder / "transform.pkl")
        ply_vertices, ply_faces = read_ply(folder / "template.ply")
        if ply_vertices.shape != transform["vertices"][0].shape or not np.allclose(
            ply_vertices, transform["vertices"][0], atol=1e-6
        ):
            raise ValueError(
                f"{folder / 'template.ply'}: vertices differ from level 0 of transform.pkl "
                f"({ply_vertices.shape} vs {transform['vertices'][0].shape})"
            )
        if not np.array_equal(ply_faces, transform["face"][0]):
            raise ValueError(f"{folder / 'template.ply'}: faces differ from level 0 of transform.pkl")
        j_reg = np.load(folder / "j_reg.npy")
        if j_reg.shape != (21, len(ply_vertices)):
            raise ValueError(
                f"{folder / 'j_reg.npy'}: expected a (21, {len(ply_vertices)}) joint regressor "
                f"in MANO joint order, got {j_reg.shape}"
            )
        return cls(
            name="cmr_mano",
            vertices=transform["vertices"],
            faces=transform["face"],
            down=transform["down_transform"],
            up=transform["up_transform"],
            joint_regressor=j_reg[np.asarray(keypoint_order)],
        )

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``<folder>/<name>.npz`` (the arrays) and ``<folder>/<name>.json`` (a manifest).

        Both files are deterministic: the same template always gives the same bytes.
        """
        folder = Path(folder)
        arrays = self._arrays()
        stored = {key: _compact(array) for key, array in arrays.items()}
        npz_path = atomic_write_bytes(folder / f"{self.name}.npz", npz_bytes(stored))
        manifest = {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            "levels": [
                {"vertices": len(v), "faces": len(f)} for v, f in zip(self.vertices, self.faces)
            ],
            "spiral_lengths": sorted(self.spirals),
            "checksum": self.checksum(),
        }
        json_path = atomic_write_json(folder / f"{self.name}.json", manifest)
        return npz_path, json_path

    @classmethod
    def load(cls, folder: str | os.PathLike, name: str = "hand") -> "Template":
        """Load a template written by :meth:`save`, verifying its checksum."""
        folder = Path(folder)
        npz_path, json_path = folder / f"{name}.npz", folder / f"{name}.json"
        for path in (npz_path, json_path):
            if not path.is_file():
                raise FileNotFoundError(
                    f"template file not found: {path}; regenerate it with ./scripts/build_template.sh"
                )
        manifest = json.loads(json_path.read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{json_path}: format_version {manifest.get('format_version')!r}, "
                f"this code reads version {FORMAT_VERSION}"
            )
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        template = cls._from_arrays(name, arrays, npz_path)
        if template.checksum() != manifest["checksum"]:
            raise ValueError(
                f"{npz_path}: content checksum {template.checksum()[:16]} does not match "
                f"{json_path} ({manifest['checksum'][:16]}); the files are corrupt or out of step"
            )
        return template

    # ------------------------------------------------------------------ internals
    def _arrays(self) -> dict[str, np.ndarray]:
        """Every array of the template under a stable name, in a stable order (float64/int64)."""
        arrays: dict[str, np.ndarray] = {}
        for level, (verts, faces) in enumerate(zip(self.vertices, self.faces)):
            arrays[f"vertices_{level}"] = verts
            arrays[f"faces_{level}"] = faces
        for kind, matrices in (("down", self.down), ("up", self.up)):
            for level, matrix in enumerate(matrices):
                matrix = matrix.tocsr()
                arrays[f"{kind}_{level}_shape"] = np.asarray(matrix.shape, dtype=np.int64)
                arrays[f"{kind}_{level}_indptr"] = matrix.indptr.astype(np.int64)
                arrays[f"{kind}_{level}_indices"] = matrix.indices.astype(np.int64)
                arrays[f"{kind}_{level}_data"] = matrix.data.astype(np.float64)
        arrays["joint_regressor"] = self.joint_regressor
        for length in sorted(self.spirals):
            for level, spiral in enumerate(self.spirals[length]):
                arrays[f"spiral{length}_{level}"] = np.asarray(spiral, dtype=np.int64)
        return arrays

    @classmethod
    def _from_arrays(cls, name: str, arrays: dict[str, np.ndarray], source: Path) -> "Template":
        try:
            num_levels = sum(1 for key in arrays if key.startswith("vertices_"))

            def matrices(kind: str) -> list[sp.csr_matrix]:
                return [
                    sp.csr_matrix(
                        (
                            arrays[f"{kind}_{level}_data"].astype(np.float64),
                            arrays[f"{kind}_{level}_indices"].astype(np.int64),
                            arrays[f"{kind}_{level}_indptr"].astype(np.int64),
                        ),
                        shape=tuple(int(n) for n in arrays[f"{kind}_{level}_shape"]),
                    )
                    for level in range(num_levels - 1)
                ]

            lengths = sorted({int(key[6:].split("_")[0]) for key in arrays if key.startswith("spiral")})
            spirals = {
                length: [arrays[f"spiral{length}_{level}"].astype(np.int64) for level in range(num_levels - 1)]
                for length in lengths
            }
            return cls(
                name=name,
                vertices=[arrays[f"vertices_{level}"] for level in range(num_levels)],
                faces=[arrays[f"faces_{level}"] for level in range(num_levels)],
                down=matrices("down"),
                up=matrices("up"),
                joint_regressor=arrays["joint_regressor"],
                spirals=spirals,
            )
        except KeyError as error:
            raise ValueError(f"{source}: missing array {error} in the template archive") from error

    def _check_consistency(self) -> None:
        counts = self.num_vertices
        if len(self.faces) != len(counts) or len(self.down) != len(counts) - 1 or len(self.up) != len(counts) - 1:
            raise ValueError(
                f"template {self.name!r}: expected {len(counts)} face arrays and {len(counts) - 1} "
                f"down/up matrices, got {len(self.faces)}, {len(self.down)}, {len(self.up)}"
            )
        for level in range(len(counts) - 1):
            if self.down[level].shape != (counts[level + 1], counts[level]):
                raise ValueError(
                    f"template {self.name!r}: down[{level}] has shape {self.down[level].shape}, "
                    f"expected {(counts[level + 1], counts[level])}"
                )
            if self.up[level].shape != (counts[level], counts[level + 1]):
                raise ValueError(
                    f"template {self.name!r}: up[{level}] has shape {self.up[level].shape}, "
                    f"expected {(counts[level], counts[level + 1])}"
                )
        for level, faces in enumerate(self.faces):
            if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= counts[level]:
                raise ValueError(f"template {self.name!r}: faces[{level}] are not valid triangles")
        if self.joint_regressor.shape != (21, counts[0]):
            raise ValueError(
                f"template {self.name!r}: joint regressor has shape {self.joint_regressor.shape}, "
                f"expected (21, {counts[0]})"
            )


def _compact(array: np.ndarray) -> np.ndarray:
    """Integer arrays are stored as int32 on disk (they are read back as int64)."""
    if array.dtype == np.int64 and (array.size == 0 or np.abs(array).max() < 2**31):
        return array.astype(np.int32)
    return array


def load_transform_pkl(path: str | os.PathLike) -> dict:
    """Read CMR's ``transform.pkl`` (a Python 2 pickle of scipy sparse matrices).

    Returns a dict with ``vertices`` (5 float64 arrays), ``face`` (5 int64 arrays),
    ``down_transform`` and ``up_transform`` (4 scipy sparse matrices each) and ``adj``.
    """
    try:
        with open(path, "rb") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy.sparse.csc namespace
            transform = pickle.load(handle, encoding="latin1")
    except Exception as error:
        raise ValueError(f"{path}: not a readable CMR transform pickle ({error})") from error
    expected = ("vertices", "face", "down_transform", "up_transform")
    if not isinstance(transform, dict) or any(key not in transform for key in expected):
        raise ValueError(f"{path}: expected a dict with keys {', '.join(expected)}")
    transform["face"] = [np.asarray(f, dtype=np.int64) for f in transform["face"]]
    return transform
