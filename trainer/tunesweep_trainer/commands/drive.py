"""`tunesweep drive --plan URI`: the sweep driver (the RayJob's entrypoint).

Exit codes say whether the driver reached a verdict, not which one: KubeRay re-runs the whole Ray
cluster after a non-zero exit, which only pays when a retry can end differently.
  0    a final sweep_summary.json is written, its status succeeded or failed (too many failed
       trials, no scored trial, a trial that fits no node, an invalid plan, ...): the operator
       reads its status and reason, and promotes (the driver does not).
  1    the driver raised (lost Ray, bucket down; the summary says DriverError): a retry resumes.
  2    the plan cannot be read, so there is no summary to write.
  130  interrupted (Tune kept its state: running it again resumes).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "drive",
        help="run (or resume) the sweep of a frozen plan on Ray: the RayJob entrypoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--plan", required=True, metavar="URI", help="plan.json (path, file://, s3://, gs://)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunesweep_evidence import bucket

    from ..sweep import plan as plans
    from ..sweep.driver import EXIT_INVALID, EXIT_SUCCEEDED, drive_on
    from ..sweep.ray_runtime import ray_session

    try:
        plan = plans.read(args.plan)
    except plans.PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    _log_to_stderr()
    with ray_session(bucket.local_path(plan.evidence_uri)) as session:
        result = drive_on(session, plan, promote=False)  # the operator promotes
    document = result.summary
    if document is None:
        print(f"sweep {plan.sweep.name}: interrupted; run again to resume", file=sys.stderr)
        return result.exit_code
    reason = f": {document.reason}" if document.reason else ""
    print(f"sweep {plan.sweep.name}: {document.status}{reason}")
    return EXIT_SUCCEEDED  # a verdict, failed or not: a retried cluster would only reach it again


def _log_to_stderr() -> None:
    """The driver's own log lines (where the trials go, how many run at once) in the Ray job's log."""
    package = logging.getLogger("tunesweep_trainer")
    if not package.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        package.addHandler(handler)
    package.setLevel(logging.INFO)
