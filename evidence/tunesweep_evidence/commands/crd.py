"""`tunesweep crd [--output FILE]`: the TuningSweep CRD, generated from the spec models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..crd import CRD_PATH, crd_yaml


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crd",
        help="print the TuningSweep CustomResourceDefinition generated from the spec models",
    )
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help=f"write it to FILE (the committed one is {CRD_PATH})"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = crd_yaml()
    if args.output is None:
        print(text, end="")
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0
