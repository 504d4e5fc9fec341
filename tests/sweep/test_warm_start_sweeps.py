"""Warm-started mock sweeps through the real driver on the session's local Ray: the searcher gets an
earlier sweep's scored points as finished Optuna trials (nothing re-run, never counted, never
promoted), verify checks each seeded score against its source, and a warm start reaches an earlier
sweep's best in fewer trials than a cold one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState
from ray.tune import ExperimentAnalysis
from tunesweep_evidence import layout
from tunesweep_evidence.documents import SweepSummary
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.sweep_evidence import EvidenceReader, load_trials
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED, drive
from tunesweep_trainer.sweep.ray_storage import ray_storage
from tunesweep_trainer.sweep.results import OBJECTIVE
from tunesweep_trainer.sweep.search_space import param_space
from tunesweep_trainer.sweep.searcher import ObjectiveSearch

from tests.evidence.builders import edit_json
from tests.sweep.sweeps import MOCK_BASE_CONFIG, frozen_plan, sweep_manifest, sweep_summary


def tpe_manifest(
    name: str, seed: int, count: int, space: dict[str, Any], warm_from: Path | None = None
) -> dict[str, Any]:
    base = copy.deepcopy(MOCK_BASE_CONFIG)
    base["data"]["eval_size"] = 100  # scores in steps of 0.01, finer than the tolerance below
    return sweep_manifest(
        name,
        trainer={"backend": "mock", "baseConfig": base},
        searchSpace=space,
        algorithm={"name": "tpe", "seed": seed},
        # one at a time: TPE then sees every earlier trial, and the order is the seed's alone
        trials={"count": count, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
        **({"warmStart": [{"evidenceURI": f"file://{warm_from}"}]} if warm_from else {}),
    )


def run_sweep(out: Path, manifest: dict[str, Any]) -> SweepSummary:
    assert drive(frozen_plan(out, manifest)).exit_code == EXIT_SUCCEEDED
    return sweep_summary(out)


def scores_in_order(out: Path, summary: SweepSummary) -> list[float]:
    """The trials' scores in the order Tune created them (its experiment tags count them; with
    parallel 1 that is the order they ran in). Not by started_at, which has whole seconds that mock
    trials share, nor by trial id, which TPE's trials get at random."""
    storage = ray_storage(str(out))
    created = {
        trial.trial_id: int(trial.experiment_tag.split("_", 1)[0])
        for trial in ExperimentAnalysis(storage.experiment_path).trials
    }
    trials = sorted(summary.trials, key=lambda t: created[t.trial_id])
    return [t.primary_score if t.primary_score is not None else 0.0 for t in trials]


def test_seeded_points_are_finished_optuna_trials_and_survive_a_restore(tmp_path: Path) -> None:
    spec = tpe_manifest("seeded", 0, 4, {"training.learning_rate": {"loguniform": [1e-4, 1e-2]}})
    space = param_space(TuningSweep.model_validate(spec).spec)
    points = [{"training.learning_rate": 1e-3}, {"training.learning_rate": 3e-3}]
    searcher = ObjectiveSearch(seed=0, random_startup_trials=2, seeded=points, seeded_scores=[0.4, 0.9])
    searcher.set_search_properties(OBJECTIVE, "max", space)
    assert searcher._ot_study is not None
    seeded = searcher._ot_study.trials
    assert [(t.state, t.params, t.value) for t in seeded] == [
        (TrialState.COMPLETE, points[0], 0.4),
        (TrialState.COMPLETE, points[1], 0.9),
    ]
    saved = tmp_path / "searcher.pkl"
    searcher.save(str(saved))
    restored = ObjectiveSearch(seed=0, random_startup_trials=2, seeded=points, seeded_scores=[0.4, 0.9])
    restored.restore(str(saved))
    assert restored._ot_study is not None and len(restored._ot_study.trials) == 2  # never added twice


