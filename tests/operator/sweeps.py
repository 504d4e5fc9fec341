"""TuningSweep manifests for the operator tests: the mock-backend sweep and variations of it."""

from __future__ import annotations

import copy
from typing import Any

from tunesweep_evidence.spec import API_VERSION, KIND, TuningSweep

MOCK_BASE_CONFIG: dict[str, Any] = {
    "model": {"name": "tiny", "max_length": 64},
    "training": {
        "learning_rate": 1.0e-3,
        "per_device_batch_size": 8,
        "weight_decay": 0.0,
        "warmup_steps": 5,
        "max_steps": 40,
        "seed": 0,
        "report_every_steps": 20,
    },
    "data": {"train": "builtin:arithmetic", "eval": "builtin:arithmetic", "eval_size": 8},
}


def sweep_manifest(name: str, evidence_uri: str, **spec_overrides: Any) -> dict[str, Any]:
    """A small mock-backend sweep (4 trials, 2 at a time); `spec_overrides` replace top-level spec keys."""
    spec: dict[str, Any] = {
        "mode": "production",
        "trainer": {"backend": "mock", "baseConfig": MOCK_BASE_CONFIG},
        "searchSpace": {
            "training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
            "training.per_device_batch_size": {"choice": [4, 8]},
        },
        "objective": {"metric": "primary_score", "mode": "max"},
        "algorithm": {"name": "random", "seed": 0},
        "trials": {"count": 4, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 300},
        "resources": {"perTrial": {"cpu": "1", "memory": "1Gi"}, "workers": {"replicas": 1}},
        "evidence": {"uri": evidence_uri},
    }
    spec.update(copy.deepcopy(spec_overrides))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def sweep_model(manifest: dict[str, Any], namespace: str = "team-a", uid: str = "uid-1234") -> TuningSweep:
    """The model of `manifest` as the operator sees it once the API server has stored it."""
    metadata = {**manifest["metadata"], "namespace": namespace, "uid": uid, "generation": 1}
    return TuningSweep.model_validate({**manifest, "metadata": metadata})
