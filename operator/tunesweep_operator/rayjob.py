"""render_rayjob: the KubeRay RayJob (ray.io/v1) that runs one sweep's driver. Pure.

Shape:
- entrypoint `tunesweep drive --plan <plan uri>`: the driver reads only the frozen plan;
- a head group that runs the driver (`num-cpus: 0` when there are workers, so trials never land on
  it) and one worker group `trials`: `workers.replicas` Pods (TPU: slices, `numOfHosts` Pods
  each), each sized for one trial (`perTrial`); Ray Tune queues trials beyond what fits;
- GPU: `nvidia.com/gpu` requests = limits = perTrial.count, `num-gpus`, the nvidia.com/gpu toleration;
- TPU: `google.com/tpu` = chips per host (KubeRay turns it into Ray's `TPU` resource), `numOfHosts`
  (see `tpu.py`), GKE's accelerator and topology node selectors, `JAX_PLATFORMS=tpu`;
- evidence access (env/volumes, see `evidence_access.py`) on every Ray container;
- KubeRay cleans up after itself (`shutdownAfterJobFinishes`), retries `backoffLimit` times (the
  driver restores from the evidence's `ray/` state) and stops after `activeDeadlineSeconds`;
- with `resources.queueName`, Kueue's queue label and `suspend: true` (Kueue un-suspends on admission);
- owned by the sweep (controller, blockOwnerDeletion): it goes when the sweep goes.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

from tunesweep_evidence.spec import Accelerator, TuningSweep

from . import names
from .defaults import evidence_uri, trainer_image
from .evidence_access import PodAccess, evidence_access
from .ownership import owner_reference
from .settings import OperatorSettings
from .tpu import TpuTopologyError, tpu_slice

KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
OPERATOR_IMAGE_ANNOTATION = "tunesweep.dev/operator-image"
GKE_TPU_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY = "cloud.google.com/gke-tpu-topology"
WORKER_GROUP = "trials"
INT32_MAX = 2**31 - 1


def render_rayjob(sweep: TuningSweep, plan_uri: str, settings: OperatorSettings) -> dict[str, Any]:
    meta, spec = sweep.metadata, sweep.spec
    labels = names.child_labels(meta.name, meta.uid)
    image = trainer_image(spec, settings)
    access = evidence_access(evidence_uri(spec, settings), spec.evidence.credentials_secret, settings)
    rayjob_labels = dict(labels)
    if spec.resources.queue_name:
        rayjob_labels[KUEUE_QUEUE_LABEL] = spec.resources.queue_name
    annotations = {OPERATOR_IMAGE_ANNOTATION: settings.operator_image} if settings.operator_image else {}
    workers = spec.resources.workers.replicas
    job_spec: dict[str, Any] = {
        "entrypoint": f"tunesweep drive --plan {shlex.quote(plan_uri)}",
        "submissionMode": "K8sJobMode",
        "shutdownAfterJobFinishes": True,
        "activeDeadlineSeconds": active_deadline_seconds(sweep, settings),
        "backoffLimit": settings.rayjob_backoff_limit,
        "rayClusterSpec": {
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0"} if workers > 0 else {},
                "template": _pod_template(labels, _head_container(image, access, settings), access, settings),
            },
            "workerGroupSpecs": [_worker_group(sweep, image, access, labels, settings)]
            if workers > 0
            else [],
        },
    }
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    if spec.resources.queue_name:
        job_spec["suspend"] = True
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": names.rayjob_name(meta.name, meta.uid),
            "namespace": meta.namespace,
            "labels": rayjob_labels,
            **({"annotations": annotations} if annotations else {}),
            "ownerReferences": [owner_reference(sweep)],
        },
        "spec": job_spec,
    }


def active_deadline_seconds(sweep: TuningSweep, settings: OperatorSettings) -> int:
    """Every wave of `parallel` trials at its full timeout, plus slack for provisioning and promotion."""
    trials = sweep.spec.trials
    waves = math.ceil(trials.count / max(trials.parallel, 1))
    return min(trials.timeout_seconds * waves + settings.deadline_slack_seconds, INT32_MAX)


def _head_container(image: str, access: PodAccess, settings: OperatorSettings) -> dict[str, Any]:
    resources = {"cpu": settings.head_cpu, "memory": settings.head_memory}
    return _container(
        "ray-head", image, access.env, {"requests": resources, "limits": dict(resources)}, access
    )


def _worker_group(
    sweep: TuningSweep, image: str, access: PodAccess, labels: dict[str, str], settings: OperatorSettings
) -> dict[str, Any]:
    per_trial, workers = sweep.spec.resources.per_trial, sweep.spec.resources.workers
    compute = {"cpu": per_trial.cpu, "memory": per_trial.memory}
    start_params = {"num-cpus": str(cpu_count(per_trial.cpu))}
    node_selector = dict(workers.node_selector)
    tolerations = [t.model_dump(by_alias=True, exclude_none=True) for t in workers.tolerations]
    env = list(access.env)
    hosts = 1
    if per_trial.accelerator is Accelerator.nvidia_gpu:
        compute["nvidia.com/gpu"] = str(per_trial.count)
        start_params["num-gpus"] = str(per_trial.count)
        tolerations = _with_toleration(tolerations, "nvidia.com/gpu")
    elif per_trial.accelerator is Accelerator.google_tpu:
        tpu = sweep.spec.resources.tpu
        if tpu is None:
            raise TpuTopologyError(
                "resources.tpu (acceleratorType, topology) is required with google.com/tpu"
            )
        slice_ = tpu_slice(tpu.accelerator_type, tpu.topology)
        hosts = slice_.hosts
        # KubeRay derives Ray's `TPU` resource from this limit, in the form it parses (a `resources`
        # of our own would have to match its quoting exactly, or it logs an error for every Pod).
        compute["google.com/tpu"] = str(slice_.chips_per_host)
        node_selector |= {GKE_TPU_ACCELERATOR: tpu.accelerator_type, GKE_TPU_TOPOLOGY: tpu.topology}
        tolerations = _with_toleration(tolerations, "google.com/tpu")
        env.append({"name": "JAX_PLATFORMS", "value": "tpu"})
    else:
        env.append({"name": "JAX_PLATFORMS", "value": "cpu"})
    container = _container("ray-worker", image, env, {"requests": compute, "limits": dict(compute)}, access)
    template = _pod_template(labels, container, access, settings)
    if node_selector:
        template["spec"]["nodeSelector"] = node_selector
    if tolerations:
        template["spec"]["tolerations"] = tolerations
    return {
        "groupName": WORKER_GROUP,
        "replicas": workers.replicas,
        "minReplicas": workers.replicas,
        "maxReplicas": workers.replicas,
        "numOfHosts": hosts,
        "rayStartParams": start_params,
        "template": template,
    }


def _with_toleration(tolerations: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """`tolerations` plus the accelerator's usual taint (`<resource>` Exists NoSchedule), unless given."""
    toleration = {"key": resource, "operator": "Exists", "effect": "NoSchedule"}
    return tolerations if toleration in tolerations else [*tolerations, toleration]


def _container(
    name: str, image: str, env: list[dict[str, Any]], resources: dict[str, Any], access: PodAccess
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "resources": resources}
    if env:
        container["env"] = env
    if access.volume_mounts:
        container["volumeMounts"] = list(access.volume_mounts)
    return container


def _pod_template(
    labels: dict[str, str], container: dict[str, Any], access: PodAccess, settings: OperatorSettings
) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [container]}
    if access.volumes:
        pod["volumes"] = list(access.volumes)
    if settings.ray_service_account:
        pod["serviceAccountName"] = settings.ray_service_account
    return {"metadata": {"labels": dict(labels)}, "spec": pod}


def cpu_count(quantity: str) -> int:
    """Ray wants whole CPUs: a Kubernetes CPU quantity (`4`, `1.5`, `500m`) rounded up, at least 1."""
    value = float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
    return max(1, math.ceil(value))
