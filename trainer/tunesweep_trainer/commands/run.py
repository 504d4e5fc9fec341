"""`tunesweep run SWEEP.yaml [--out DIR]`: run a sweep on this machine with a local Ray."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a TuningSweep on this machine (local Ray, no cluster); re-run to resume",
        description="Run the sweep driver with a local Ray. Evidence, the promoted config and "
        "report.html go to DIR; running the same command again resumes the sweep in DIR.",
    )
    parser.add_argument("sweep", metavar="SWEEP.yaml", help="a TuningSweep manifest (as for kubectl apply)")
    parser.add_argument("--out", metavar="DIR", help="evidence folder (default: ./runs/<sweep name>/)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..sweep.local import run_local  # Ray and JAX load only when a sweep runs

    return run_local(args.sweep, args.out, Console())
