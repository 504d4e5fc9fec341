"""Small TuningSweeps for the sweep tests: the mock backend unless a test says otherwise."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import Plan, RunManifest, SearchPlan, SweepSummary
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.warm_start import resolved
from tunesweep_trainer.sweep import plan as plans

MOCK_BASE_CONFIG: dict[str, Any] = {
    "model": {"name": "tiny", "max_length": 64},
    "training": {
        "learning_rate": 1.0e-3,
        "per_device_batch_size": 8,
        "weight_decay": 0.0,
        "warmup_steps": 5,
        "max_steps": 60,
        "seed": 0,
        "report_every_steps": 10,
    },
    "data": {"train": "builtin:arithmetic", "eval": "builtin:arithmetic", "eval_size": 20},
}
UNLOADABLE_MODEL = "gemma-2b-it"
"""A model without a checkpoint: the spec accepts the value (every field is valid on its own), but
run_trial refuses the sampled config (a real Gemma needs `checkpoint`), so the trial fails. (A value
outside a field's own limits, such as weight_decay 2.0, is refused by the spec models.)"""


def sweep_manifest(name: str = "test-sweep", **spec: Any) -> dict[str, Any]:
    """A TuningSweep manifest; `spec` entries replace the defaults' top-level spec fields."""
    base: dict[str, Any] = {
        "mode": "production",
        "trainer": {"backend": "mock", "baseConfig": copy.deepcopy(MOCK_BASE_CONFIG)},
        "searchSpace": {"training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]}},
        "objective": {"metric": "primary_score", "mode": "max"},
        "algorithm": {"name": "random", "seed": 0},
        "trials": {"count": 2, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 120},
        "resources": {"perTrial": {"cpu": "1"}},
        "evidence": {"uri": "file:///unused-in-tests"},
    }
    return {
        "apiVersion": "tunesweep.dev/v1alpha1",
        "kind": "TuningSweep",
        "metadata": {"name": name},
        "spec": base | spec,
    }


def frozen_plan(out_dir: Path, manifest: dict[str, Any]) -> Plan:
    """The plan an operator would write, frozen into `out_dir` (the sweep's evidence folder)."""
    sweep = TuningSweep.model_validate(manifest)
    sources = resolved(sweep.spec, by_uri_only)
    plan = plans.freeze(
        sweep, uid=str(uuid.uuid4()), namespace="tests", evidence_uri=str(out_dir), warm_start=sources
    )
    plans.write(plan)
    return plan


def by_uri_only(field: str, name: str) -> str:
    """The sweep tests' warm starts give evidence URIs: no sweep name is looked up."""
    raise AssertionError(f"{field} names sweep {name}; give spec.warmStart[].evidenceURI in these tests")


def manifests(out_dir: Path | str, *, so_far: bool = False) -> dict[str, RunManifest]:
    """Every trial's run manifest. `so_far`: for a poll while trials run, whose folder appears before
    their first manifest is written: those trials are left out instead of failing the read."""
    root = str(out_dir)
    uris = {
        trial_id: layout.join(root, "trials", trial_id, layout.RUN_MANIFEST)
        for trial_id in bucket.list_dir(layout.join(root, "trials"))
    }
    return {
        trial_id: bucket.read_document(uri, RunManifest)
        for trial_id, uri in uris.items()
        if not so_far or bucket.exists(uri)
    }


def sweep_summary(out_dir: Path) -> SweepSummary:
    return bucket.read_document(layout.join(str(out_dir), layout.SWEEP_SUMMARY), SweepSummary)


def unrunnable_plan(out_dir: Path) -> Plan:
    """A TPE sweep whose plan.json lost its search's random startup trials (hand-edited): the spec
    validates, the driver cannot run it."""
    plan = frozen_plan(out_dir, sweep_manifest(algorithm={"name": "tpe"}))
    broken = plan.model_copy(update={"search": SearchPlan(rung_steps=[], random_startup_trials=None)})
    plans.write(broken)
    return broken
