"""The rung rule (ASHA on rung scores) and its replay by verify (pure)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from tunesweep_evidence.documents import RungDecisions
from tunesweep_evidence.rungs import RungLadder, decision_problems, describe, percentile


def test_the_first_trial_at_a_rung_goes_on_and_later_ones_are_cut_below_the_cutoff() -> None:
    ladder = RungLadder([10, 30], reduction_factor=2)
    first = ladder.record("a", 10, 0.2)
    assert first is not None and first.cutoff is None and not first.cut
    assert "the first trial there" in describe(first)
    assert ladder.record("b", 10, 0.6) is not None
    cut = ladder.record("c", 10, 0.3)  # the median of (0.2, 0.6) is 0.4
    assert cut is not None and (cut.trial_id, cut.step, cut.score, cut.compared_with, cut.cut) == (
        "c",
        10,
        0.3,
        2,
        True,
    )
    assert cut.cutoff == pytest.approx(0.4)
    assert (
        describe(cut)
        == "cut at rung step 10: rung score 0.300 below the cutoff 0.400 of the 2 trial(s) before it there"
    )
    assert ladder.record("c", 10, 0.0) is None  # a rung counts once per trial
    assert ladder.record("b", 20, 0.0) is None  # not a rung
    assert ladder.record("d", 30, float("nan")) is None
    passed = ladder.record("b", 30, 0.1)  # each rung compares its own records
    assert passed is not None and not passed.cut
    assert [d.trial_id for d in ladder.document().decisions] == ["a", "b", "c", "b"]


@pytest.mark.parametrize("seed", range(6))
def test_cuts_follow_numpys_percentile_of_the_earlier_records(seed: int) -> None:
    rng = random.Random(seed)
    factor = rng.choice([2, 3, 4])
    ladder, seen = RungLadder([5], reduction_factor=factor), []
    for index in range(30):
        score = round(rng.random(), 2)
        decision = ladder.record(f"t{index}", 5, score)
        assert decision is not None
        expected = float(np.percentile(seen, (1 - 1 / factor) * 100)) if seen else None
        assert decision.cutoff == pytest.approx(expected)
        assert decision.cut == (expected is not None and score < expected)
        seen.append(score)
    assert percentile([3.0], 0.5) == 3.0


def _sweep() -> tuple[RungLadder, dict[str, dict[int, float]], dict[str, tuple[str, int]]]:
    """Rungs 10 and 30; trial d trains 30 steps only, so its rung 30 is its finished end."""
    ladder = RungLadder([10, 30], reduction_factor=2)
    scores = {"a": {10: 0.5, 30: 0.7}, "b": {10: 0.8}, "c": {10: 0.2}, "d": {10: 0.9, 30: 0.1}}
    for trial_id, step in (("a", 10), ("b", 10), ("c", 10), ("a", 30), ("d", 10), ("d", 30)):
        ladder.record(trial_id, step, scores[trial_id][step], finished=(trial_id, step) == ("d", 30))
    ends = {"a": ("succeeded", 60), "b": ("running", 60), "c": ("early_stopped", 60), "d": ("succeeded", 30)}
    return ladder, scores, ends


def test_a_trial_that_finished_training_at_a_rung_counts_there_and_is_never_cut() -> None:
    ladder, _, _ = _sweep()
    finished = ladder.decisions[-1]
    assert (finished.trial_id, finished.finished, finished.cutoff, finished.cut) == ("d", True, 0.7, False)
    assert "never cut" in describe(finished)
    after = ladder.record("e", 30, 0.2)
    assert after is not None and after.compared_with == 2 and after.cut  # d's 0.1 counts


def test_recorded_decisions_that_follow_from_the_scores_pass() -> None:
    ladder, scores, statuses = _sweep()
    assert decision_problems(ladder.document(), [10, 30], scores, statuses) == []


def _flip_cut(d: RungDecisions) -> None:
    d.decisions[2].cut = False


def _lower_score(d: RungDecisions) -> None:
    d.decisions[0].score = 0.45


def _reorder(d: RungDecisions) -> None:
    d.decisions.reverse()


def _decide_after_cut(d: RungDecisions) -> None:
    d.decisions.append(
        d.decisions[2].model_copy(update={"step": 30, "cut": False, "cutoff": 0.7, "compared_with": 1})
    )


def _drop_rung(d: RungDecisions) -> None:
    d.rung_steps = [10]


def _repeat(d: RungDecisions) -> None:
    d.decisions.append(d.decisions[0])


def _finish_early(d: RungDecisions) -> None:
    d.decisions[2].finished = True


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            _flip_cut,
            "decisions[2] (trial c, step 10): recorded cutoff 0.65 over 2, went on, "
            "the rule gives cutoff 0.65 over 2, cut",
        ),
        (
            _lower_score,
            "decisions[0] (trial a, step 10): score 0.45 != the trial's metrics.jsonl rung_score 0.5",
        ),
        (
            _reorder,
            "decisions[0] (trial d, step 30): recorded cutoff 0.7 over 1, went on, "
            "the rule gives cutoff none over 0, went on",
        ),
        (_decide_after_cut, "decisions[6] (trial c, step 30): the trial was cut at step 10 before"),
        (_drop_rung, "rung_steps [10] != the plan's [10, 30]"),
        (_repeat, "decisions[6] (trial a, step 10): not a rung, or the trial's second decision at it"),
        (_finish_early, "decisions[2] (trial c, step 10): finished, but the trial trains to step 60"),
    ],
)
def test_tampered_decisions_are_named(tamper: Callable[[RungDecisions], None], problem: str) -> None:
    ladder, scores, statuses = _sweep()
    recorded = ladder.document().model_copy(deep=True)
    tamper(recorded)
    problems = decision_problems(recorded, [10, 30], scores, statuses)
    assert problem in problems, problems


def test_a_cut_trial_that_did_not_end_early_stopped_is_named() -> None:
    ladder, scores, statuses = _sweep()
    problems = decision_problems(ladder.document(), [10, 30], scores, {**statuses, "c": ("succeeded", 60)})
    assert problems == ["trial c: cut at rung step 10, yet its status is succeeded"]
