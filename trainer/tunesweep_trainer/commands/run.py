"""`tunesweep run SWEEP.yaml [--out DIR]`: run a sweep on this machine with a local Ray."""

from __future__ import annotations

import argparse
from typing import Any

PROGRESS_INTERVAL_S = 10.0
"""Without a terminal, the least time between two step-progress lines of a running trial."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a TuningSweep on this machine (local Ray, no cluster); re-run to resume",
        description="Run the sweep driver with a local Ray. Evidence, the promoted config and "
        "report.html go to the sweep's evidence folder (said at start); running the same command "
        "again resumes the sweep there.",
    )
    parser.add_argument("sweep", metavar="SWEEP.yaml", help="a TuningSweep manifest (as for kubectl apply)")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="evidence folder (default: <spec.evidence.uri>/local/<sweep name>/, or ./runs/<sweep name>/ "
        "when the spec sets no evidence.uri)",
    )
    parser.add_argument(
        "--progress-interval",
        metavar="SECONDS",
        type=_positive_seconds,
        default=PROGRESS_INTERVAL_S,
        help="without a terminal (a pipe, a CI log): the least time between two step-progress lines "
        f"of a running trial (default: {PROGRESS_INTERVAL_S:g})",
    )
    parser.set_defaults(func=run)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected seconds above 0, got {text!r}")
    return seconds


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..sweep.local import run_local  # Ray and JAX load only when a sweep runs

    return run_local(args.sweep, args.out, Console(), progress_interval_s=args.progress_interval)
