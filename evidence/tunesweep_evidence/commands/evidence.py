"""`tunesweep evidence verify DIR_OR_URI` and `tunesweep evidence schemas --output DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import schemas
from ..bucket import BucketError
from ..digests import SigningKeyError, read_key
from ..verify import verify
from ..wording import counted


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evidence", help="check a sweep's evidence; write the evidence JSON Schemas"
    )
    sub = parser.add_subparsers(dest="evidence_command", required=True, metavar="SUBCOMMAND")

    check = sub.add_parser(
        "verify",
        help="recompute scores, best trial and promoted config from a sweep's evidence; name each mismatch",
    )
    check.add_argument(
        "uri",
        metavar="DIR_OR_URI",
        help="a sweep's evidence folder (its promoted/ folder checks the sweep too), or one trial's folder",
    )
    check.add_argument(
        "--signing-key",
        metavar="FILE",
        help="also check digests.json's HMAC-SHA256 signature with the key in FILE "
        "(the one TUNESWEEP_EVIDENCE_SIGNING_KEY named when the sweep was promoted)",
    )
    check.set_defaults(func=run_verify)

    generate = sub.add_parser(
        "schemas", help="write the evidence JSON Schema files generated from the models"
    )
    generate.add_argument("--output", required=True, type=Path, metavar="DIR")
    generate.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a file in DIR differs from the models",
    )
    generate.set_defaults(func=run_schemas)


def run_verify(args: argparse.Namespace) -> int:
    try:
        key = read_key(args.signing_key) if args.signing_key else None
    except SigningKeyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        report = verify(args.uri, signing_key=key)
    except BucketError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if report.ok:
        print(f"OK {report.root}: {report.summary}")
        return 0
    print("\n".join(report.problems))
    problems = counted(len(report.problems), "problem")
    print(f"FAILED {report.root}: {problems}; {report.summary}", file=sys.stderr)
    return 1


def run_schemas(args: argparse.Namespace) -> int:
    if args.check:
        drifted = schemas.drifted_schemas(args.output)
        for name in drifted:
            print(f"{args.output / name}: differs from the models; run `{schemas.REGENERATE}`")
        return 1 if drifted else 0
    for path in schemas.write_schemas(args.output):
        print(path)
    return 0
