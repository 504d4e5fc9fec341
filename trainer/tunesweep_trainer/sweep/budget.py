"""`spec.budget` in Ray Tune: never start a trial the budget cannot afford, cut running trials once
it is spent, and say in the evidence what each trial cost.

One `BudgetLedger` is shared by three Tune hooks, all in the Tuner that Tune pickles as one object
(so a restored sweep gets them back still sharing it):
- `BudgetTracker` (a Callback) records when each trial starts holding its resources, its steps, and
  when it ends; its `get_state` is saved with the experiment, so a restored sweep keeps counting;
- the search algorithm, made a budgeted one (`BudgetedVariants`, `BudgetedSearchGenerator`):
  `next_trial` hands out a trial only while the ledger can afford one more
  (`tunesweep_evidence.budget.decide`), and `is_finished` ends the search once it cannot and no
  running trial could change that;
- `BudgetStopper` cuts a running trial at its next report once the spend reached the limit or the
  wall time passed.

The evidence is priced after the fact (`priced`): a trial holds its resources from Tune's start of it
to the later of Tune's end of it and the end its run_manifest.json records, at the rate of the spec.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ray.tune import Callback, Stopper
from ray.tune.experiment import Trial
from ray.tune.search import BasicVariantGenerator, SearchAlgorithm, Searcher, SearchGenerator
from ray.tune.stopper import CombinedStopper
from tunesweep_evidence import budget
from tunesweep_evidence.documents import SweepBudget, SweepSummary, TrialRecord
from tunesweep_evidence.spec import TuningSweepSpec

from .results import OBJECTIVE, finite_or_nan


@dataclass
class _Held:
    """One trial as the budget sees it (epoch seconds: they survive a restored driver)."""

    max_steps: int
    started: float | None = None
    ended: float | None = None
    end: budget.TrialEnd = "running"
    step: int = 0
    evaluated: bool = False
    """It reported its primary score: it trained to its last step (a full-length trial)."""


class BudgetLedger:
    def __init__(self, spec: TuningSweepSpec, terms: budget.Terms) -> None:
        self.terms = terms
        self.limit, self.wall_limit, self.rate = terms.limit, terms.wall_limit, terms.rate
        self.parallel = spec.trials.parallel
        self.backend = spec.trainer.backend
        self.base_config = spec.trainer.base_config
        self.sweep_started = time.time()
        self.trials: dict[str, _Held] = {}
        self.cut: list[str] = []
        self.stopped_starting = ""
        """Why the budget ended the search (`BudgetSpent: ...`, `WallTimeSpent: ...`); empty if it did not."""

    def spends(self, now: float) -> list[budget.TrialSpend]:
        return [
            budget.TrialSpend(
                held_seconds=0.0 if held.started is None else (held.ended or now) - held.started,
                end=held.end,
                step=held.step,
                max_steps=held.max_steps,
            )
            for held in self.trials.values()
        ]

    def decision(self, now: float) -> budget.Decision:
        return budget.decide(
            self.limit,
            self.rate,
            self.spends(now),
            parallel=self.parallel,
            wall_limit=self.wall_limit,
            wall_used=now - self.sweep_started,
        )

    def exhausted(self, now: float) -> bool:
        return budget.exhausted(
            self.limit,
            self.rate,
            self.spends(now),
            wall_limit=self.wall_limit,
            wall_used=now - self.sweep_started,
        )

    @property
    def running(self) -> bool:
        return any(held.end == "running" for held in self.trials.values())

    def admit(self, trial_id: str, params: dict[str, Any]) -> None:
        self.trials[trial_id] = _Held(budget.trial_max_steps(self.backend, self.base_config, params))

    def start(self, trial_id: str, params: dict[str, Any], now: float) -> None:
        """A fresh interval, also for a trial a restored sweep runs again."""
        if trial_id not in self.trials:  # handed out before the ledger's last saved state
            self.admit(trial_id, params)
        self.trials[trial_id] = _Held(self.trials[trial_id].max_steps, started=now)

    def report(self, trial_id: str, result: dict[str, Any]) -> None:
        held = self.trials.get(trial_id)
        if held is None:
            return
        held.step = max(held.step, int(result.get("step") or 0))
        held.evaluated = held.evaluated or math.isfinite(finite_or_nan(result.get(OBJECTIVE)))

    def finish(self, trial_id: str, now: float, *, failed: bool) -> None:
        held = self.trials.get(trial_id)
        if held is None or held.end != "running":
            return
        held.ended = now if held.started is not None else None
        held.end = "full" if held.evaluated and not failed and trial_id not in self.cut else "partial"

    def get_state(self) -> dict[str, Any]:
        return {
            "sweep_started": self.sweep_started,
            "trials": {trial_id: asdict(held) for trial_id, held in self.trials.items()},
            "cut": list(self.cut),
            "stopped_starting": self.stopped_starting,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.sweep_started = state["sweep_started"]
        self.trials = {trial_id: _Held(**held) for trial_id, held in state["trials"].items()}
        self.cut = list(state["cut"])
        self.stopped_starting = state["stopped_starting"]


class BudgetTracker(Callback):
    def __init__(self, ledger: BudgetLedger) -> None:
        self.ledger = ledger

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.ledger.start(trial.trial_id, dict(trial.config), time.time())

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        self.ledger.report(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.ledger.finish(trial.trial_id, time.time(), failed=False)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.ledger.finish(trial.trial_id, time.time(), failed=True)

    def get_state(self) -> dict[str, Any]:
        return self.ledger.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.ledger.set_state(state)


class BudgetStopper(Stopper):
    """Cuts a running trial at its next report once the budget is spent; a trial reporting its
    primary score has finished training and is left to end."""

    def __init__(self, ledger: BudgetLedger) -> None:
        self.ledger = ledger

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if math.isfinite(finite_or_nan(result.get(OBJECTIVE))) or not self.ledger.exhausted(time.time()):
            return False
        if trial_id not in self.ledger.cut:
            self.ledger.cut.append(trial_id)
        return True

    def stop_all(self) -> bool:
        return False


class _BudgetGate(SearchAlgorithm):
    """Hands out a trial only while the budget affords it; the rest is the search algorithm's own.

    A subclass of the algorithm rather than a wrapper: Tune sizes its queue of pending trials by
    the algorithm's type (a BasicVariantGenerator's, or a ConcurrencyLimiter's limit), and a wrapper
    would start the trials one at a time."""

    ledger: BudgetLedger

    def next_trial(self) -> Trial | None:
        if not self.ledger.decision(time.time()).may_start:
            return None
        trial = super().next_trial()
        if trial is not None:
            self.ledger.admit(trial.trial_id, dict(trial.config))
        return trial

    def is_finished(self) -> bool:
        if super().is_finished():
            return True
        if self.ledger.running:  # what they report or spend may change the decision
            return False
        decision = self.ledger.decision(time.time())
        if decision.may_start:
            return False
        self.ledger.stopped_starting = decision.reason
        return True


class BudgetedVariants(_BudgetGate, BasicVariantGenerator):
    """random and grid: the sweep's BasicVariantGenerator, as configured (its seed, its limit)."""

    def __init__(self, variants: BasicVariantGenerator, ledger: BudgetLedger) -> None:
        self.__dict__.update(variants.__dict__)
        self.ledger = ledger

    def get_state(self) -> dict[str, Any]:
        # Tune saves the generator's whole __dict__; the ledger is the BudgetTracker's to save, and
        # a restored generator must keep sharing the live one.
        state = super().get_state()
        if state:
            state.pop("ledger", None)
        return state


