"""plan.json: the driver's only input. The operator writes it on the cluster; local mode writes it
here (`freeze`), once per sweep folder, so that a re-run resumes the same sweep."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import Plan, SweepRef, WarmStartSourceRef
from tunesweep_evidence.search_plan import search_plan
from tunesweep_evidence.spec import TuningSweep, TuningSweepSpec


class PlanError(ValueError):
    """A plan that cannot be read or does not hold a valid TuningSweep spec."""


def freeze(
    sweep: TuningSweep,
    *,
    uid: str,
    namespace: str,
    evidence_uri: str,
    image: str = "",
    warm_start: list[WarmStartSourceRef] | None = None,
) -> Plan:
    """`warm_start`: spec.warmStart's sources with their evidence folders (`warm_start.resolved`)."""
    return Plan(
        sweep=SweepRef(name=sweep.metadata.name, namespace=namespace, uid=uid),
        spec=sweep.spec.model_dump(mode="json", by_alias=True),
        evidence_uri=evidence_uri,
        image=image or sweep.spec.trainer.image,
        created_at=datetime.now(UTC).isoformat(),
        search=search_plan(sweep.spec),
        warm_start=warm_start or [],
    )


def plan_uri(location: str) -> str:
    """The plan file itself, given either it or the sweep's evidence folder."""
    return location if location.endswith(".json") else layout.join(location, layout.PLAN)


def read(location: str) -> Plan:
    uri = plan_uri(location)
    try:
        plan = bucket.read_document(uri, Plan)
    except (bucket.BucketError, bucket.DocumentError) as error:
        raise PlanError(f"cannot read the plan: {error}") from None
    spec_of(plan)  # a plan whose spec does not validate is unusable; say so before Ray starts
    return plan


def write(plan: Plan) -> None:
    bucket.write_document(layout.join(plan.evidence_uri, layout.PLAN), plan)


def spec_of(plan: Plan) -> TuningSweepSpec:
    try:
        return TuningSweepSpec.model_validate(plan.spec)
    except ValidationError as error:
        problems = "; ".join(
            f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise PlanError(f"the plan's spec is not a valid TuningSweep spec: {problems}") from None
