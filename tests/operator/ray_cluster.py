"""Where a sweep ran on the cluster path: the Pods KubeRay made for its RayJob, and the Pod each trial's
evidence says it ran on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import SweepSummary

# KubeRay's labels on the Pods of a Ray cluster (ray-operator/controllers/ray/utils/constant.go).
RAY_CLUSTER_LABEL = "ray.io/cluster"
RAY_NODE_TYPE_LABEL = "ray.io/node-type"
RAY_GROUP_LABEL = "ray.io/group"


@dataclass(frozen=True)
class RayPods:
    """The Pods of one Ray cluster, as the API server lists them."""

    head: list[client.V1Pod]
    workers: list[client.V1Pod]

    @property
    def worker_names(self) -> set[str]:
        return {p.metadata.name for p in self.workers}

    @property
    def head_name(self) -> str:
        (head,) = self.head
        return str(head.metadata.name)


def ray_pods(core: client.CoreV1Api, namespace: str, ray_cluster: str) -> RayPods:
    pods = core.list_namespaced_pod(namespace, label_selector=f"{RAY_CLUSTER_LABEL}={ray_cluster}").items
    by_type: dict[str, list[Any]] = {"head": [], "worker": []}
    for pod in pods:
        by_type.setdefault(pod.metadata.labels.get(RAY_NODE_TYPE_LABEL, ""), []).append(pod)
    return RayPods(head=by_type["head"], workers=by_type["worker"])


def trial_hosts(root: str) -> dict[str, str]:
    """Trial id -> the host (on Kubernetes, the Pod) its run_manifest.json says it ran on."""
    summary = bucket.read_document(layout.join(root, layout.SWEEP_SUMMARY), SweepSummary)
    return {t.trial_id: str(t.hostname) for t in summary.trials if t.hostname is not None}
