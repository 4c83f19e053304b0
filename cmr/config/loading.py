"""Loading the configuration: experiment files (``_BASE_`` chains), ``KEY VALUE`` overrides typed
by the defaults, and the upgrade of configurations stored by older versions (see :mod:`cmr.config`)."""

from __future__ import annotations

import os
from ast import literal_eval
from pathlib import Path

import yaml
from yacs.config import CfgNode as CN

from cmr.config import BASE_KEY, CONFIG_VERSION, RENAMED_KEYS, get_cfg, resolve_path


def read_yaml(path: str | os.PathLike) -> dict:
    """An experiment file as a dict, with the files it extends (``_BASE_``) merged underneath.

    ``_BASE_`` is one path or a list of paths, merged in order (a later base overrides an earlier
    one; the file itself overrides them all). A file reached twice (two bases sharing a base of
    their own) is merged once, at its first place, so a later base never re-applies it over what
    an earlier one changed.

    Raises FileNotFoundError (a missing file) or ValueError (malformed YAML, not a mapping, a
    ``_BASE_`` that is not a path or a list of paths, a ``_BASE_`` cycle), naming the file.
    """
    path = resolve_path(path)
    merged: dict = {}
    for layer in _layers(path, (), set()):
        merged = _merge_dicts(merged, layer)
    return merged


def _read_mapping(path: Path) -> dict:
    """The YAML mapping in ``path`` (its ``_BASE_`` key still in it)."""
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: malformed YAML ({error})".replace("\n", " ")) from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping of config sections, got {type(content).__name__}")
    return content


def _layers(path: Path, chain: tuple[Path, ...], seen: set[Path]) -> list[dict]:
    """The own keys of ``path`` and of every file it extends, in merge order: each base's layers
    depth-first, then the file itself; a file in ``seen`` (merged already) is skipped."""
    if path in chain:
        raise ValueError(f"{path}: _BASE_ cycle through {' -> '.join(str(p) for p in chain + (path,))}")
    content = _read_mapping(path)
    bases = content.pop(BASE_KEY, None)
    bases = [] if bases is None else [bases] if isinstance(bases, str) else bases
    if not (isinstance(bases, list) and all(isinstance(base, str) for base in bases)):
        raise ValueError(f"{path}: {BASE_KEY} must be a path or a list of paths, got {bases!r}")
    layers = []
    for base in map(resolve_path, bases):
        if base not in seen:
            layers += _layers(base, chain + (path,), seen)
    seen.add(path)
    return layers + [content]


def _merge_dicts(base: dict, update: dict) -> dict:
    """``update`` merged into a copy of ``base``, section by section."""
    merged = dict(base)
    for key, value in update.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge_dicts(merged[key], value) if nested else value
    return merged


def upgrade_cfg(stored: dict, source: str) -> dict:
    """A stored configuration (dict) of any version with its keys renamed to the current ones."""
    version = int(stored.get("VERSION", 1))
    if version > CONFIG_VERSION:
        raise ValueError(f"{source}: config version {version} is newer than this code's {CONFIG_VERSION}; update cmr")
    for step in range(version + 1, CONFIG_VERSION + 1):
        for old, new in RENAMED_KEYS.get(step, {}).items():
            old_section, old_key = old.split(".")
            if old_key in stored.get(old_section, {}):
                new_section, new_key = new.split(".")
                stored.setdefault(new_section, {})[new_key] = stored[old_section].pop(old_key)
    stored["VERSION"] = CONFIG_VERSION
    return stored


def merge_dict(cfg: CN, values: dict, source: str) -> CN:
    """Merge a (possibly older, upgraded here) configuration dict into ``cfg``; ValueError names
    ``source`` and the unknown or mistyped key."""
    try:
        cfg.merge_from_other_cfg(CN(upgrade_cfg(values, source)))
    except (KeyError, ValueError, AssertionError) as error:
        raise ValueError(f"{source}: {error}") from None
    return cfg


def apply_overrides(cfg: CN, overrides: list[str] | None) -> CN:
    """``KEY VALUE`` pairs from the command line merged into ``cfg`` (ValueError on a bad one)."""
    overrides = list(overrides or [])
    if len(overrides) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got {len(overrides)} items: {overrides}")
    for index in range(0, len(overrides), 2):
        overrides[index + 1] = _typed_override(_current_value(cfg, overrides[index]), overrides[index + 1])
    try:
        cfg.merge_from_list(overrides)
    except (KeyError, ValueError, AssertionError) as error:
        raise ValueError(f"bad override in {overrides}: {error}") from None
    return cfg


def _typed_override(current, value):
    """A command-line value as the key's type reads it: a whole number for a float key means that
    float, and any text for a string key is that text (``DEMO.INPUT 0`` names camera 0)."""
    if isinstance(current, float):
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            return value
    if isinstance(current, str) and isinstance(value, str):
        try:
            return value if isinstance(literal_eval(value), str) else repr(value)
        except (ValueError, SyntaxError):
            return value
    return value


def _current_value(cfg: CN, key: str):
    """The value at a dotted ``key`` of ``cfg``, or None when the key does not exist."""
    node = cfg
    for part in str(key).split("."):
        if not isinstance(node, CN) or part not in node:
            return None
        node = node[part]
    return node


def load_cfg(path: str | None = None, overrides: list[str] | None = None, freeze: bool = True) -> CN:
    """Defaults, then the YAML experiment at ``path`` (with its ``_BASE_`` chain), then overrides.

    Raises:
        FileNotFoundError: the YAML file (or a base) does not exist.
        ValueError: malformed YAML, an odd number of overrides, or a key that does not exist.
    """
    cfg = get_cfg()
    if path:
        merge_dict(cfg, read_yaml(path), str(path))
    apply_overrides(cfg, overrides)
    if freeze:
        cfg.freeze()
    return cfg
