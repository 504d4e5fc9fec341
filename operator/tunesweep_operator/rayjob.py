"""render_rayjob: the KubeRay RayJob (ray.io/v1) that runs one sweep's driver. Pure.

Shape (sizes and counts from the placement model, `tunesweep_evidence.placement`):
- entrypoint `tunesweep drive --plan <plan uri>`: the driver reads only the frozen plan;
- a head group that runs the driver (`num-cpus: 0` when there are workers, so trials never land on
  it) and one worker group `trials`: one Pod per trial running at once (`workers.replicas`, by
  default `trials.parallel`), each sized for one trial (`perTrial`); Ray Tune queues the rest.
  With `workers.replicas: 0` the head runs the trials: it is sized for one trial plus the driver;
- GPU: `nvidia.com/gpu` requests = limits = perTrial.count, `num-gpus`, the nvidia.com/gpu toleration;
- TPU (single-host slices): `google.com/tpu` = the host's chips (KubeRay turns it into Ray's `TPU`
  resource), GKE's accelerator and topology node selectors, `JAX_PLATFORMS=tpu`;
- evidence access (env/volumes, see `evidence_access.py`) and the shared JAX compile cache
  (`compile_cache_access.py`) on every Ray container;
- Pod-template overlays (`tunesweep_evidence.pod_overlay`), the chart's then the sweep's, merged into
  the head and worker templates (imagePullSecrets, priorityClassName, affinity, annotations, ...);
- KubeRay cleans up after itself (`shutdownAfterJobFinishes`), retries `backoffLimit` times (the
  driver restores from the evidence's `ray/` state; it exits 0 once it reached a verdict, so only
  infrastructure failures are retried) and stops after `activeDeadlineSeconds`: every wave of
  concurrent trials at its full timeout, grids included, plus slack;
- with `resources.queueName`, Kueue's queue label and `suspend: true` (Kueue un-suspends on admission);
- KubeRay's submitter Pod (`submitterPodTemplate`): what KubeRay's default holds (its container
  `ray-job-submitter`, the head's image, 500m/200Mi requests, 1/1Gi limits, restartPolicy Never; KubeRay
  fills in the `ray job submit` command) plus the sweep's labels and the head's imagePullSecrets;
- with Ray auth on (`settings.ray_auth`): RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH on the head, the
  workers and the submitter, the token a file of the sweep's Secret (`render_ray_auth_secret`) mounted
  read-only at RAY_AUTH_DIR; the driver runs under the head's raylet and inherits its environment.
  KubeRay cannot read the job's end then, so the operator ends such a RayJob (`ended_by_operator`);
- owned by the sweep (controller, blockOwnerDeletion): it goes when the sweep goes.

`render_ray_auth_secret` and `render_network_policy` render the sweep's other children: the token
Secret and the NetworkPolicy that admits to its Ray Pods only its own Pods and the configured peers.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunesweep_evidence.placement import SweepPlacement, add_quantities, place
from tunesweep_evidence.pod_overlay import (
    HEAD_CONTAINER,
    RAY_AUTH_DIR,
    RAY_AUTH_VOLUME,
    WORKER_CONTAINER,
    merge_pod_template,
)
from tunesweep_evidence.spec import Accelerator, TuningSweep
from tunesweep_evidence.tpu import GKE_TPU_ACCELERATOR, GKE_TPU_TOPOLOGY

from . import names
from .compile_cache_access import compile_cache_access
from .defaults import evidence_uri, trainer_image
from .evidence_access import PodAccess, evidence_access
from .ownership import owner_reference
from .settings import OperatorSettings

KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
OPERATOR_IMAGE_ANNOTATION = "tunesweep.dev/operator-image"
RAY_AUTH_ANNOTATION = "tunesweep.dev/ray-auth"
"""On a RayJob whose Ray cluster runs with token auth: KubeRay cannot see its end (`ended_by_operator`)."""
RAY_AUTH_TOKEN_MODE = "token"
WORKER_GROUP = "trials"
INT32_MAX = 2**31 - 1
RAY_AUTH_TOKEN_KEY = "token"
SUBMITTER_CONTAINER = "ray-job-submitter"
"""KubeRay's name for the submitter container (utils.SubmitterContainerName); it must be the first."""
SUBMITTER_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "200Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
"""KubeRay v1.5's default submitter resources (common.GetDefaultSubmitterContainer)."""


@dataclass(frozen=True)
class _TrialPod:
    """What a Pod that runs trials needs beyond its size: where it may run and how JAX starts."""

    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    env: list[dict[str, Any]]


