"""Atomic, deterministic file writing shared by every part of the project.

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

import numpy as np

#: Fixed timestamp for archive members, so that equal contents give equal bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


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
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()
