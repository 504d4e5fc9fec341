from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import pytest
from tunesweep_evidence.documents import TrialRecord
from tunesweep_evidence.selection import best_trial


def trial(
    trial_id: str,
    score: float | None,
    status: str = "succeeded",
    finished_at: str | None = "2026-01-01T00:00:00Z",
) -> TrialRecord:
    return TrialRecord.model_construct(
        trial_id=trial_id, status=status, primary_score=score, finished_at=finished_at, params={}
    )


def best_id(trials: Iterable[TrialRecord], mode: str, *, allow_unscored: bool = False) -> str | None:
    best = best_trial(trials, mode, allow_unscored=allow_unscored)
    return best.trial_id if best else None


def test_max_picks_the_highest_min_the_lowest() -> None:
    trials = [trial("a", 0.2), trial("b", 0.9), trial("c", 0.5)]
    assert best_id(trials, "max") == "b"
    assert best_id(trials, "min") == "a"


def test_ties_go_to_the_earliest_finished_then_the_smallest_id() -> None:
    trials = [
        trial("c", 0.7, finished_at="2026-01-01T00:05:00+00:00"),
        trial("b", 0.7, finished_at="2026-01-01T00:03:00+00:00"),
        trial("a", 0.7, finished_at="2026-01-01T00:03:00Z"),
        trial("d", 0.7, finished_at=None),
    ]
    for order in itertools.permutations(trials):
        assert best_id(order, "max") == "a"


def test_offsets_are_compared_as_instants() -> None:
    later_text_earlier_instant = trial("x", 0.5, finished_at="2026-01-01T01:00:00+02:00")
    assert best_trial(
        [trial("y", 0.5, finished_at="2026-01-01T00:00:00Z"), later_text_earlier_instant], "max"
    ) == (later_text_earlier_instant)


@pytest.mark.parametrize(
    "excluded",
    [
        trial("x", 0.99, status="failed"),
        trial("x", 0.99, status="running"),
        trial("x", 0.99, status="pending"),
        trial("x", None),
        trial("x", None, status="early_stopped"),
        trial("x", math.nan),
    ],
)
def test_failed_unfinished_and_unscored_trials_never_win(excluded: TrialRecord) -> None:
    assert best_id([excluded, trial("ok", 0.1)], "max") == "ok"
    assert best_trial([excluded], "max") is None


def test_an_early_stopped_trial_with_a_score_is_eligible() -> None:
    assert best_id([trial("a", 0.1), trial("b", 0.8, status="early_stopped")], "max") == "b"


def test_nothing_eligible_is_none() -> None:
    assert best_trial([], "max") is None


def test_unscored_fallback_takes_the_first_succeeded_trial() -> None:
    trials = [
        trial("b", None, finished_at="2026-01-01T00:02:00Z"),
        trial("a", None, status="failed", finished_at="2026-01-01T00:01:00Z"),
        trial("c", None, finished_at="2026-01-01T00:03:00Z"),
    ]
    assert best_trial(trials, "max") is None
    assert best_id(trials, "max", allow_unscored=True) == "b"
    assert best_id([*trials, trial("d", 0.0)], "max", allow_unscored=True) == "d"


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown objective mode 'maximize'"):
        best_trial([trial("a", 0.5)], "maximize")
    with pytest.raises(ValueError, match="trial 'a': finished_at 'yesterday' is not an ISO 8601 timestamp"):
        best_trial([trial("a", 0.5, finished_at="yesterday"), trial("b", 0.5)], "max")
