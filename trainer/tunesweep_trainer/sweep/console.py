"""Local mode's view of a running sweep. It reads what the operator reads (sweep_summary.json,
and the running trials' metrics.jsonl for their latest step), polled from a thread while the
driver runs.

On a terminal: a progress bar and a live trials table, then a table of the trials. Otherwise (a
pipe, a CI log): whole lines, never cut to a width, one per event (a trial queued or started, with
its params the first time it shows; how it ended; the scheduler's rung decisions come as the
driver's log lines), a line of step progress per running trial at most every
`progress_interval_s` (`tunesweep run --progress-interval`), and one line per trial at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import MetricsLine, Plan, SweepSummary, TrialRecord
from tunesweep_evidence.wording import counted

from .driver import DriveResult

_POLL_S = 1.0
_DONE = ("succeeded", "failed", "early_stopped")
_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "early_stopped": "yellow",
    "interrupted": "magenta",
    "running": "cyan",
}


class SweepConsole:
    def __init__(self, plan: Plan, total_trials: int, console: Console, progress_interval_s: float) -> None:
        self.plan = plan
        self.total = total_trials
        self.console = console
        self.progress_interval_s = progress_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="sweep-console", daemon=True)
        self._seen: dict[str, str] = {}
        self._progress_said: dict[str, tuple[float, int]] = {}
        """Per running trial: when its last progress line was said, and at which step."""
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._progress.add_task(f"sweep {plan.sweep.name}", total=total_trials)
        self._live = (
            Live(console=console, refresh_per_second=4, transient=False) if console.is_terminal else None
        )

    def __enter__(self) -> SweepConsole:
        if self._live is not None:
            self._live.start()
        else:
            self._say(
                f"sweep {self.plan.sweep.name}: {counted(self.total, 'trial')}, "
                f"evidence in {self.plan.evidence_uri}"
            )
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._refresh()
        if self._live is not None:
            self._live.stop()

    def _poll(self) -> None:
        while not self._stop.wait(_POLL_S):
            self._refresh()

    def _refresh(self) -> None:
        document = _read_summary(self.plan)
        if document is None:
            return
        done = sum(record.status in _DONE for record in document.trials)
        self._progress.update(self._task, completed=done, total=max(self.total, len(document.trials)))
        if self._live is not None:
            self._live.update(Group(self._progress, self._table(document.trials, live=True)))
        else:
            self._print_changes(document.trials)
            self._print_progress(document.trials)

    def _table(self, records: Sequence[TrialRecord], *, live: bool) -> Table:
        table = Table(title=None if live else "Trials")
        for column in ("trial", "status", "score", "rung scores", "loss" if live else "error", "params"):
            table.add_column(column)
        for record in records:
            extra = _loss_text(_latest_metrics(self.plan, record)) if live else (record.error or "")[:60]
            table.add_row(
                record.trial_id,
                f"[{_STYLE.get(record.status, 'white')}]{record.status}[/]",
                _score(record.primary_score),
                _rungs(record),
                extra,
                _params(record.params),
            )
        return table

    def _print_changes(self, records: Sequence[TrialRecord]) -> None:
        for record in records:
            if self._seen.get(record.trial_id) != record.status:
                first = record.trial_id not in self._seen
                self._seen[record.trial_id] = record.status
                self._say(escape(_trial_line(record, with_params=first)))

    def _print_progress(self, records: Sequence[TrialRecord]) -> None:
        now = time.monotonic()
        for record in records:
            said_at, said_step = self._progress_said.get(record.trial_id, (-float("inf"), -1))
            if record.status != "running" or now - said_at < self.progress_interval_s:
                continue
            line = _latest_metrics(self.plan, record)
            if line is None or line.step == said_step:
                continue
            self._progress_said[record.trial_id] = (now, line.step)
            self._say(f"trial {record.trial_id} {_step_text(line)}")

    def _say(self, text: str) -> None:
        # Whole lines (paths, params) never wrap: users and scripts copy them.
        self.console.print(text, highlight=False, soft_wrap=True)

    def final(self, result: DriveResult) -> None:
        document = result.summary
        if document is None:
            self._say(
                "[yellow]Interrupted.[/] The sweep's state is kept: run the same command again to resume."
            )
            return
        if self._live is not None:
            self.console.print(self._table(document.trials, live=False))
        else:
            self._say("Trials:")
            for record in document.trials:
                self._say(f"  {escape(_trial_line(record, with_params=True))}")
        style = "green" if document.status == "succeeded" else "red"
        reason = f": {document.reason}" if document.reason else ""
        self._say(f"[{style}]Sweep {document.status}[/]{reason}")
        if document.best_trial is not None:
            best = document.best_trial
            test = "" if best.test_score is None else f", held-out test score {_score(best.test_score)}"
            self._say(f"Best trial {best.trial_id}, primary score {_score(best.primary_score)}{test}")
            for key, value in sorted(best.params.items()):
                self._say(f"  {key} = {value}")
        if result.promotion is not None:
            self._say(f"Promoted config: {result.promotion.best_config_uri}")
            self._say(f"Audit record:    {result.promotion.best_params_uri}")
        if result.report_uri is not None:
            self._say(f"Report:          {result.report_uri}")


def _read_summary(plan: Plan) -> SweepSummary | None:
    uri = layout.join(plan.evidence_uri, layout.SWEEP_SUMMARY)
    try:
        return bucket.read_document(uri, SweepSummary)
    except (bucket.BucketError, bucket.DocumentError):
        return None  # not written yet


def _latest_metrics(plan: Plan, record: TrialRecord) -> MetricsLine | None:
    """A running trial's last metrics.jsonl line, if it wrote one."""
    if record.status != "running":
        return None
    uri = layout.join(layout.trial_dir(plan.evidence_uri, record.trial_id), layout.METRICS)
    try:
        lines = bucket.read_jsonl(uri, MetricsLine)
    except (bucket.BucketError, bucket.DocumentError):
        return None
    return lines[-1] if lines else None