def render_rayjob(sweep: TuningSweep, plan_uri: str, settings: OperatorSettings) -> dict[str, Any]:
    meta, spec = sweep.metadata, sweep.spec
    placed = place(spec)
    labels = names.child_labels(meta.name, meta.uid)
    image = trainer_image(spec, settings)
    auth = ray_auth_access(sweep) if settings.ray_auth else PodAccess()
    access = _combined(
        evidence_access(evidence_uri(spec, settings), spec.evidence.credentials_secret, settings),
        compile_cache_access(settings),
        auth,
    )
    head = _head_group(sweep, placed, image, access, labels, settings)
    rayjob_labels = dict(labels)
    if spec.resources.queue_name:
        rayjob_labels[KUEUE_QUEUE_LABEL] = spec.resources.queue_name
    annotations = {OPERATOR_IMAGE_ANNOTATION: settings.operator_image} if settings.operator_image else {}
    if settings.ray_auth:
        annotations[RAY_AUTH_ANNOTATION] = RAY_AUTH_TOKEN_MODE
    job_spec: dict[str, Any] = {
        "entrypoint": f"tunesweep drive --plan {shlex.quote(plan_uri)}",
        "submissionMode": "K8sJobMode",
        "shutdownAfterJobFinishes": True,
        "activeDeadlineSeconds": _deadline(placed, sweep, settings),
        "backoffLimit": settings.rayjob_backoff_limit,
        "rayClusterSpec": {
            "headGroupSpec": head,
            "workerGroupSpecs": []
            if placed.on_head
            else [_worker_group(sweep, placed, image, access, labels, settings)],
        },
        "submitterPodTemplate": _submitter_template(image, labels, auth, head["template"]),
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


def ended_by_operator(rayjob: Mapping[str, Any]) -> bool:
    """Whether the operator deletes this RayJob once the driver's summary is final.

    KubeRay v1.5 polls the head's job API without a token, so under Ray's token auth it never sees the
    job end: 30 s after its submitter exits it marks the RayJob Failed and, within backoffLimit, runs
    the driver again on a new cluster. The driver's final summary is the verdict instead, and the
    RayJob (its cluster and submitter with it) is deleted then."""
    meta = rayjob.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return annotations.get(RAY_AUTH_ANNOTATION) == RAY_AUTH_TOKEN_MODE and not meta.get("deletionTimestamp")


def ray_auth_access(sweep: TuningSweep) -> PodAccess:
    """Ray token auth for a container: the mode, and the token as a file of the sweep's Secret."""
    secret = names.ray_auth_secret_name(sweep.metadata.name, sweep.metadata.uid)
    return PodAccess(
        env=[
            {"name": "RAY_AUTH_MODE", "value": RAY_AUTH_TOKEN_MODE},
            {"name": "RAY_AUTH_TOKEN_PATH", "value": f"{RAY_AUTH_DIR}/{RAY_AUTH_TOKEN_KEY}"},
        ],
        volumes=[{"name": RAY_AUTH_VOLUME, "secret": {"secretName": secret}}],
        volume_mounts=[{"name": RAY_AUTH_VOLUME, "mountPath": RAY_AUTH_DIR, "readOnly": True}],
    )


def render_ray_auth_secret(sweep: TuningSweep, token: str) -> dict[str, Any]:
    """The Secret holding the sweep's Ray auth token (immutable; owned by the sweep)."""
    meta = sweep.metadata
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.ray_auth_secret_name(meta.name, meta.uid),
            "namespace": meta.namespace,
            "labels": names.child_labels(meta.name, meta.uid),
            "ownerReferences": [owner_reference(sweep)],
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": {RAY_AUTH_TOKEN_KEY: token},
    }


def render_network_policy(sweep: TuningSweep, peers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A NetworkPolicy that admits to the sweep's Pods (head, workers, submitter: every port) only the
    sweep's own Pods and `peers` (the operator, KubeRay's operator: the chart's
    ray.networkPolicy). A policy cannot say "the target's own label value", hence one per sweep.
    Enforced only where the cluster's CNI implements NetworkPolicy."""
    meta = sweep.metadata
    own = {"matchLabels": {names.LABEL_SWEEP_UID: meta.uid}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": names.network_policy_name(meta.name, meta.uid),
            "namespace": meta.namespace,
            "labels": names.child_labels(meta.name, meta.uid),
            "ownerReferences": [owner_reference(sweep)],
        },
        "spec": {
            "podSelector": copy.deepcopy(own),
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": copy.deepcopy(own)}, *map(copy.deepcopy, peers)]}],
        },
    }


def active_deadline_seconds(sweep: TuningSweep, settings: OperatorSettings) -> int:
    """Every wave of concurrent trials (grids included) at its full timeout, plus slack."""
    return _deadline(place(sweep.spec), sweep, settings)


def _deadline(placed: SweepPlacement, sweep: TuningSweep, settings: OperatorSettings) -> int:
    deadline = placed.deadline_seconds(sweep.spec.trials.timeout_seconds, settings.deadline_slack_seconds)
    return min(deadline, INT32_MAX)


