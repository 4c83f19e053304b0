"""``python -m cmr template``: build the project's hand template bundle, or convert CMR's files."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cmr import TEMPLATE_DIR

DESCRIPTION = (
    "Build the project's hand template from the open hand model: the rest mesh (778 vertices), "
    "quadric decimation to 389/195/98/49 vertices with down and up matrices, spirals of length 9 "
    "and 27, and the FreiHAND-order joint regressor. The output is byte-identical on any machine. "
    "With --from-cmr, read CMR's released template.ply / transform.pkl / j_reg.npy instead and "
    "write them in the same format."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The template command's options."""
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR, help="output folder (default: template/)")
    parser.add_argument("--from-cmr", type=Path, metavar="DIR", default=None,
                        help="convert CMR's released template folder DIR (template.ply, transform.pkl, j_reg.npy)")
    parser.add_argument("--no-preview", action="store_true", help="skip rendering preview.png")
    parser.add_argument("--report", action="store_true",
                        help="print measured figures: mesh statistics, up-sampling error, regressor accuracy")
    parser.add_argument("--compare-cmr", type=Path, metavar="DIR", default=None,
                        help="with --report: also check spirals and decimation against CMR's released files in DIR")


def run(args: argparse.Namespace) -> int:
    """Build (or convert) the template, print what was written and, with --report, the figures."""
    from cmr.fileio import writable_folder
    from cmr.hand.conventions import MANO_TO_FREIHAND
    from cmr.mesh.template import Template
    from cmr.tools.hand_template import write_hand_template

    writable_folder(args.out)
    start = time.perf_counter()
    if args.from_cmr is not None:
        template = Template.from_cmr_release(args.from_cmr, MANO_TO_FREIHAND)
        written = list(template.save(args.out))
    else:
        template, written = write_hand_template(args.out, preview=not args.no_preview)
    counts = " -> ".join(str(n) for n in template.num_vertices)
    print(f"template {template.name!r}: vertices per level {counts}; checksum {template.checksum()[:16]}")
    for path in written:
        print(f"  wrote {path}")
    print(f"  built in {time.perf_counter() - start:.1f} s")
    if args.report:
        from cmr.tools.template_report import template_report

        print(template_report(template, args.compare_cmr))
    return 0
