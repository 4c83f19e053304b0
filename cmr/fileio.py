"""File I/O shared by every part of the project: atomic, deterministic writing; image reading.

Everything the project writes (templates, JSON, checkpoints, meshes) goes to a temporary file
first and is renamed into place, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

#: File suffixes read as images (photo folders of the demo, detect and training commands).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: Fixed timestamp for archive members, so that equal contents give equal bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns the path.

    ``fsync=False`` skips flushing to disk: the rename still guarantees that no partial file is
    ever seen (what resuming needs), only a power loss could lose it. Bulk writers (thousands of
    images) use it; checkpoints and annotations keep the default.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (keys in insertion order, trailing newline) atomically."""
    text = json.dumps(obj, indent=indent) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialise named arrays as an uncompressed ``.npz`` archive with deterministic bytes.

    ``numpy.savez`` stamps members with the current time; this writer uses a fixed timestamp and
    the mapping's key order, so the same arrays always give the same bytes. ``numpy.load`` reads
    the result.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


#: File in an output folder listing what the last run wrote there (removed by the next run).
OUTPUT_MANIFEST = ".cmr_outputs.json"


def writable_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) if needed and check that files can be written there.

    Raises ValueError naming the folder when it is a regular file, lies under one, or is not
    writable, before any long work starts.
    """
    path = Path(path)
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"output folder {path}: {parent} is a regular file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"output folder {path} is not writable ({error.strerror or error})") from None
    return path


class OutputFolder:
    """An output folder that never mixes runs: what the previous run recorded in
    :data:`OUTPUT_MANIFEST` is removed first, and every file this run writes is recorded.

    Files the project did not write there (no manifest entry) are left alone.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = writable_folder(path)
        self.manifest = self.path / OUTPUT_MANIFEST
        self.written: list[str] = []
        for name in self._previous():
            stale = self.path / name
            if stale.is_file() and stale.parent == self.path:
                stale.unlink()
        atomic_write_json(self.manifest, self.written)

    def _previous(self) -> list[str]:
        try:
            names = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return []
        return [name for name in names if isinstance(name, str) and "/" not in name] if isinstance(names, list) else []

    def record(self, *paths: str | os.PathLike) -> None:
        """Record files written into the folder (their names go into the manifest)."""
        self.written.extend(Path(path).name for path in paths)
        atomic_write_json(self.manifest, self.written)


def read_image(path: str | os.PathLike, flags: int = cv2.IMREAD_COLOR, what: str = "image") -> np.ndarray:
    """An image file as OpenCV decodes it with ``flags`` (BGR for colour).

    Raises FileNotFoundError when ``path`` is missing and ValueError, naming it, when it cannot
    be decoded (empty, truncated or not an image format OpenCV reads).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise ValueError(f"{path}: the {what} file cannot be decoded (empty, truncated or not an image format "
                         "OpenCV reads)")
    return image


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The files of ``folder`` (not its subfolders) with an :data:`IMAGE_SUFFIXES` suffix, sorted."""
    return sorted(path for path in Path(folder).iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image file (errors as :func:`read_image`)."""
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)