class BudgetedSearchGenerator(_BudgetGate, SearchGenerator):
    """tpe: the Searcher (in its ConcurrencyLimiter), in the SearchGenerator Tune would put it in."""

    def __init__(self, searcher: Searcher, ledger: BudgetLedger) -> None:
        super().__init__(searcher)
        self.ledger = ledger


@dataclass(frozen=True)
class BudgetHooks:
    """The Tuner's parts for spec.budget; without one, each hands back what it is given."""

    ledger: BudgetLedger | None

    @classmethod
    def of(cls, spec: TuningSweepSpec) -> BudgetHooks:
        terms = budget.terms_of(spec)
        return cls(None if terms is None else BudgetLedger(spec, terms))

    def search(self, search_alg: SearchAlgorithm | Searcher) -> SearchAlgorithm | Searcher:
        if self.ledger is None:
            return search_alg
        if isinstance(search_alg, BasicVariantGenerator):
            return BudgetedVariants(search_alg, self.ledger)
        if isinstance(search_alg, Searcher):
            return BudgetedSearchGenerator(search_alg, self.ledger)
        raise TypeError(f"spec.budget cannot gate the search algorithm {type(search_alg).__name__}")

    def callbacks(self) -> list[Callback]:
        """Before the progress callback, so that the summary it writes knows each trial's start."""
        return [] if self.ledger is None else [BudgetTracker(self.ledger)]

    def stopper(self, stopper: Stopper) -> Stopper:
        return stopper if self.ledger is None else CombinedStopper(stopper, BudgetStopper(self.ledger))


