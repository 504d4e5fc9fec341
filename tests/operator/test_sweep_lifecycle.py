"""A sweep's life on a real control plane: `kubectl apply` -> RayJob -> driver -> promoted config.

The operator runs as in production (`tunesweep operator --namespace NS`, its own service account bound
to exactly the chart's rules); KubeRay's own operator makes the RayJob's Ray cluster, whose Pods the
kubelet stand-in runs as a multi-node Ray cluster, and its submitter Job submits the real sweep driver.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import BestParams, Plan

from tests.operator.cluster import KUBERAY_SEES_THE_END, Cluster, condition, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods, trial_hosts
from tests.operator.sweeps import sweep_manifest
from tests.support.controlplane import REPO_ROOT
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
SAMPLE = REPO_ROOT / "manifests" / "samples" / "sweep-mock.yaml"


def apply(kubectl: Kubectl, namespace: str, manifest: dict[str, Any], folder: Path) -> None:
    path = folder / f"{manifest['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    kubectl("apply", "-f", str(path), namespace=namespace)


def test_mock_sweep_promotes_the_best_config(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    operator = start_operator(**KUBERAY_SEES_THE_END)
    # the repository's mock sample (8 trials, ASHA), its evidence in this test's folder
    sample = yaml.safe_load(SAMPLE.read_text())
    evidence = sample["spec"]["evidence"]["uri"] = f"file://{tmp_path}/evidence"
    sample["metadata"]["name"] = "lr-sweep"
    apply(kubectl, namespace, sample, tmp_path)

    status = cluster.wait_for_phase("lr-sweep", ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    sweep = cluster.sweep("lr-sweep")
    assert sweep is not None
    uid = sweep["metadata"]["uid"]
    root = f"{evidence}/{namespace}/lr-sweep/{uid}"
    assert status["evidenceURI"] == root
    assert status["observedGeneration"] == 1 and status["startTime"] and status["completionTime"]
    trials = status["trials"]
    assert trials["total"] == 8 and trials["running"] == 0 and trials["failed"] <= 1
    # the sample as written: trials.parallel 2, so two worker Pods run two trials at once
    assert (trials["planned"], trials["concurrent"], trials["queued"]) == (8, 2, 0)
    assert trials["succeeded"] + trials["earlyStopped"] + trials["failed"] == 8
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Promoted")
    assert condition(status, "Failed")["status"] == "False"
    assert condition(status, "EvidenceReachable")["status"] == "True"

    # one RayJob, owned by the sweep, as the API server stored it
    (rayjob,) = cluster.rayjobs()
    assert rayjob["metadata"]["ownerReferences"][0]["uid"] == uid
    assert rayjob["spec"]["entrypoint"] == f"tunesweep drive --plan {root}/plan.json"
    assert status["rayJob"]["name"] == rayjob["metadata"]["name"]
    status = cluster.wait_for_mirrored_job_status("lr-sweep", "SUCCEEDED")
    assert status["rayJob"]["rayCluster"] == rayjob["status"]["rayClusterName"]
    assert status["rayJob"]["dashboardURL"] == rayjob["status"]["dashboardURL"]

    # the promoted ConfigMap matches the promoted files, and the status says which trial won
    best_params = bucket.read_document(f"{root}/{layout.BEST_PARAMS}", BestParams)
    config_map = cluster.config_map("lr-sweep-best")
    assert config_map is not None
    assert config_map.data["best_config.yaml"] == bucket.read_text(f"{root}/{layout.BEST_CONFIG}")
    assert json.loads(config_map.data["best_params.json"]) == best_params.model_dump(mode="json")
    assert config_map.data["trial_id"] == best_params.trial_id == status["bestTrial"]["id"]
    assert config_map.data["sweep_uid"] == uid
    score = best_params.primary_score
    assert float(config_map.data["primary_score"]) == score == status["bestTrial"]["primaryScore"]
    assert best_params.test_score is not None and status["bestTrial"]["testScore"] == best_params.test_score
    assert status["bestTrial"]["params"] == best_params.params
    assert config_map.metadata.owner_references[0].uid == uid
    assert status["promoted"] == {"configMap": "lr-sweep-best", "evidenceURI": f"{root}/promoted"}
    assert (
        yaml.safe_load(config_map.data["best_config.yaml"])["training"]["learning_rate"]
        == (best_params.params["training.learning_rate"])
    )

    plan = bucket.read_document(f"{root}/{layout.PLAN}", Plan)
    assert plan.sweep.uid == uid and plan.image == "tunesweep-trainer:cpu-test"

    # Events are posted after the status change they announce: the last one may still be on its way.
    events = cluster.wait_for_events(
        "lr-sweep", lambda found: "Promoted" in [reason for _, reason, _ in found], "the Promoted Event"
    )
    reasons = [reason for _, reason, _ in events]
    assert reasons == ["Provisioning", "Running", "Promoting", "Promoted"], events
    assert all(kind == "Normal" for kind, _, _ in events)

    table = kubectl("get", "tsweep", namespace=namespace).stdout
    header, row = table.splitlines()
    assert header.split() == [
        "NAME",
        "PHASE",
        "BEST",
        "TEST",
        "SUCCEEDED",
        "FAILED",
        "QUEUED",
        "SPENT",
        "AGE",
    ]
    counts = [str(trials["succeeded"]), str(trials["failed"])]
    scores = [str(best_params.primary_score), str(best_params.test_score)]
    assert row.split()[:6] == ["lr-sweep", "Succeeded", *scores, *counts]
    described = kubectl("describe", "tsweep", "lr-sweep", namespace=namespace).stdout
    print(f"\n$ kubectl get tsweep\n{table}\n$ kubectl describe tsweep lr-sweep (events)")
    print(described[described.index("Events:") :])

    # the operator as it runs: no JAX, no Ray in its process
    loaded = Path(f"/proc/{operator.popen.pid}/maps").read_text()
    assert "jaxlib" not in loaded and "_raylet" not in loaded

    # counted right after the status write that made the phase Succeeded
    operator.wait_for_metrics(
        'tunesweep_sweeps{phase="Succeeded"} 1.0', "tunesweep_promotion_seconds_count 1.0"
    )

    # where it ran: the driver on the head (num-cpus 0), every trial on a worker Pod. Which worker
    # runs which trial is Ray Tune's: a freed trial process runs the next trial (trial processes are
    # reused), and mock trials end in milliseconds, so the first worker up may run them all before
    # the other's process has started. That both can (one trial each at once) is `concurrent` above.
    pods = ray_pods(cluster.core, namespace, rayjob["status"]["rayClusterName"])
    hosts = trial_hosts(root)
    assert len(hosts) >= trials["succeeded"] + trials["earlyStopped"], hosts
    assert len(pods.workers) == 2
    assert hosts and set(hosts.values()) <= pods.worker_names, (hosts, pods.worker_names)
    assert pods.head_name not in hosts.values()
    assert kuberay.errors == []


def test_operator_restart_mid_sweep_makes_no_second_rayjob(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    first = start_operator(**KUBERAY_SEES_THE_END)
    evidence = f"file://{tmp_path}/evidence"
    apply(kubectl, namespace, sweep_manifest("restarted", evidence), tmp_path)
    status = cluster.wait_for_phase("restarted", "Running", timeout=300)
    plan_before = bucket.read_text(f"{status['evidenceURI']}/{layout.PLAN}")
    first.kill()
    (rayjob,) = cluster.rayjobs()

    second = start_operator(**KUBERAY_SEES_THE_END)
    status = cluster.wait_for_phase("restarted", ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert [r["metadata"]["uid"] for r in cluster.rayjobs()] == [rayjob["metadata"]["uid"]]
    assert bucket.read_text(f"{status['evidenceURI']}/{layout.PLAN}") == plan_before  # never rewritten
    assert cluster.config_map("restarted-best") is not None
    second.wait_for_log("Handler 'start' succeeded.")


def test_deleting_a_running_sweep_removes_its_rayjob_and_keeps_its_evidence(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator()
    apply(kubectl, namespace, sweep_manifest("doomed", f"file://{tmp_path}/evidence"), tmp_path)
    status = cluster.wait_for_phase("doomed", "Running", timeout=300)
    (rayjob,) = cluster.rayjobs()
    kubectl("delete", "tsweep", "doomed", "--wait=true", "--timeout=60s", namespace=namespace)
    assert cluster.sweep("doomed") is None
    name = rayjob["metadata"]["name"]

    def still_there() -> str:
        metadata = (cluster.rayjob(name) or {}).get("metadata")
        return f"RayJob {name} to be collected (owner-reference GC); it is still there: {metadata}"

    wait_until(lambda: cluster.rayjob(name) is None, 60, still_there)
    assert bucket.exists(f"{status['evidenceURI']}/{layout.PLAN}")
    assert cluster.config_map("doomed-best") is None


FLAX_TINY_CONFIG: dict[str, Any] = {
    "model": {"name": "tiny", "max_length": 64},
    "training": {"per_device_batch_size": 8, "warmup_steps": 2, "max_steps": 12, "report_every_steps": 4},
    "data": {"train_size": 256, "eval_size": 8, "test_size": 8, "rung_size": 4},
    "eval": {"max_generation_steps": 16},
}


def test_flax_lm_tiny_sweep_promotes(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    # a broken trainer fails once, not three times
    start_operator(TUNESWEEP_RAYJOB_BACKOFF_LIMIT="0", **KUBERAY_SEES_THE_END)
    manifest = sweep_manifest(
        "flax-sweep",
        f"file://{tmp_path}/evidence",
        trainer={"backend": "flax-lm", "baseConfig": FLAX_TINY_CONFIG},
        searchSpace={"training.learning_rate": {"loguniform": [1.0e-3, 1.0e-2]}},
        trials={"count": 2, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
    )
    apply(kubectl, namespace, manifest, tmp_path)
    status = cluster.wait_for_phase("flax-sweep", ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["trials"]["succeeded"] == 2
    config_map = cluster.config_map("flax-sweep-best")
    assert config_map is not None
    best_params = json.loads(config_map.data["best_params.json"])
    assert best_params["backend"] == "flax-lm" and best_params["trial_id"] == status["bestTrial"]["id"]
    assert 0.0 <= status["bestTrial"]["primaryScore"] <= 1.0
    assert yaml.safe_load(config_map.data["best_config.yaml"])["training"]["max_steps"] == 12
