"""What every application command shares: ``--config`` and ``KEY VALUE`` overrides, flags that
are sugar for overrides, and a run that produced nothing failing loudly.

A command module defines ``add_arguments(parser)`` and ``run(args) -> int``; :mod:`cmr.cli`
registers them. Flags typed on the command line name paths relative to the current directory,
as any shell path; they become absolute configuration values (whose own relative paths are
resolved below the repository root, :func:`cmr.config.resolve_path`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Program name shown in every usage line.
PROG = "python -m cmr"


class NothingProduced(RuntimeError):
    """A run that wrote no result (every input skipped, or none found): exit status 1."""


def absolute_path(path: str) -> str:
    """A command-line path made absolute against the current directory (argparse ``type``)."""
    return str(Path(path).expanduser().absolute())


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and trailing ``KEY VALUE`` overrides."""
    parser.add_argument("--config", type=absolute_path, default=None, help="YAML experiment file (configs/*.yaml)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER,
                        help="KEY VALUE pairs overriding the configuration, e.g. DEVICE cpu")


def flag_overrides(args: argparse.Namespace, keys: dict[str, str], paths: tuple[str, ...] = ()) -> list[str]:
    """``KEY VALUE`` overrides of the flags that were given, followed by the explicit overrides.

    keys: flag attribute -> config key. paths: attributes holding paths (made absolute against
    the current directory). Boolean flags give ``True``.
    """
    overrides = []
    for attribute, key in keys.items():
        value = getattr(args, attribute)
        if value is None or value is False:
            continue
        if attribute in paths:
            value = Path(value).expanduser().absolute()
        overrides += [key, str(value)]
    return overrides + list(args.overrides or [])
