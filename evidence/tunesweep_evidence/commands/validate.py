"""`tunesweep validate FILE...`: check TuningSweep manifests offline, as the API server and the
operator would, one line per problem; then, for valid sweeps, one `warning:` line for each thing that
runs but not as the spec reads (fewer trials at once than trials.parallel; a smoke sweep without a
baseConfig, which tunes the builtin demo model `tiny`).

Exit status: 0 when every file is valid, 1 when any has a problem (bad YAML included), 2 when a
file cannot be read. Documents of other kinds are skipped; a file without a TuningSweep is a problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..sweep_manifest import document_warnings, validate_documents

EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check TuningSweep manifests offline (schema, CEL rules, search space vs training config)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML manifest; - reads stdin")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            print(f"{name}: cannot read: {getattr(error, 'strerror', None) or error}")
            status = EXIT_UNREADABLE
            continue
        problems = validate_documents(text)
        for problem in problems:
            print(problem.line(name))
        if not problems:
            for warning in document_warnings(text):
                print(warning.line(f"{name}: warning"))
            print(f"{name}: ok")
        elif status == 0:
            status = EXIT_INVALID
    return status
