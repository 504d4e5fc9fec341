"""plan.json: built from the sweep, compared without its timestamp, read back as the frozen sweep (pure)."""

from __future__ import annotations

from tunesweep_evidence.documents import Plan, SearchPlan
from tunesweep_operator.plan import build_plan, frozen_sweep, same_plan

from tests.operator.sweeps import sweep_manifest, sweep_model


def test_plan_round_trip() -> None:
    sweep = sweep_model(sweep_manifest("lr-sweep", "s3://evidence"))
    plan = build_plan(sweep, "s3://evidence/team-a/lr-sweep/uid-1234", "trainer:1", "2026-01-01T00:00:00Z")
    assert plan.sweep.model_dump() == {"name": "lr-sweep", "namespace": "team-a", "uid": "uid-1234"}
    assert plan.spec["trials"]["timeoutSeconds"] == 300  # camelCase, as applied
    stored = Plan.model_validate_json(plan.model_dump_json())
    frozen = frozen_sweep(stored)
    assert frozen.spec == sweep.spec
    meta = frozen.metadata
    assert (meta.name, meta.namespace, meta.uid) == ("lr-sweep", "team-a", "uid-1234")


def test_same_plan_ignores_only_when_it_was_written() -> None:
    sweep = sweep_model(sweep_manifest("lr-sweep", "s3://evidence"))
    first = build_plan(sweep, "s3://evidence/x", "trainer:1", "2026-01-01T00:00:00Z")
    assert same_plan(first, build_plan(sweep, "s3://evidence/x", "trainer:1", "2026-02-02T00:00:00Z"))
    assert not same_plan(first, build_plan(sweep, "s3://evidence/x", "trainer:2", "2026-01-01T00:00:00Z"))
    edited = sweep_model(sweep_manifest("lr-sweep", "s3://evidence", mode="smoke"))
    assert not same_plan(first, build_plan(edited, "s3://evidence/x", "trainer:1", "2026-01-01T00:00:00Z"))


def test_the_plan_holds_the_search_and_an_older_plan_without_it_says_the_same() -> None:
    sweep = sweep_model(
        sweep_manifest(
            "lr-sweep",
            "s3://evidence",
            algorithm={"name": "tpe", "seed": 0},
            earlyStopping={"name": "asha", "gracePeriod": 10, "reductionFactor": 2},
        )
    )
    plan = build_plan(sweep, "s3://evidence/x", "trainer:1", "2026-01-01T00:00:00Z")
    assert plan.search == SearchPlan(rung_steps=[10, 20], random_startup_trials=2)  # max_steps 40, 4 trials
    assert same_plan(plan.model_copy(update={"search": None}), plan)
    assert not same_plan(plan.model_copy(update={"search": SearchPlan(rung_steps=[10])}), plan)
