"""The `tunesweep` command.

The evidence package ships the commands every install has (`validate`, `explain`, `evidence`, `crd`); the
trainer and operator distributions add theirs through the `tunesweep.commands` entry-point group,
so the operator image has no `train` command and the trainer image has no `operator` command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from .commands import crd, evidence, explain, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesweep", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (validate, explain, evidence, crd):
        module.add_parser(sub)
    for entry in entry_points(group="tunesweep.commands"):
        entry.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
