"""The committed CRD on a real kube-apiserver: its CEL rules fit the cost budget (or it would not be
Established), refuse each bad spec with the same words as `tunesweep validate`, accept the good
ones, keep the immutable fields, and give kubectl its columns and explanations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from tunesweep_evidence.spec import (
    GROUP,
    PLURAL,
    VERSION,
    BestTrial,
    BudgetStatus,
    Phase,
    TrialCounts,
    TuningSweepStatus,
)

from tests.operator.cluster import wait_until
from tests.spec.cases import (
    BAD,
    DROP,
    GOOD,
    MALFORMED_BOUNDS,
    TRIALS_DEFAULT,
    Bad,
    Edit,
    MalformedBounds,
    at,
    with_edits,
)

REPO = Path(__file__).resolve().parents[2]
Kubectl = Callable[..., CompletedProcess[str]]


def dry_run_create(api: Any, namespace: str, manifest: dict[str, Any]) -> str | None:
    """The API server's refusal of `manifest`, or None when it would store it (nothing is stored)."""
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, manifest, dry_run="All", field_validation="Strict"
        )
    except ApiException as error:
        return str(json.loads(str(error.body))["message"])
    return None


@pytest.mark.parametrize("case", [c for c in BAD if c.server], ids=lambda case: case.id)
def test_api_server_refuses_bad_spec(k8s_api: Any, case: Bad) -> None:
    expected = case.server_message()
    refusal = dry_run_create(k8s_api, "default", case.manifest())
    assert expected is not None and refusal is not None and expected in refusal, refusal
    assert "evaluating rule" not in refusal, refusal


@pytest.mark.parametrize("case", MALFORMED_BOUNDS, ids=lambda case: case.id)
def test_api_server_names_malformed_bounds(k8s_api: Any, case: MalformedBounds) -> None:
    refusal = dry_run_create(k8s_api, "default", case.manifest())
    assert refusal is not None and all(part in refusal for part in case.server), refusal
    assert "evaluating rule" not in refusal, refusal  # a CEL runtime error ("index out of bounds")


@pytest.mark.parametrize("case", [c for c in BAD if not c.server], ids=lambda case: case.id)
def test_python_only_problems_pass_the_api_server(k8s_api: Any, case: Bad) -> None:
    assert dry_run_create(k8s_api, "default", case.manifest()) is None


@pytest.mark.parametrize("edits", GOOD.values(), ids=list(GOOD))
def test_api_server_accepts_good_variants(k8s_api: Any, edits: tuple[Edit, ...]) -> None:
    assert dry_run_create(k8s_api, "default", with_edits(*edits)) is None


@pytest.mark.parametrize("sample", sorted((REPO / "manifests" / "samples").glob("*.yaml")), ids=str)
def test_api_server_accepts_samples(kubectl: Kubectl, sample: Path) -> None:
    kubectl("apply", "--dry-run=server", "-f", str(sample), namespace="default")


def test_immutable_fields_and_editable_ones(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", namespace=namespace, input=yaml.safe_dump(with_edits()))

    def patch(spec: dict[str, Any]) -> CompletedProcess[str]:
        body = json.dumps({"spec": spec})
        return kubectl(
            "patch", "tsw", "spec-test", "--type=merge", "-p", body, namespace=namespace, check=False
        )

    # until the operator froze the plan (status.evidenceURI), the spec is the user's to fix
    assert patch({"trials": {"count": 5}}).returncode == 0
    status = json.dumps({"status": {"phase": "Pending"}})
    kubectl(
        "patch", "tsw", "spec-test", "--subresource=status", "--type=merge", "-p", status, namespace=namespace
    )
    assert patch({"searchSpace": {"training.seed": {"choice": [1, 2]}}}).returncode == 0
    frozen = json.dumps({"status": {"evidenceURI": "s3://bucket/prefix/ns/spec-test/uid"}})
    kubectl(
        "patch", "tsw", "spec-test", "--subresource=status", "--type=merge", "-p", frozen, namespace=namespace
    )
    refused = patch({"trials": {"count": 6}})
    assert (
        refused.returncode != 0
        and "spec.trials is immutable once the sweep's plan is frozen" in refused.stderr
    )
    refused = patch({"trainer": {"baseConfig": {"training": {"max_steps": 7}}}})
    assert refused.returncode != 0 and "spec.trainer is immutable" in refused.stderr
    refused = patch({"searchSpace": {"training.seed": None}})
    assert refused.returncode != 0 and "spec.searchSpace is immutable" in refused.stderr
    refused = patch({"earlyStopping": {"name": "asha", "gracePeriod": 10}})
    assert refused.returncode != 0 and "spec.earlyStopping is immutable" in refused.stderr
    assert patch({"resources": {"queueName": "team-b"}, "promotion": {"minScore": 0.5}}).returncode == 0


def test_status_columns_and_defaults(kubectl: Kubectl, namespace: str) -> None:
    manifest = with_edits(at("spec", trials=DROP))
    kubectl("apply", "-f", "-", namespace=namespace, input=yaml.safe_dump(manifest))
    status = TuningSweepStatus(
        phase=Phase.succeeded,
        trials=TrialCounts(planned=8, total=6, succeeded=5, failed=1, queued=2),
        best_trial=BestTrial(
            id="t-3", params={"training.learning_rate": 0.003}, primary_score=0.75, test_score=0.5
        ),
        budget=BudgetStatus(
            unit="CPU core-hours", limit=2.0, spent=0.5, left=1.5, spent_of_limit="0.5/2 CPU-h"
        ),
    )
    body = json.dumps({"status": status.model_dump(mode="json", by_alias=True, exclude_none=True)})
    kubectl(
        "patch", "tsw", "spec-test", "--subresource=status", "--type=merge", "-p", body, namespace=namespace
    )
    table = kubectl("get", "tsweep", "spec-test", namespace=namespace).stdout.split("\n")
    header = ["NAME", "PHASE", "BEST", "TEST", "SUCCEEDED", "FAILED", "QUEUED", "SPENT", "AGE"]
    assert table[0].split() == header
    assert table[1].split()[:9] == ["spec-test", "Succeeded", "0.75", "0.5", "5", "1", "2", "0.5/2", "CPU-h"]
    stored = json.loads(kubectl("get", "tsw", "spec-test", "-o", "json", namespace=namespace).stdout)
    assert stored["spec"]["trials"] == TRIALS_DEFAULT
    assert stored["spec"]["resources"]["perTrial"] == {
        "accelerator": "none",
        "count": 0,
        "cpu": "1",
        "memory": "4Gi",
    }


def test_kubectl_explain(kubectl: Kubectl) -> None:
    # the API server publishes a new CRD's OpenAPI a little later
    last: list[CompletedProcess[str]] = []

    def explained_now() -> CompletedProcess[str] | None:
        last[:] = [kubectl("explain", "tuningsweep.spec.trials", check=False)]
        return last[0] if last[0].returncode == 0 else None

    explained = wait_until(
        explained_now,
        60,
        lambda: f"`kubectl explain tuningsweep.spec.trials` to work; it says {last[0].stderr}",
    )
    assert "How many trials, how many at once, and their limits." in explained.stdout
    assert "Trials running at once" in explained.stdout
    base_config = kubectl("explain", "tuningsweep.spec.trainer.baseConfig").stdout
    assert "`tunesweep explain <backend>`" in " ".join(base_config.split())
