"""The operator's settings as a table: each environment variable, the Helm value that sets it, what it
means and its default (OperatorSettings'). `tunesweep operator --help` prints it; a test checks that it
names exactly the variables OperatorSettings.from_env and WebhookSettings.from_env read."""

from __future__ import annotations

from dataclasses import dataclass

from tunesweep_evidence import digests

from .settings import (
    COMPILE_CACHE_LOCATION_ENV,
    COMPILE_CACHE_VOLUME_ENV,
    NODE_LOCAL_ENV,
    TRAINER_IMAGE_KINDS,
    OperatorSettings,
    trainer_image_env,
    trainer_image_value,
)


@dataclass(frozen=True)
class Setting:
    env: str
    chart: str
    """The Helm value that sets it; "" when the chart sets it on its own."""
    meaning: str
    field: str = ""
    """The OperatorSettings field whose default is the variable's default; "": unset by default."""


_IMAGES = tuple(
    Setting(
        trainer_image_env(accelerator),
        f"{trainer_image_value(accelerator)} (default <trainer.repository>:<trainer.tag>-{kind})",
        f"the trainer image of sweeps whose trials run on {kind} "
        f"(spec.resources.perTrial.accelerator {accelerator.value}) and whose spec.trainer.image is empty",
    )
    for accelerator, kind in TRAINER_IMAGE_KINDS.items()
)
SETTINGS: tuple[Setting, ...] = (
    *_IMAGES,
    Setting("TUNESWEEP_OPERATOR_IMAGE", "image", "the operator's own image, recorded on each RayJob (audit)"),
    Setting(
        "TUNESWEEP_NAMESPACES",
        "watchNamespaces (as --namespace flags)",
        "watched namespaces, comma-separated, or * for all; --namespace / --all-namespaces win",
    ),
    Setting(
        "TUNESWEEP_EVIDENCE_URI",
        "evidence.defaultUri",
        "the evidence location (s3://, gs://, file://) of sweeps whose spec.evidence.uri is empty",
    ),
    Setting(
        "TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES",
        "evidence.allowedPrefixes",
        "comma-separated URI prefixes evidence may go under, {namespace} standing for the sweep's "
        "namespace; unset: <TUNESWEEP_EVIDENCE_URI>/{namespace}/, or anywhere when that is unset too",
    ),
    Setting(
        "TUNESWEEP_FILE_EVIDENCE_VOLUME",
        "evidence.fileVolume",
        "one pod volume source as JSON, shared by the operator and the Ray pods for file:// evidence, "
        'e.g. {"persistentVolumeClaim": {"claimName": "evidence"}}; without it (or '
        "TUNESWEEP_FILE_EVIDENCE_NODE_LOCAL) file:// evidence is refused",
    ),
    Setting(
        "TUNESWEEP_FILE_EVIDENCE_PATH",
        "evidence.filePath",
        "where that volume is mounted, in the operator's pod and the Ray pods alike; file:// evidence "
        "must lie below it",
        "file_evidence_path",
    ),
    Setting(
        NODE_LOCAL_ENV,
        "",
        "true: file:// evidence is passed to the Ray pods as it is, for an operator and Ray pods that "
        "see one filesystem (one machine, or nodes sharing a mount)",
        "file_evidence_node_local",
    ),
    Setting(
        COMPILE_CACHE_LOCATION_ENV,
        "compileCache.location",
        "JAX's compile cache shared by every trial, passed to the Ray pods as TUNESWEEP_COMPILE_CACHE: an "
        "absolute path (with TUNESWEEP_COMPILE_CACHE_VOLUME, or one the pods provide) or gs://<bucket>"
        "[/prefix]; unset: each Ray pod keeps its own",
    ),
    Setting(
        COMPILE_CACHE_VOLUME_ENV,
        "compileCache.volume",
        "one pod volume source as JSON mounted at that path in the Ray pods, e.g. a ReadWriteMany "
        '{"persistentVolumeClaim": {"claimName": "jax-cache"}} or a node-local hostPath',
    ),
    Setting(
        "TUNESWEEP_RAY_SERVICE_ACCOUNT",
        "ray.serviceAccount",
        "service account of the Ray pods (e.g. Workload Identity for gs://)",
    ),
    Setting("TUNESWEEP_HEAD_CPU", "ray.headCpu", "CPU of the Ray head (it runs the driver)", "head_cpu"),
    Setting("TUNESWEEP_HEAD_MEMORY", "ray.headMemory", "memory of the Ray head", "head_memory"),
    Setting(
        "TUNESWEEP_PROGRESS_INTERVAL_SECONDS",
        "operator.progressIntervalSeconds",
        "how often a running sweep's progress is read from the evidence",
        "progress_interval_seconds",
    ),
    Setting(
        "TUNESWEEP_RAYJOB_BACKOFF_LIMIT",
        "ray.backoffLimit",
        "KubeRay's retries of a failed Ray job (the driver restores from the evidence's ray/ state)",
        "rayjob_backoff_limit",
    ),
    Setting(
        "TUNESWEEP_DEADLINE_SLACK_SECONDS",
        "operator.deadlineSlackSeconds",
        "added to the trials' time in the RayJob's activeDeadlineSeconds",
        "deadline_slack_seconds",
    ),
    Setting(
        digests.SIGNING_KEY_ENV,
        "evidence.signingKey",
        "a key file; promotion signs each sweep's digests.json with it (checked readable at start)",
    ),
    Setting(
        "TUNESWEEP_RAY_AUTH",
        "rayAccess.auth.enabled",
        "token (or unset): Ray's token auth on every Ray cluster; disabled: none, for Ray < 2.52",
    ),
    Setting(
        "TUNESWEEP_RAY_NETWORK_POLICY",
        "rayAccess.networkPolicy",
        'JSON {"peers": [NetworkPolicyPeer, ...]}: a NetworkPolicy per sweep admitting its own Pods '
        "and these peers",
    ),
    *(
        Setting(
            f"TUNESWEEP_{role.upper()}_POD_TEMPLATE",
            f"ray.{role}PodTemplate",
            f"a Pod-template overlay as JSON merged into the Ray {role}'s Pods before a sweep's own; one "
            "that sets what the operator sets stops the operator at start",
        )
        for role in ("head", "worker")
    ),
)
WEBHOOK_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "TUNESWEEP_WEBHOOK_PORT",
        "webhook.enabled, webhook.port",
        "the HTTPS port of the validating admission webhook; unset: no webhook",
    ),
    Setting(
        "TUNESWEEP_WEBHOOK_CERT_DIR",
        "webhook.certManager.enabled",
        "a folder with tls.crt, tls.key and ca.crt (cert-manager's Secret); unset: the operator makes "
        "its own CA at start",
    ),
    Setting(
        "TUNESWEEP_WEBHOOK_HOSTS",
        "",
        "comma-separated DNS names of the webhook's Service, for the certificate the operator makes",
    ),
    Setting(
        "TUNESWEEP_WEBHOOK_CONFIGURATION",
        "",
        "the ValidatingWebhookConfiguration whose caBundle the operator writes its CA into",
    ),
)


def settings_help() -> str:
    """The table of SETTINGS, for `tunesweep operator --help`."""
    defaults = OperatorSettings()
    lines = ["settings (environment variables; the Helm value that sets each in brackets):"]
    for setting in (*SETTINGS, *WEBHOOK_SETTINGS):
        chart = f" [{setting.chart}]" if setting.chart else ""
        shown = _shown(getattr(defaults, setting.field)) if setting.field else "unset"
        lines += [f"  {setting.env}{chart}  default: {shown}", f"      {setting.meaning}"]
    return "\n".join(lines)


def _shown(default: object) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    return str(default) if default not in (None, "") else "unset"
