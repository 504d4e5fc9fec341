"""spec.warmStart's sweep names resolved when the operator freezes the plan (pure): a Succeeded sweep
gives its status.evidenceURI; one still on its way makes the sweep wait; a missing or failed one, or
the sweep itself, refuses it, naming the field and the fix. The plan carries the resolved folders."""

from __future__ import annotations

from typing import Any

import pytest
from tunesweep_evidence.documents import Plan, WarmStartSourceRef
from tunesweep_evidence.warm_start import UNRESOLVED, WarmStartError
from tunesweep_operator.plan import build_plan, same_plan
from tunesweep_operator.warm_start import WarmStartWaiting, resolve, sweep_evidence

from tests.operator.sweeps import sweep_manifest, sweep_model

FIELD = "spec.warmStart[0].sweep"
EARLIER_URI = "s3://evidence/team-a/earlier/uid-0001"


def stored(phase: str, evidence_uri: str = EARLIER_URI) -> dict[str, Any]:
    """A TuningSweep as the API server returns it, in `phase`."""
    return {"metadata": {"name": "earlier"}, "status": {"phase": phase, "evidenceURI": evidence_uri}}


def warm_sweep(*sources: dict[str, str]) -> Any:
    manifest = sweep_manifest("warm", "s3://evidence", algorithm={"name": "tpe"}, warmStart=list(sources))
    return sweep_model(manifest)


def test_a_succeeded_sweep_gives_its_evidence_folder() -> None:
    assert sweep_evidence(FIELD, "earlier", "team-a", stored("Succeeded")) == EARLIER_URI


@pytest.mark.parametrize("phase", ["Pending", "Provisioning", "Running", "Promoting"])
def test_a_sweep_on_its_way_makes_this_one_wait(phase: str) -> None:
    with pytest.raises(WarmStartWaiting) as waiting:
        sweep_evidence(FIELD, "earlier", "team-a", stored(phase, evidence_uri=""))
    assert str(waiting.value) == (
        f"{FIELD} earlier: waiting for TuningSweep earlier (phase {phase}) to succeed; "
        "this sweep starts once it has"
    )


def test_a_failed_sweep_refuses_naming_the_field_and_the_fix() -> None:
    with pytest.raises(WarmStartError) as refused:
        sweep_evidence(FIELD, "earlier", "team-a", stored("Failed"))
    assert refused.value.code == UNRESOLVED
    assert refused.value.detail == (
        f"{FIELD} earlier: TuningSweep earlier ended Failed, so its results are not verified; name a "
        "Succeeded sweep, or give an evidence folder as spec.warmStart[0].evidenceURI"
    )


def test_a_missing_sweep_refuses_naming_the_namespace() -> None:
    with pytest.raises(WarmStartError) as refused:
        sweep_evidence(FIELD, "earlier", "team-a", None)
    assert refused.value.detail.startswith(f"{FIELD} earlier: no TuningSweep earlier in namespace team-a;")


def test_resolve_reads_each_named_sweep_in_the_namespace_and_keeps_uris() -> None:
    sweep = warm_sweep({"evidenceURI": "gs://other/x"}, {"sweep": "earlier"})
    read: list[str] = []

    def get_sweep(name: str) -> dict[str, Any] | None:
        read.append(name)
        return stored("Succeeded")

    refs = resolve(sweep.spec, "team-a", "warm", get_sweep)
    assert read == ["earlier"]
    assert refs == [
        WarmStartSourceRef(source="spec.warmStart[0].evidenceURI", evidence_uri="gs://other/x"),
        WarmStartSourceRef(source="spec.warmStart[1].sweep earlier", evidence_uri=EARLIER_URI),
    ]


def test_a_sweep_cannot_warm_start_from_itself() -> None:
    with pytest.raises(WarmStartError) as refused:
        resolve(warm_sweep({"sweep": "warm"}).spec, "team-a", "warm", lambda name: stored("Running"))
    assert refused.value.detail == f"{FIELD} warm: a sweep cannot warm-start from itself"


def test_the_plan_freezes_the_resolved_folders() -> None:
    sweep = warm_sweep({"sweep": "earlier"})
    refs = resolve(sweep.spec, "team-a", "warm", lambda name: stored("Succeeded"))
    plan = build_plan(sweep, "s3://evidence/team-a/warm/uid-1234", "trainer:1", "2026-01-01T00:00:00Z", refs)
    stored_plan = Plan.model_validate_json(plan.model_dump_json())
    assert stored_plan.warm_start == refs
    other = [WarmStartSourceRef(source=refs[0].source, evidence_uri="s3://evidence/team-a/earlier/uid-2")]
    moved = build_plan(
        sweep, "s3://evidence/team-a/warm/uid-1234", "trainer:1", "2026-01-01T00:00:00Z", other
    )
    assert not same_plan(stored_plan, moved)