@pytest.mark.usefixtures("local_ray")
def test_a_warm_started_sweep_records_and_verifies_its_seeds(tmp_path: Path) -> None:
    space = {"training.learning_rate": {"loguniform": [1e-4, 1e-2]}}
    source = run_sweep(tmp_path / "source", tpe_manifest("source", 1, 4, space))
    warm = run_sweep(tmp_path / "warm", tpe_manifest("warm", 2, 3, space, warm_from=tmp_path / "source"))

    (record,) = warm.warm_start
    recomputed = {
        t.trial_id: t.primary_score for t in load_trials(EvidenceReader(str(tmp_path / "source")), None)
    }
    assert sorted((p.trial_id, p.primary_score) for p in record.seeded) == sorted(recomputed.items())
    assert {p.trial_id for p in record.seeded} == {t.trial_id for t in source.trials}
    assert len(warm.trials) == 3  # the seeded points are no trials of this sweep
    assert warm.best_trial is not None and warm.best_trial.trial_id in {t.trial_id for t in warm.trials}
    report = verify(str(tmp_path / "warm"))
    assert report.ok, report.problems

    # a seeded score that is not its source trial's recomputed one is named
    edit_json(
        layout.join(str(tmp_path / "warm"), layout.SWEEP_SUMMARY),
        lambda d: d["warm_start"][0]["seeded"][0].update(primary_score=1.0),
    )
    first = record.seeded[0]
    problems = verify(str(tmp_path / "warm")).problems
    assert (
        f"sweep_summary.json: warm_start[0].seeded[0] (trial {first.trial_id}): primary_score 1.0 != the "
        f"source's recomputed {first.primary_score!r}"
    ) in problems


PROPERTY_SPACE = {
    "training.learning_rate": {"loguniform": [1e-6, 1e-1]},
    "training.weight_decay": {"uniform": [0.0, 0.3]},
}
TRIALS = 12
TOLERANCE = 0.02
"""The best level to reach: the source's best primary score less this (scores step by 0.01)."""
SEED_PAIRS = ((1, 2), (3, 4), (5, 6))


def trials_to_reach(scores: list[float], level: float) -> int:
    """The 1-based trial that first scores `level` or more; TRIALS + 1 when none does."""
    return next((index + 1 for index, score in enumerate(scores) if score >= level), TRIALS + 1)


@pytest.mark.usefixtures("local_ray")
def test_a_warm_start_reaches_the_earlier_best_in_fewer_trials(tmp_path: Path) -> None:
    """Why it must hold: sweep C is told all of cold sweep A's scored points before its first trial,
    so TPE skips its random startup (A's points are more than its startup trials) and samples from a
    model that already knows where A scored best (the mock's smooth surface: one peak in learning
    rate). Cold sweeps (A itself, and B with C's own seed) start at random and model only their own
    few points. Seeds are fixed and trials run one at a time, so each sweep is deterministic; three
    seed pairs (the first three, not chosen) keep one lucky cold start from deciding."""
    needed: dict[str, list[int]] = {"A": [], "B": [], "C": []}
    for seed_a, seed_c in SEED_PAIRS:
        a_dir = tmp_path / f"a{seed_a}"
        a = scores_in_order(
            a_dir, run_sweep(a_dir, tpe_manifest(f"a{seed_a}", seed_a, TRIALS, PROPERTY_SPACE))
        )
        b_dir = tmp_path / f"b{seed_c}"
        b = scores_in_order(
            b_dir, run_sweep(b_dir, tpe_manifest(f"b{seed_c}", seed_c, TRIALS, PROPERTY_SPACE))
        )
        c_summary = run_sweep(
            tmp_path / f"c{seed_c}",
            tpe_manifest(f"c{seed_c}", seed_c, TRIALS, PROPERTY_SPACE, warm_from=a_dir),
        )
        assert len(c_summary.warm_start[0].seeded) == TRIALS
        level = max(a) - TOLERANCE
        c = scores_in_order(tmp_path / f"c{seed_c}", c_summary)
        for name, scores in (("A", a), ("B", b), ("C", c)):
            needed[name].append(trials_to_reach(scores, level))
    # C reaches A's level sooner than A itself did, every time, and sooner than B overall.
    assert all(c < a for a, c in zip(needed["A"], needed["C"], strict=True)), needed
    assert sum(needed["C"]) < sum(needed["B"]), needed
