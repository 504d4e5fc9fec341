"""Local mode: `tunesweep run SWEEP.yaml [--out DIR]` runs the sweep driver with a local Ray.

The same TuningSweep YAML a user applies with kubectl, the same plan, driver and evidence; the
evidence folder is DIR (default `./runs/<name>/`) instead of the bucket. The plan is frozen into
DIR once: running the command again with the same DIR resumes that sweep (Ctrl-C keeps its state).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from tunesweep_evidence import bucket, layout, sweep_manifest
from tunesweep_evidence.documents import Plan
from tunesweep_evidence.placement import planned_trials
from tunesweep_evidence.spec import TuningSweep

from . import plan as plans
from .console import SweepConsole
from .driver import EXIT_INTERRUPTED, EXIT_INVALID, drive_on
from .ray_runtime import ray_session

LOCAL_NAMESPACE = "local"


class SweepFileError(ValueError):
    """A sweep file that local mode cannot run; the message says what to fix."""


def run_local(sweep_path: str, out: str | None, console: Console) -> int:
    try:
        sweep = load_sweep(sweep_path)
        out_dir = os.path.abspath(out or os.path.join("runs", sweep.metadata.name))
        plan, resumed = plan_for(sweep, out_dir)
    except (SweepFileError, plans.PlanError, bucket.BucketError) as error:
        console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        return EXIT_INVALID
    spec = plans.spec_of(plan)
    # Tune's own hints (e.g. "Resume experiment with: Tuner.restore(...)") are not this command's.
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    verb = "Resuming" if resumed else "Starting"
    console.print(f"{verb} sweep {plan.sweep.name} (uid {plan.sweep.uid}) in {out_dir}", soft_wrap=True)
    try:
        with (
            ray_session(out_dir) as session,
            _log_to(console),
            SweepConsole(plan, planned_trials(spec), console) as view,
        ):
            result = drive_on(session, plan, promote=True)  # no operator here: the driver promotes
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/] Run the same command again to resume the sweep.")
        return EXIT_INTERRUPTED
    view.final(result)
    return result.exit_code


def load_sweep(path: str) -> TuningSweep:
    """The file's TuningSweep, validated as `tunesweep validate` and the API server would."""
    try:
        return sweep_manifest.load_sweep(path)
    except OSError as error:
        raise SweepFileError(f"cannot read {path}: {error.strerror or error}") from None
    except sweep_manifest.SpecError as error:
        raise SweepFileError(f"not a valid TuningSweep:\n{error}") from None


def plan_for(sweep: TuningSweep, out_dir: str) -> tuple[Plan, bool]:
    """The plan already frozen in `out_dir` (resume), or a new one written there."""
    fresh = plans.freeze(sweep, uid=str(uuid.uuid4()), namespace=LOCAL_NAMESPACE, evidence_uri=out_dir)
    if not bucket.exists(layout.join(out_dir, layout.PLAN)):
        plans.write(fresh)
        return fresh, False
    existing = plans.read(out_dir)
    if existing.sweep.name != fresh.sweep.name or existing.spec != fresh.spec:
        raise SweepFileError(
            f"{out_dir} holds sweep {existing.sweep.name!r} (uid {existing.sweep.uid}) with a different "
            "spec; pass another --out, or remove that folder to start over"
        )
    return existing, True


@contextmanager
def _log_to(console: Console) -> Iterator[None]:
    """The driver's log lines (where the trials run, how many at once, warnings) on the console."""
    package = logging.getLogger("tunesweep_trainer")
    handler, level = _ConsoleLog(console), package.level
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(level)


class _ConsoleLog(logging.Handler):
    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        self.console.print(f"[{style}]{escape(self.format(record))}[/]", soft_wrap=True)