def _loss_text(line: MetricsLine | None) -> str:
    return f"step {line.step}: {line.loss:.4f}" if line and line.loss is not None else ""


def _step_text(line: MetricsLine) -> str:
    loss = "" if line.loss is None else f": loss {line.loss:.4f}"
    return f"step {line.step}{loss} ({line.elapsed_s:.0f} s)"


def _trial_line(record: TrialRecord, *, with_params: bool) -> str:
    """One trial as one line: its status, score, rung scores and error (params: every one, whole)."""
    score = f" score {_score(record.primary_score)}" if record.status in _DONE else ""
    rungs = f" rung scores {_rungs(record)}" if record.rung_scores else ""
    interrupted = record.status == "interrupted"
    again = " (goes on from its newest checkpoint when the sweep resumes)" if interrupted else ""
    restarted = f" (restarted {counted(record.restarts, 'time')})" if record.restarts else ""
    error = f" ({record.error})" if record.error else ""
    params = f" params {_all_params(record.params)}" if with_params and record.params else ""
    return f"trial {record.trial_id} {record.status}{score}{rungs}{restarted}{again}{error}{params}"


def _rungs(record: TrialRecord) -> str:
    """`step:score` at each rung reached; a trial the scheduler stopped ends with `cut`."""
    text = " ".join(f"{rung.step}:{rung.score:.2f}" for rung in record.rung_scores)
    return f"{text} cut" if record.status == "early_stopped" and record.rung_scores else text


def _score(score: float | None) -> str:
    return "—" if score is None else f"{score:.4f}"


def _all_params(params: dict[str, object]) -> str:
    """Every param by its whole path and value, as a script or a user copies them."""
    return " ".join(f"{key}={value}" for key, value in sorted(params.items()))


def _params(params: dict[str, object]) -> str:
    """`name=value` by the last segment of each dotted path, or the whole path where two collide."""
    short = [key.rsplit(".", 1)[-1] for key in params]
    names = {key: (s if short.count(s) == 1 else key) for key, s in zip(params, short, strict=True)}
    return " ".join(
        f"{names[k]}={v:.3g}" if isinstance(v, float) else f"{names[k]}={v}"
        for k, v in sorted(params.items())
    )
