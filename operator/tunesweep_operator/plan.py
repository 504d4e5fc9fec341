"""plan.json: the validated spec, frozen when the sweep starts; the driver's only input. Pure."""

from __future__ import annotations

from tunesweep_evidence.documents import Plan, SweepRef, WarmStartSourceRef
from tunesweep_evidence.search_plan import search_plan
from tunesweep_evidence.spec import ObjectMeta, TuningSweep, TuningSweepSpec


def build_plan(
    sweep: TuningSweep,
    evidence_root: str,
    image: str,
    now: str,
    warm_start: list[WarmStartSourceRef] | None = None,
) -> Plan:
    """The plan of a validated sweep (its search planned, which validation made sure is possible);
    `warm_start`: its spec.warmStart resolved (`warm_start.resolve`)."""
    meta = sweep.metadata
    return Plan(
        sweep=SweepRef(name=meta.name, namespace=meta.namespace, uid=meta.uid),
        spec=sweep.spec.model_dump(mode="json", by_alias=True),
        evidence_uri=evidence_root,
        image=image,
        created_at=now,
        search=search_plan(sweep.spec),
        warm_start=warm_start or [],
    )


def same_plan(frozen: Plan, fresh: Plan) -> bool:
    """Whether `fresh` says what `frozen` says (when it was written does not count, nor the search of
    a plan frozen before the search was planned: the driver derives it from the same spec)."""
    ignored = {"created_at"} | ({"search"} if frozen.search is None else set())
    return frozen.model_dump(exclude=ignored) == fresh.model_dump(exclude=ignored)


def frozen_sweep(plan: Plan) -> TuningSweep:
    """The sweep as plan.json froze it (raises pydantic's ValidationError for a spec it cannot read)."""
    ref = plan.sweep
    return TuningSweep(
        metadata=ObjectMeta(name=ref.name, namespace=ref.namespace, uid=ref.uid),
        spec=TuningSweepSpec.model_validate(plan.spec),
    )
