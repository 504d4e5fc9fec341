"""The operator's control loop on a real control plane: level-triggered (a lost event heals on the next
reconcile), API refusals as conditions (no retry loop), and what it checks before a sweep starts."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.operator.cluster import (
    KUBERAY_SEES_THE_END,
    RULES,
    Cluster,
    condition,
    operator_user,
    set_operator_rules,
    wait_for_grant,
)
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import apply
from tests.support.controlplane import ControlPlane
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def without(
    rules: list[dict[str, Any]], resource: str, verb: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`rules` less `verb` on `resource`, and the one-verb rule that was taken away."""
    kept = copy.deepcopy(rules)
    for index, rule in enumerate(kept):
        if resource in rule["resources"] and verb in rule["verbs"]:
            taken = {**rule, "resources": [resource], "verbs": [verb]}
            rule["verbs"].remove(verb)
            if not rule["verbs"]:
                del kept[index]
            return kept, taken
    raise AssertionError(f"no rule grants {verb} on {resource}")


def test_lost_events_heal_on_the_next_reconcile(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    control_plane: ControlPlane,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    operator = start_operator(TUNESWEEP_PROGRESS_INTERVAL_SECONDS="3", **KUBERAY_SEES_THE_END)
    apply(kubectl, namespace, sweep_manifest("healing", f"file://{tmp_path}/evidence"), tmp_path)
    cluster.wait_for_phase("healing", "Provisioning", timeout=60)

    # Every status write fails from here on (RBAC taken away): the RayJob's events, the final one
    # included, reach the operator while it cannot record them.
    rules = yaml.safe_load(RULES.read_text())
    revoked, status_rule = without(rules, "tuningsweeps/status", "update")
    set_operator_rules(control_plane, namespace, revoked)
    wait_for_grant(control_plane, namespace, operator_user(namespace), status_rule, granted=False)
    (rayjob,) = cluster.rayjobs()
    cluster.wait_for_rayjob(
        rayjob["metadata"]["name"],
        lambda job: (job.get("status") or {}).get("jobDeploymentStatus") == "Complete",
        "the Ray job to end (KubeRay's jobDeploymentStatus Complete)",
        timeout=400,
    )
    refused = operator.wait_for_log("Handler 'rayjob_changed' failed")
    assert any("Forbidden" in m or "403" in m for m in refused if "rayjob_changed" in m), refused[-5:]
    assert cluster.sweep_status("healing")["phase"] == "Provisioning"  # nothing could be written

    # Given back, the next reconcile reads the RayJob and the summary as they are: the sweep finishes.
    set_operator_rules(control_plane, namespace, rules)
    wait_for_grant(control_plane, namespace, operator_user(namespace), status_rule)
    status = cluster.wait_for_phase("healing", ("Succeeded", "Failed"), timeout=120)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["trials"]["succeeded"] + status["trials"]["earlyStopped"] == 4
    cluster.wait_for_mirrored_job_status("healing", "SUCCEEDED")
    operator.wait_for_metrics("tunesweep_sweeps_reconciled 1.0")


def test_an_api_refusal_is_a_condition_not_a_retry_loop(
    start_operator: StartOperator,
    control_plane: ControlPlane,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    revoked, create_rule = without(yaml.safe_load(RULES.read_text()), "rayjobs", "create")
    set_operator_rules(control_plane, namespace, revoked)
    wait_for_grant(control_plane, namespace, operator_user(namespace), create_rule, granted=False)
    operator = start_operator()
    apply(kubectl, namespace, sweep_manifest("refused", f"file://{tmp_path}/evidence"), tmp_path)
    status = cluster.wait_for_phase("refused", "Failed", timeout=60)
    failed = condition(status, "Failed")
    assert failed["reason"] == "ApiRefused", failed
    assert failed["message"].startswith(f"the API server refused creating RayJob {namespace}/refused-")
    assert (
        "HTTP 403 Forbidden" in failed["message"] and 'cannot create resource "rayjobs"' in failed["message"]
    )
    assert cluster.rayjobs() == []
    cluster.wait_for_events(
        "refused", lambda found: ("Warning", "ApiRefused") in [e[:2] for e in found], "the ApiRefused Warning"
    )
    messages = operator.wait_for_log("Creation is processed:")
    attempts = [m for m in messages if m.startswith("Handler 'start' failed")]
    assert len(attempts) == 1 and "permanently" in attempts[0], attempts


def test_a_missing_ray_service_account_is_named_before_any_pod(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    start_operator(TUNESWEEP_RAY_SERVICE_ACCOUNT="ray-pods")
    evidence = f"file://{tmp_path}/evidence"
    apply(kubectl, namespace, sweep_manifest("no-account", evidence), tmp_path)
    status = cluster.wait_for_phase("no-account", "Failed", timeout=60)
    failed = condition(status, "Failed")
    assert failed["reason"] == "RayServiceAccountMissing", failed
    assert "ServiceAccount ray-pods (the chart's ray.serviceAccount" in failed["message"]
    assert f"does not exist in namespace {namespace}" in failed["message"]
    assert cluster.rayjobs() == []

    # once it exists, a sweep starts, and its Ray Pods run as that account
    cluster.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata={"name": "ray-pods"})
    )
    apply(kubectl, namespace, sweep_manifest("with-account", evidence), tmp_path)
    cluster.wait_for_phase("with-account", "Provisioning", timeout=60)
    (rayjob,) = cluster.rayjobs()
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert head["serviceAccountName"] == "ray-pods"
