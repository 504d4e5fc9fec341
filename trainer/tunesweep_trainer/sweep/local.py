"""Local mode: `tunesweep run SWEEP.yaml [--out DIR]` runs the sweep driver with a local Ray.

The same TuningSweep YAML a user applies with kubectl, the same plan, driver and evidence. The
sweep's evidence folder (`evidence_destination`) is DIR when given, else
`<spec.evidence.uri>/local/<name>/` (the operator's `<uri>/<namespace>/<name>/<uid>/`, without the
uid, so that the same command finds it again), else `./runs/<name>/`. The plan is frozen into that
folder once: running the same command again resumes that sweep (Ctrl-C keeps its state).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from tunesweep_evidence import bucket, layout, sweep_manifest, trial_checkpoints
from tunesweep_evidence.documents import Plan, RunManifest
from tunesweep_evidence.placement import planned_trials
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.warm_start import UNRESOLVED, WarmStartError, resolved

from . import plan as plans
from .console import SweepConsole
from .driver import EXIT_INTERRUPTED, EXIT_INVALID, drive_on
from .ray_runtime import ray_session

LOCAL_NAMESPACE = "local"


class SweepFileError(ValueError):
    """A sweep file that local mode cannot run; the message says what to fix."""


@dataclass(frozen=True)
class EvidenceDestination:
    uri: str
    """The sweep's evidence folder: a local path, or an `s3://` / `gs://` URI."""
    why: str
    """What chose it: `--out`, `spec.evidence.uri`, or the default."""


def evidence_destination(sweep: TuningSweep, out: str | None) -> EvidenceDestination:
    """Where a local run writes: `--out`, else below spec.evidence.uri, else ./runs/<name>/."""
    if out:
        return EvidenceDestination(os.path.abspath(out), "--out")
    return _default_destination(sweep.spec.evidence.uri, sweep.metadata.name)


def _default_destination(evidence_uri: str, name: str) -> EvidenceDestination:
    if evidence_uri:
        folder = layout.join(evidence_uri, LOCAL_NAMESPACE, name)
        return EvidenceDestination(bucket.local_path(folder) or folder, "spec.evidence.uri")
    return EvidenceDestination(os.path.abspath(os.path.join("runs", name)), "default: no spec.evidence.uri")


def warm_start_folder(sweep: TuningSweep, field: str, name: str) -> str:
    """The folder local mode runs sweep `name` in (without --out), for `spec.warmStart[i].sweep`;
    raises WarmStartError naming `field` when no sweep ran there."""
    destination = _default_destination(sweep.spec.evidence.uri, name)
    if not bucket.exists(layout.join(destination.uri, layout.PLAN)):
        raise WarmStartError(
            UNRESOLVED,
            f"{field} {name}: no sweep evidence at {destination.uri} (where `tunesweep run` puts sweep "
            f"{name}, from {destination.why}); run that sweep there first, or name its folder in "
            f"{field.rpartition('.')[0]}.evidenceURI instead",
        )
    return destination.uri


def run_local(sweep_path: str, out: str | None, console: Console, *, progress_interval_s: float) -> int:
    """The sweep run here; `progress_interval_s`: without a terminal, the least time between two
    step-progress lines of a running trial."""
    try:
        sweep = load_sweep(sweep_path)
        destination = evidence_destination(sweep, out)
        plan, resumed = plan_for(sweep, destination.uri)
    except (SweepFileError, plans.PlanError, bucket.BucketError, WarmStartError) as error:
        console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        return EXIT_INVALID
    spec = plans.spec_of(plan)
    # Tune's own hints (e.g. "Resume experiment with: Tuner.restore(...)") are not this command's.
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    verb = "Resuming" if resumed else "Starting"
    console.print(f"{verb} sweep {plan.sweep.name} (uid {plan.sweep.uid})", highlight=False, soft_wrap=True)
    console.print(f"evidence: {destination.uri} ({destination.why})", highlight=False, soft_wrap=True)
    for line in resuming_trials(destination.uri) if resumed else ():
        console.print(line, highlight=False, soft_wrap=True)
    try:
        with (
            ray_session(bucket.local_path(destination.uri)) as session,
            _log_to(console),
            SweepConsole(plan, planned_trials(spec), console, progress_interval_s) as view,
        ):
            result = drive_on(session, plan, promote=True)  # no operator here: the driver promotes
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/] Run the same command again to resume the sweep.")
        return EXIT_INTERRUPTED
    view.final(result)
    return result.exit_code


def resuming_trials(root: str) -> list[str]:
    """Where each trial the last run left unfinished goes on from."""
    lines = []
    for trial_id in bucket.list_dir(layout.join(root, "trials")):
        manifest_uri = layout.join(layout.trial_dir(root, trial_id), layout.RUN_MANIFEST)
        if not bucket.exists(manifest_uri):
            continue
        if bucket.read_document(manifest_uri, RunManifest).status not in ("running", "interrupted"):
            continue
        newest = trial_checkpoints.latest(layout.trial_dir(root, trial_id))
        lines.append(
            f"trial {trial_id} resumes from step {newest.step} (its newest checkpoint)"
            if newest
            else f"trial {trial_id} starts again from step 0 (it saved no checkpoint)"
        )
    return lines


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
    if not bucket.exists(layout.join(out_dir, layout.PLAN)):
        fresh = plans.freeze(
            sweep,
            uid=str(uuid.uuid4()),
            namespace=LOCAL_NAMESPACE,
            evidence_uri=out_dir,
            warm_start=resolved(sweep.spec, lambda field, name: warm_start_folder(sweep, field, name)),
        )
        plans.write(fresh)
        return fresh, False
    existing = plans.read(out_dir)
    wanted = sweep.spec.model_dump(mode="json", by_alias=True)
    if existing.sweep.name != sweep.metadata.name or existing.spec != wanted:
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
