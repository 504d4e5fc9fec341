"""What the operator asks of the cluster, as the API server stores it (KubeRay's CRD schema applies:
a field it does not know would be pruned here). KubeRay's operator serves none of these namespaces: the
RayJobs stay as created."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tunesweep_evidence import bucket, layout, memory_checks
from tunesweep_evidence.sweep_manifest import path_text
from tunesweep_operator.plan import build_plan

from tests.operator.cluster import Cluster, condition, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import sweep_manifest, sweep_model
from tests.operator.test_sweep_lifecycle import apply
from tests.support.controlplane import REPO_ROOT

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
SAMPLES = REPO_ROOT / "manifests" / "samples"


def stored_rayjob(cluster: Cluster, sweep: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        found = [r for r in cluster.rayjobs() if r["metadata"]["labels"]["tunesweep.dev/sweep"] == sweep]
        return found[0] if found else None

    def now() -> str:
        return f"the RayJob of {sweep}; RayJobs now: {[r['metadata'] for r in cluster.rayjobs()]}"

    return wait_until(find, 60, now)


def worker(rayjob: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    (group,) = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    (container,) = group["template"]["spec"]["containers"]
    return group, container


def sample(name: str, evidence: str, **resources: Any) -> dict[str, Any]:
    """A sample of manifests/samples/, its evidence redirected to this test's folder."""
    manifest = yaml.safe_load((SAMPLES / name).read_text())
    manifest["spec"]["evidence"] = {"uri": evidence}
    manifest["spec"]["resources"].update(resources)
    return manifest