def _head_group(
    sweep: TuningSweep,
    placed: SweepPlacement,
    image: str,
    access: PodAccess,
    labels: dict[str, str],
    settings: OperatorSettings,
) -> dict[str, Any]:
    if not placed.on_head:
        compute = {"cpu": settings.head_cpu, "memory": settings.head_memory}
        container = _container(HEAD_CONTAINER, image, access.env, compute, access)
        template = _pod_template(labels, container, access, settings)
        return {"rayStartParams": {"num-cpus": "0"}, "template": _head_overlays(template, sweep, settings)}
    # The head runs the trials: one trial's Pod, plus what the driver needs beside it.
    compute = dict(placed.pod.requests)
    compute["cpu"] = add_quantities(compute["cpu"], settings.head_cpu, cpu=True)
    compute["memory"] = add_quantities(compute["memory"], settings.head_memory, cpu=False)
    trial_pod = _trial_pod(sweep, placed)
    container = _container(HEAD_CONTAINER, image, [*access.env, *trial_pod.env], compute, access)
    template = _placed(_pod_template(labels, container, access, settings), trial_pod)
    return {
        "rayStartParams": dict(placed.pod.ray_start_params),
        "template": _head_overlays(template, sweep, settings),
    }


def _worker_group(
    sweep: TuningSweep,
    placed: SweepPlacement,
    image: str,
    access: PodAccess,
    labels: dict[str, str],
    settings: OperatorSettings,
) -> dict[str, Any]:
    trial_pod = _trial_pod(sweep, placed)
    container = _container(
        WORKER_CONTAINER, image, [*access.env, *trial_pod.env], dict(placed.pod.requests), access
    )
    return {
        "groupName": WORKER_GROUP,
        "replicas": placed.worker_pods,
        "minReplicas": placed.worker_pods,
        "maxReplicas": placed.worker_pods,
        "numOfHosts": 1,
        "rayStartParams": dict(placed.pod.ray_start_params),
        "template": merge_pod_template(
            merge_pod_template(
                _placed(_pod_template(labels, container, access, settings), trial_pod),
                settings.worker_pod_template,
            ),
            sweep.spec.resources.worker_pod_template,
        ),
    }


def _head_overlays(
    template: dict[str, Any], sweep: TuningSweep, settings: OperatorSettings
) -> dict[str, Any]:
    """The chart's head overlay, then the sweep's (see `pod_overlay`: what the operator sets is refused)."""
    with_chart = merge_pod_template(template, settings.head_pod_template)
    return merge_pod_template(with_chart, sweep.spec.resources.head_pod_template)


def _submitter_template(
    image: str, labels: dict[str, str], auth: PodAccess, head_template: dict[str, Any]
) -> dict[str, Any]:
    """KubeRay's default submitter Pod, plus the sweep's labels, Ray auth and the head's pull secrets."""
    container: dict[str, Any] = {
        "name": SUBMITTER_CONTAINER,
        "image": image,
        "resources": copy.deepcopy(SUBMITTER_RESOURCES),
    }
    if auth.env:
        container["env"] = list(auth.env)
    if auth.volume_mounts:
        container["volumeMounts"] = list(auth.volume_mounts)
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if auth.volumes:
        pod["volumes"] = list(auth.volumes)
    pull_secrets = head_template["spec"].get("imagePullSecrets")
    if pull_secrets:
        pod["imagePullSecrets"] = copy.deepcopy(pull_secrets)
    return {"metadata": {"labels": dict(labels)}, "spec": pod}


def _combined(*parts: PodAccess) -> PodAccess:
    return PodAccess(
        env=[e for p in parts for e in p.env],
        volumes=[v for p in parts for v in p.volumes],
        volume_mounts=[m for p in parts for m in p.volume_mounts],
    )


def _trial_pod(sweep: TuningSweep, placed: SweepPlacement) -> _TrialPod:
    workers, accelerator = sweep.spec.resources.workers, sweep.spec.resources.per_trial.accelerator
    node_selector = dict(workers.node_selector)
    tolerations = [t.model_dump(by_alias=True, exclude_none=True) for t in workers.tolerations]
    platform = "cpu"
    if accelerator is Accelerator.nvidia_gpu:
        tolerations = _with_toleration(tolerations, "nvidia.com/gpu")
        platform = ""  # JAX finds the GPUs itself
    elif accelerator is Accelerator.google_tpu and placed.tpu is not None:
        tpu = placed.tpu
        node_selector |= {GKE_TPU_ACCELERATOR: tpu.accelerator_type, GKE_TPU_TOPOLOGY: tpu.topology}
        tolerations = _with_toleration(tolerations, "google.com/tpu")
        platform = "tpu"
    env = [{"name": "JAX_PLATFORMS", "value": platform}] if platform else []
    return _TrialPod(node_selector, tolerations, env)


def _placed(template: dict[str, Any], trial_pod: _TrialPod) -> dict[str, Any]:
    if trial_pod.node_selector:
        template["spec"]["nodeSelector"] = trial_pod.node_selector
    if trial_pod.tolerations:
        template["spec"]["tolerations"] = trial_pod.tolerations
    return template


def _with_toleration(tolerations: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """`tolerations` plus the accelerator's usual taint (`<resource>` Exists NoSchedule), unless given."""
    toleration = {"key": resource, "operator": "Exists", "effect": "NoSchedule"}
    return tolerations if toleration in tolerations else [*tolerations, toleration]


def _container(
    name: str, image: str, env: list[dict[str, Any]], compute: dict[str, str], access: PodAccess
) -> dict[str, Any]:
    resources = {"requests": compute, "limits": dict(compute)}
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