@dataclass(frozen=True)
class BudgetView:
    """What pricing needs from the ledger: the live one, or the last summary's copy of it (the driver's
    final summary, written after Tune's callbacks are gone)."""

    started_at: str
    held_from: dict[str, str]
    held_until: dict[str, str]
    cut_trials: list[str]
    stopped_starting: str

    @classmethod
    def of_ledger(cls, ledger: BudgetLedger) -> BudgetView:
        trials = ledger.trials.items()
        return cls(
            started_at=iso_epoch(ledger.sweep_started),
            held_from={tid: iso_epoch(h.started) for tid, h in trials if h.started is not None},
            held_until={tid: iso_epoch(h.ended) for tid, h in trials if h.ended is not None},
            cut_trials=list(ledger.cut),
            stopped_starting=ledger.stopped_starting,
        )

    @classmethod
    def of_summary(cls, summary: SweepSummary | None, now: datetime) -> BudgetView:
        if summary is None or summary.budget is None:
            return cls(iso(now), {}, {}, [], "")
        trials = summary.trials
        return cls(
            started_at=summary.budget.started_at,
            held_from={r.trial_id: r.held_from for r in trials if r.held_from},
            held_until={r.trial_id: r.held_until for r in trials if r.held_until and r.status != "running"},
            cut_trials=list(summary.budget.cut_trials),
            stopped_starting=summary.budget.stopped_starting,
        )


def priced(
    terms: budget.Terms, records: list[TrialRecord], view: BudgetView, now: datetime
) -> tuple[list[TrialRecord], SweepBudget]:
    """Each record with the interval it held its resources and what that cost, and the sweep's spend.

    The interval starts when Tune started the trial (or its run_manifest's `started_at`, if earlier)
    and ends at the later of Tune's end of it and its run_manifest's `finished_at`; a running trial
    holds them until `now`.
    """
    rate = terms.rate
    out = []
    for record in records:
        started = view.held_from.get(record.trial_id)
        if started is None:  # never started: it held nothing
            out.append(record)
            continue
        # A trial started again (a restart after a lost process or driver, or one replayed by a
        # restored sweep) started anew in the ledger, yet is charged since its first start (its
        # run_manifest's started_at, which keeps whole seconds), the time between included.
        run_start = record.started_at
        replayed = run_start is not None and parse_time(run_start) < parse_time(started).replace(
            microsecond=0
        )
        held_from = run_start if run_start is not None and replayed else started
        ends = [t for t in (view.held_until.get(record.trial_id), record.finished_at) if t]
        held_until = max(ends, key=parse_time) if ends and record.status != "running" else iso(now)
        seconds = (parse_time(held_until) - parse_time(held_from)).total_seconds()
        update = {"held_from": held_from, "held_until": held_until, "accelerator_hours": rate.cost(seconds)}
        out.append(record.model_copy(update=update))
    spent = sum(record.accelerator_hours or 0.0 for record in out)
    limit = terms.limit
    return out, SweepBudget(
        unit=rate.unit,
        rate=rate.per_hour,
        limit=limit,
        spent=spent,
        left=budget.left(limit, spent),
        wall_seconds_limit=terms.wall_limit,
        wall_seconds_used=max(0.0, (now - parse_time(view.started_at)).total_seconds()),
        started_at=view.started_at,
        cut_trials=view.cut_trials,
        stopped_starting=view.stopped_starting,
    )


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def iso_epoch(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)