def test_gpu_and_tpu_samples_render_the_right_rayjobs(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    start_operator()
    evidence = f"file://{tmp_path}/evidence"
    gpu = sample("sweep-gpu.yaml", evidence)
    tpu = sample("sweep-tpu.yaml", evidence, queueName="tpu-queue")
    apply(kubectl, namespace, gpu, tmp_path)
    apply(kubectl, namespace, tpu, tmp_path)

    # 16 trials, 4 at a time, one NVIDIA GPU each
    rayjob = stored_rayjob(cluster, gpu["metadata"]["name"])
    group, container = worker(rayjob)
    assert container["image"] == "tunesweep-trainer:cuda-test"
    assert container["resources"]["requests"] == {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["limits"] == container["resources"]["requests"]
    assert group["rayStartParams"] == {"num-cpus": "8", "num-gpus": "1"}
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 4
    assert group["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert group["template"]["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert rayjob["spec"]["activeDeadlineSeconds"] == 7200 * 4 + 900  # 16 trials in 4 waves, + slack
    assert rayjob["spec"]["ttlSecondsAfterFinished"] == 600 and "suspend" not in rayjob["spec"]

    # one v6e 2x2 slice (a single host of 4 chips) per worker replica, queued through Kueue
    rayjob = stored_rayjob(cluster, tpu["metadata"]["name"])
    group, container = worker(rayjob)
    assert container["image"] == "tunesweep-trainer:tpu-test"
    assert group["numOfHosts"] == 1 and group["replicas"] == 2
    assert container["resources"]["requests"]["google.com/tpu"] == "4"
    assert container["resources"]["limits"]["google.com/tpu"] == "4"
    assert group["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
        "cloud.google.com/gke-tpu-topology": "2x2",
    }
    assert {"name": "JAX_PLATFORMS", "value": "tpu"} in container["env"]
    assert "resources" not in group["rayStartParams"]  # KubeRay derives TPU from google.com/tpu
    assert rayjob["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "tpu-queue"
    assert rayjob["spec"]["suspend"] is True
    assert rayjob["spec"]["backoffLimit"] == 2 and rayjob["spec"]["shutdownAfterJobFinishes"] is True

    for manifest in (gpu, tpu):
        status = cluster.wait_for_phase(manifest["metadata"]["name"], "Provisioning", timeout=30)
        assert condition(status, "Ready")["reason"] == "Provisioning"


def near_device_memory(manifest: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`manifest` with the smallest largest batch size whose trial shape the forecast puts near its
    device's memory, not over it, and the warnings it gets."""
    searched = manifest["spec"]["searchSpace"]
    for batch in range(2, 1024):
        searched["training.per_device_batch_size"] = {"choice": [2, batch]}
        spec = sweep_model(manifest).spec
        if memory_checks.violations(spec):
            break
        warned = [f"{path_text(('spec', *field))}: {text}" for field, text in memory_checks.warnings(spec)]
        if warned:
            return manifest, warned
    raise AssertionError("no batch size puts the sample near its GPU's memory without going over")


def test_a_trial_shape_near_device_memory_starts_with_a_warning_event(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    start_operator()
    gpu, warned = near_device_memory(sample("sweep-gpu.yaml", f"file://{tmp_path}/evidence"))
    name = gpu["metadata"]["name"]
    apply(kubectl, namespace, gpu, tmp_path)
    stored_rayjob(cluster, name)  # it starts: a warning refuses nothing
    events = cluster.wait_for_events(
        name, lambda found: any(e[:2] == ("Warning", "NearDeviceMemory") for e in found), "NearDeviceMemory"
    )
    assert [e[2] for e in events if e[1] == "NearDeviceMemory"] == warned


REFUSED_BY_THE_OPERATOR = {
    # what the API server's CEL cannot check: (name, spec fields, what the Failed condition says)
    "topology-not-offered": (
        "odd-tpu",
        {
            "resources": {
                "perTrial": {"accelerator": "google.com/tpu", "count": 2},
                "tpu": {"acceleratorType": "tpu-v4-podslice", "topology": "1x1x2"},
            }
        },
        "topology 1x1x2 does not exist for tpu-v4-podslice: choose one GKE offers",
    ),
    "multi-host": (
        "big-tpu",
        {
            "resources": {
                "perTrial": {"accelerator": "google.com/tpu", "count": 16},
                "tpu": {"acceleratorType": "tpu-v6e-slice", "topology": "4x4"},
            }
        },
        "spec.resources.tpu.topology: 4x4 is a multi-host tpu-v6e-slice slice (4 hosts of 4 chips)",
    ),
    "grid-parallel": (
        "small-grid",
        {
            "searchSpace": {"training.max_steps": {"grid": [20, 40]}},
            "trials": {"count": 1, "parallel": 3, "maxFailed": 0, "timeoutSeconds": 300},
        },
        "spec.trials.parallel: trials.parallel must be at most the trials planned",
    ),
    "long-name": (
        "n" * 250,
        {},
        "promotion.configMapName: the default ConfigMap name nnnn",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_THE_OPERATOR))
def test_a_spec_only_the_operator_can_refuse_fails_once_without_retries(
    case: str,
    start_operator: StartOperator,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    name, fields, says = REFUSED_BY_THE_OPERATOR[case]
    operator = start_operator()
    evidence = f"file://{tmp_path}/evidence"
    manifest = sweep_manifest(name, evidence, **fields)
    apply(kubectl, namespace, manifest, tmp_path)
    status = cluster.wait_for_phase(name, "Failed", timeout=60)
    failed = condition(status, "Failed")
    assert failed["reason"] == "InvalidSpec"
    assert says in failed["message"], failed["message"]
    events = cluster.wait_for_events(name, lambda found: len(found) >= 1, "the InvalidSpec Warning")
    assert events == [("Warning", "InvalidSpec", failed["message"])]
    assert cluster.rayjobs() == []
    assert not bucket.exists(f"{evidence}/{namespace}/{name}")  # nothing written
    # Kopf says so once it is done with the creation: every handler finished, none left to retry.
    messages = operator.wait_for_log("Creation is processed:")
    attempts = [m for m in messages if m.startswith("Handler 'start' failed")]
    assert len(attempts) == 1 and "permanently" in attempts[0], attempts
    assert "Creation is processed: 0 succeeded; 1 failed." in messages, messages


def test_spec_edits_after_start_are_reported_not_applied(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    start_operator()
    apply(kubectl, namespace, sweep_manifest("edited", f"file://{tmp_path}/evidence"), tmp_path)
    status = cluster.wait_for_phase("edited", "Provisioning", timeout=60)
    rayjob = stored_rayjob(cluster, "edited")
    # trials.parallel 2 on one worker Pod: it runs, says so, and counts what waits
    assert (status["trials"]["planned"], status["trials"]["concurrent"], status["trials"]["queued"]) == (
        4,
        1,
        4,
    )
    cluster.wait_for_events(
        "edited",
        lambda found: any(
            e[:2] == ("Warning", "FewerTrialsAtOnce")
            and "trials.parallel is 2, but 1 worker Pod (workers.replicas) runs 1 at once" in e[2]
            for e in found
        ),
        "the FewerTrialsAtOnce Warning",
    )
    # the CRD refuses edits of what the plan froze ...
    patch = ["patch", "tsweep", "edited", "--type=merge", "-p"]
    refused = kubectl(*patch, '{"spec": {"trials": {"count": 9}}}', namespace=namespace, check=False)
    assert refused.returncode != 0 and "trials is immutable" in refused.stderr
    # ... and lets others through, which the operator reports and does not apply
    kubectl(*patch, '{"spec": {"resources": {"workers": {"replicas": 3}}}}', namespace=namespace)

    def reported() -> dict[str, Any] | None:
        current = cluster.sweep_status("edited")
        return current if condition(current, "SpecApplied")["status"] == "False" else None

    status = wait_until(reported, 30, "SpecApplied=False")
    applied = condition(status, "SpecApplied")
    assert applied["reason"] == "SpecChangedAfterStart" and applied["observedGeneration"] == 2
    assert "spec.resources.workers.replicas" in applied["message"] and "generation 1" in applied["message"]
    assert status["observedGeneration"] == 2 and status["phase"] == "Provisioning"
    reported_event = ("Warning", "SpecChangedAfterStart", applied["message"])
    cluster.wait_for_events("edited", lambda found: reported_event in found, f"{reported_event}")
    assert worker(stored_rayjob(cluster, "edited"))[0]["replicas"] == 1
    assert stored_rayjob(cluster, "edited")["metadata"]["uid"] == rayjob["metadata"]["uid"]


def test_the_rayjob_is_rendered_from_the_frozen_plan(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    # A start that froze the plan and then failed before making the RayJob (the operator died) is
    # retried after the user edited resources: the Pods must be what the driver will ask for.
    evidence = f"file://{tmp_path}/evidence"
    frozen = sweep_manifest("refrozen", evidence, resources={"perTrial": {"cpu": "2", "memory": "3Gi"}})
    apply(kubectl, namespace, frozen, tmp_path)
    sweep = cluster.sweep("refrozen")
    assert sweep is not None
    root = layout.sweep_root(evidence, namespace, "refrozen", sweep["metadata"]["uid"])
    model = sweep_model(frozen, namespace=namespace, uid=sweep["metadata"]["uid"])
    bucket.write_document(
        layout.join(root, layout.PLAN), build_plan(model, root, "tunesweep-trainer:cpu-test", "t0")
    )
    patch = '{"spec": {"resources": {"perTrial": {"cpu": "1", "memory": "1Gi"}}}}'
    kubectl("patch", "tsweep", "refrozen", "--type=merge", "-p", patch, namespace=namespace)

    start_operator()
    group, container = worker(stored_rayjob(cluster, "refrozen"))
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "3Gi"}
    assert group["rayStartParams"] == {"num-cpus": "2"}

    def reported() -> dict[str, Any] | None:
        current = cluster.sweep_status("refrozen")
        applied = [c for c in current.get("conditions", []) if c["type"] == "SpecApplied"]
        return current if applied and applied[0]["status"] == "False" else None

    applied = condition(wait_until(reported, 30, "SpecApplied=False"), "SpecApplied")
    assert "plan.json (frozen before) differs from the spec" in applied["message"]
