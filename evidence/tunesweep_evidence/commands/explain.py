"""`tunesweep explain BACKEND`: every key of that backend's `trainer.baseConfig`, with its type,
limits, default and meaning, and the learning-rate schedule; generated from the config models."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config_reference import BACKENDS, UnknownBackend, explain


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="describe every key of a backend's trainer.baseConfig: types, defaults, presets, schedule",
        description=__doc__,
    )
    parser.add_argument("backend", metavar="BACKEND", help=f"the trainer.backend: {', '.join(BACKENDS)}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        text = explain(args.backend)
    except UnknownBackend as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0
