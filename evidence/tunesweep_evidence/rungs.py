"""ASHA's rule on rung scores, pure: the scheduler decides with it and verify replays it.

At each rung step a trial's rung score is compared with the rung's cutoff, the
(1 - 1/reductionFactor) percentile (linear interpolation, as numpy's default) of the scores the
trials before it recorded there, and the trial is cut below it: Ray's ASHA rule, on optimizer steps.
A trial whose last step is a rung records its score there too (the trials after it are compared
with it, as in Ray's ASHA), but is never cut: it has finished training. Every decision is kept in
order (`rung_decisions.json`), so that a resumed driver goes on from them and verify can check
that each one follows from the scores before it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .documents import RungDecision, RungDecisions


class RungLadder:
    def __init__(self, rung_steps: Sequence[int], reduction_factor: int) -> None:
        self.rung_steps = list(rung_steps)
        self.reduction_factor = reduction_factor
        self.decisions: list[RungDecision] = []
        self._recorded: dict[int, dict[str, float]] = {step: {} for step in rung_steps}

    @classmethod
    def resumed(cls, recorded: RungDecisions) -> RungLadder:
        """The ladder as it stood after `recorded` (a restarted driver goes on from it)."""
        ladder = cls(recorded.rung_steps, recorded.reduction_factor)
        for decision in recorded.decisions:
            ladder.record(decision.trial_id, decision.step, decision.score, finished=decision.finished)
        return ladder

    def record(
        self, trial_id: str, step: int, score: float, *, finished: bool = False
    ) -> RungDecision | None:
        """Record a trial's rung score and decide (`finished`: its training is done, so it goes on
        whatever the score); None for a step that is no rung, a rung the trial already passed, or
        a score that is not a number."""
        recorded = self._recorded.get(step)
        if recorded is None or trial_id in recorded or not math.isfinite(score):
            return None
        cutoff = percentile(list(recorded.values()), 1 - 1 / self.reduction_factor) if recorded else None
        decision = RungDecision(
            trial_id=trial_id,
            step=step,
            score=score,
            cutoff=cutoff,
            compared_with=len(recorded),
            cut=not finished and cutoff is not None and score < cutoff,
            finished=finished,
        )
        recorded[trial_id] = score
        self.decisions.append(decision)
        return decision

    def document(self) -> RungDecisions:
        return RungDecisions(
            rung_steps=self.rung_steps, reduction_factor=self.reduction_factor, decisions=self.decisions
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def describe(decision: RungDecision) -> str:
    if decision.finished:
        return f"finished training at rung step {decision.step} (score {decision.score:.3f}): never cut"
    if decision.cutoff is None:
        return (
            f"went on at rung step {decision.step}: the first trial there (rung score {decision.score:.3f})"
        )
    relation = "below" if decision.cut else "at or above"
    verb = "cut" if decision.cut else "went on"
    return (
        f"{verb} at rung step {decision.step}: rung score {decision.score:.3f} {relation} the cutoff "
        f"{decision.cutoff:.3f} of the {decision.compared_with} trial(s) before it there"
    )


def decision_problems(
    recorded: RungDecisions,
    planned_steps: Sequence[int],
    rung_scores: Mapping[str, Mapping[int, float]],
    trial_ends: Mapping[str, tuple[str, int]],
) -> list[str]:
    """What in rung_decisions.json does not follow: its rungs against the plan's, each decision
    replayed against the scores before it, each score against the trial's metrics.jsonl, each cut
    against the trial's end (early_stopped, with no later decision), and each `finished` against
    its max_steps. `trial_ends`: each trial's (status, max_steps)."""
    problems = []
    if recorded.rung_steps != list(planned_steps):
        problems.append(f"rung_steps {recorded.rung_steps} != the plan's {list(planned_steps)}")
    replay = RungLadder(recorded.rung_steps, recorded.reduction_factor)
    cut_at: dict[str, int] = {}
    for index, decision in enumerate(recorded.decisions):
        where = f"decisions[{index}] (trial {decision.trial_id}, step {decision.step})"
        expected = replay.record(decision.trial_id, decision.step, decision.score, finished=decision.finished)
        if expected is None:
            problems.append(f"{where}: not a rung, or the trial's second decision at it")
            continue
        if expected != decision:
            problems.append(f"{where}: recorded {_outcome(decision)}, the rule gives {_outcome(expected)}")
        measured = rung_scores.get(decision.trial_id, {}).get(decision.step)
        if measured is None or not math.isclose(measured, decision.score, abs_tol=1e-9):
            problems.append(
                f"{where}: score {decision.score} != the trial's metrics.jsonl rung_score {measured}"
            )
        max_steps = trial_ends.get(decision.trial_id, ("unknown", 0))[1]
        if decision.finished and decision.step != max_steps:
            problems.append(f"{where}: finished, but the trial trains to step {max_steps}")
        if decision.trial_id in cut_at:
            problems.append(f"{where}: the trial was cut at step {cut_at[decision.trial_id]} before")
        if decision.cut:
            cut_at[decision.trial_id] = decision.step
    for trial_id, step in cut_at.items():
        status = trial_ends.get(trial_id, ("unknown", 0))[0]
        if status != "early_stopped":
            problems.append(f"trial {trial_id}: cut at rung step {step}, yet its status is {status}")
    return problems


def _outcome(decision: RungDecision) -> str:
    cutoff = "none" if decision.cutoff is None else f"{decision.cutoff:.6g}"
    return f"cutoff {cutoff} over {decision.compared_with}, {'cut' if decision.cut else 'went on'}"
