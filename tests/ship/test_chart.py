"""charts/tunesweep: lint, what it renders with default and other values, the schema's refusals, the
files derived from it, and its contract with the operator (OperatorSettings) and the samples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tunesweep_evidence.digests import SIGNING_KEY_ENV
from tunesweep_evidence.pod_overlay import CREDENTIALS_DIR as GCS_CREDENTIALS_DIR
from tunesweep_evidence.pod_overlay import PodTemplateOverlay
from tunesweep_evidence.spec import Accelerator, TuningSweep
from tunesweep_operator.admission import WebhookSettings
from tunesweep_operator.evidence_access import GCS_KEY_FILE
from tunesweep_operator.kube import KUBERAY_VERSION
from tunesweep_operator.rayjob import render_rayjob
from tunesweep_operator.settings import OperatorSettings

from tests.ship.chart import (
    CHART,
    KIND_CLUSTER,
    KIND_VALUES,
    RULES,
    helm_template,
    kinds,
    notes,
    one,
    operator_container,
    plain_env,
    render,
    without_webhook,
)
from tests.support.controlplane import REPO_ROOT

SAMPLES = REPO_ROOT / "manifests" / "samples"
HEAD_OVERLAY = {
    "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
    "spec": {"imagePullSecrets": [{"name": "registry"}], "priorityClassName": "sweeps"},
}
WORKER_OVERLAY = {
    "spec": {
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": "ray-worker", "resources": {"limits": {"ephemeral-storage": "50Gi"}}}],
    }
}


class ReadEnv(dict[str, str]):
    """An environment that records the names OperatorSettings.from_env asks for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def settings_of(container: dict[str, Any]) -> OperatorSettings:
    """The operator's settings from the chart's env; every TUNESWEEP_ variable it sets must be read
    (by OperatorSettings or, for the admission webhook, WebhookSettings)."""
    env = ReadEnv(plain_env(container))
    settings = OperatorSettings.from_env(env)
    WebhookSettings.from_env(env)
    unread = {name for name in env if name.startswith("TUNESWEEP_")} - env.asked
    assert not unread, f"the chart sets variables the operator does not read: {unread}"
    return settings


@pytest.mark.parametrize("values", [[], ["-f", str(KIND_VALUES)]], ids=["defaults", "kind"])
def test_helm_lint_strict(helm: Path, values: list[str]) -> None:
    proc = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *values], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_defaults_serve_every_namespace_with_a_locked_down_operator(helm: Path) -> None:
    everything = render(helm)
    docs = without_webhook(everything)  # the admission webhook's objects: test_chart_webhook.py
    assert kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "NetworkPolicy",
        "Service",
        "ServiceAccount",
    ]
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = operator_container(docs)
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert container["args"] == ["--all-namespaces", "--liveness-port=8080", "--metrics-port=9090"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"healthz": 8080, "metrics": 9090, "webhook": 9443}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    # not ready while KubeRay's CRDs are missing (tests/operator/test_cluster_traps.py)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # the only writable place is /tmp (the image's HOME and caches)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp"} and {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
    account = one(docs, "ServiceAccount")["metadata"]
    assert pod["serviceAccountName"] == account["name"]
    # RBAC: exactly files/operator-rules.yaml, bound to that account
    assert one(docs, "ClusterRole")["rules"] == yaml.safe_load(RULES.read_text())
    binding = one(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": "tunesweep-system"}
    ]
    assert binding["roleRef"]["name"] == one(docs, "ClusterRole")["metadata"]["name"]
    # the metrics Service selects the operator's pod
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    # every namespaced object lands in the release namespace (manifests/install is applied without helm)
    cluster_scoped = ("ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration")
    assert {d["metadata"]["namespace"] for d in everything if d["kind"] not in cluster_scoped} == {
        "tunesweep-system"
    }


def test_watch_namespaces_get_roles_not_cluster_roles(helm: Path) -> None:
    # the webhook's ClusterRole, for its one ValidatingWebhookConfiguration: test_chart_webhook.py
    docs = without_webhook(render(helm, "--set", "watchNamespaces={team-a,team-b}"))
    assert kinds(docs) == [
        "Deployment",
        "NetworkPolicy",
        "Role",
        "Role",
        "RoleBinding",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    rules = yaml.safe_load(RULES.read_text())
    for kind in ("Role", "RoleBinding"):
        assert sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == kind) == ["team-a", "team-b"]
    assert all(d["rules"] == rules for d in docs if d["kind"] == "Role")
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"][0]["namespace"] == "tunesweep-system"
    assert operator_container(docs)["args"][:2] == ["--namespace=team-a", "--namespace=team-b"]


def test_service_monitor(helm: Path) -> None:
    docs = without_webhook(
        render(
            helm,
            "--set",
            "metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prom,metrics.port=9100",
        )
    )
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    assert (
        monitor["apiVersion"] == "monitoring.coreos.com/v1"
        and monitor["metadata"]["labels"]["release"] == "prom"
    )
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert service["spec"]["ports"][0]["port"] == 9100
    assert "--metrics-port=9100" in operator_container(docs)["args"]
    assert "ServiceMonitor" not in kinds(render(helm))


def test_values_reach_the_operator_settings(helm: Path, tmp_path: Path) -> None:
    values = {
        "image": {"repository": "registry.example:5000/ts/operator", "tag": "1.2.3"},
        "trainer": {
            "repository": "registry.example:5000/ts/trainer",
            "tag": "9",
            "images": {"cuda": "my/cuda:7"},
        },
        "evidence": {
            "defaultUri": "s3://bucket/sweeps",
            "fileVolume": {"persistentVolumeClaim": {"claimName": "evidence"}},
            "filePath": "/data/evidence",
        },
        "ray": {
            "serviceAccount": "ray-runner",
            "headCpu": "2",
            "headMemory": "8Gi",
            "backoffLimit": 0,
            "headPodTemplate": HEAD_OVERLAY,
            "workerPodTemplate": WORKER_OVERLAY,
        },
        "operator": {"progressIntervalSeconds": 2.5, "deadlineSlackSeconds": 60},
        "rayAccess": {"auth": {"enabled": False}, "networkPolicy": {"enabled": False}},
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    docs = render(helm, "-f", str(tmp_path / "values.yaml"))
    container = operator_container(docs)
    assert container["image"] == "registry.example:5000/ts/operator:1.2.3"
    assert settings_of(container) == OperatorSettings(
        trainer_images={
            Accelerator.none: "registry.example:5000/ts/trainer:9-cpu",
            Accelerator.nvidia_gpu: "my/cuda:7",
            Accelerator.google_tpu: "registry.example:5000/ts/trainer:9-tpu",
        },
        operator_image="registry.example:5000/ts/operator:1.2.3",
        default_evidence_uri="s3://bucket/sweeps",
        file_evidence_volume={"persistentVolumeClaim": {"claimName": "evidence"}},
        file_evidence_path="/data/evidence",
        ray_service_account="ray-runner",
        head_cpu="2",
        head_memory="8Gi",
        rayjob_backoff_limit=0,
        progress_interval_seconds=2.5,
        deadline_slack_seconds=60,
        head_pod_template=PodTemplateOverlay.model_validate(HEAD_OVERLAY),
        worker_pod_template=PodTemplateOverlay.model_validate(WORKER_OVERLAY),
        ray_auth=False,
    )
    # the operator mounts the file-evidence volume where it tells the Ray pods to mount it
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "evidence", "mountPath": "/data/evidence"} in container["volumeMounts"]
    assert {"name": "evidence", "persistentVolumeClaim": {"claimName": "evidence"}} in pod["volumes"]
    # unset values keep the operator's own defaults
    defaults = settings_of(operator_container(render(helm)))
    assert defaults.head_memory == OperatorSettings().head_memory
    assert defaults.progress_interval_seconds == OperatorSettings().progress_interval_seconds
    assert defaults.head_pod_template is None and defaults.worker_pod_template is None


def test_operator_credentials(helm: Path) -> None:
    s3_docs = render(helm, "--set", "evidence.credentials.secretName=bucket-keys")
    s3 = operator_container(s3_docs)
    # mounted files, as for the Ray pods: no key in the operator's environment
    assert "envFrom" not in s3 and not [name for name in plain_env(s3) if name.startswith("AWS_")]
    assert plain_env(s3)["TUNESWEEP_S3_CREDENTIALS_DIR"] == GCS_CREDENTIALS_DIR
    assert {"name": "evidence-credentials", "mountPath": GCS_CREDENTIALS_DIR, "readOnly": True} in s3[
        "volumeMounts"
    ]
    s3_pod = one(s3_docs, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "evidence-credentials", "secret": {"secretName": "bucket-keys"}} in s3_pod["volumes"]
    gcs_docs = render(helm, "--set", "evidence.credentials.secretName=gcs-key,evidence.credentials.type=gcs")
    gcs = operator_container(gcs_docs)
    assert "envFrom" not in gcs
    # the same key file convention as the Ray pods' (tunesweep_operator.evidence_access)
    assert plain_env(gcs)["GOOGLE_APPLICATION_CREDENTIALS"] == f"{GCS_CREDENTIALS_DIR}/{GCS_KEY_FILE}"
    assert {"name": "evidence-credentials", "mountPath": GCS_CREDENTIALS_DIR, "readOnly": True} in gcs[
        "volumeMounts"
    ]
    pod = one(gcs_docs, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "evidence-credentials", "secret": {"secretName": "gcs-key"}} in pod["volumes"]


def test_a_signing_key_reaches_the_promotion(helm: Path) -> None:
    docs = render(helm, "--set", "evidence.signingKey.secretName=evidence-signing")
    container = operator_container(docs)
    key_file = plain_env(container)[SIGNING_KEY_ENV]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "evidence-signing-key"]
    assert key_file == f"{mount['mountPath']}/key" and mount["readOnly"] is True
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "evidence-signing-key", "secret": {"secretName": "evidence-signing"}} in pod["volumes"]
    assert SIGNING_KEY_ENV not in plain_env(operator_container(render(helm)))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("watchNamespaces={Team_A}", "at '/watchNamespaces/0'"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy': value must be one of"),
        ("image.repository=ghcr.io/x:1", "at '/image/repository'"),
        ("trainer.images.cuda=not an image", "at '/trainer/images/cuda'"),
        ("metrics.port=0", "at '/metrics/port'"),
        ("evidence.defaultUri=http://bucket", "at '/evidence/defaultUri'"),
        ("evidence.credentials.type=azure", "at '/evidence/credentials/type'"),
        ("evidence.filePath=relative", "at '/evidence/filePath'"),
        ("ray.headMemory=lots", "at '/ray/headMemory'"),
        ("ray.workerPodTemplate.containers=x", "at '/ray/workerPodTemplate'"),
        ("operator.progressIntervalSeconds=0", "at '/operator/progressIntervalSeconds'"),
        ("imagee.tag=typo", "additional properties 'imagee' not allowed"),
        ("operator.livenessPort=9090", "operator.livenessPort and metrics.port must differ"),
    ],
)
def test_bad_values_are_refused(helm: Path, setting: str, message: str) -> None:
    proc = helm_template(helm, "--set", setting)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_bad_file_volume_is_refused_by_lint(helm: Path, tmp_path: Path) -> None:
    bad = {"evidence": {"fileVolume": {"hostPath": {"path": "/a"}, "emptyDir": {}}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        [str(helm), "lint", str(CHART), "-f", str(tmp_path / "bad.yaml")], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "at '/evidence/fileVolume'" in proc.stdout + proc.stderr


def test_derived_manifests_are_fresh(helm: Path) -> None:
    """charts/tunesweep/crds/ and manifests/install/ are generated: they must match their sources."""
    proc = subprocess.run(
        [str(REPO_ROOT / "hack" / "render-manifests.sh"), "--check"],
        env={"PATH": "/usr/bin:/bin", "HELM": str(helm)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{proc.stderr}\nregenerate with: make manifests (hack/render-manifests.sh)"


def test_kind_values_match_the_cluster_and_the_sample(helm: Path) -> None:
    values = yaml.safe_load(KIND_VALUES.read_text())
    [mount] = yaml.safe_load(KIND_CLUSTER.read_text())["nodes"][0]["extraMounts"]
    # the operator's and the Ray pods' volume is the node folder kind mounts from the host
    assert values["evidence"]["fileVolume"]["hostPath"]["path"] == mount["containerPath"]
    sample = yaml.safe_load((SAMPLES / "sweep-mock.yaml").read_text())
    uri = sample["spec"]["evidence"]["uri"]
    file_path = values["evidence"]["filePath"]
    assert uri.startswith(f"file://{file_path}"), f"{uri} is not on the evidence volume at {file_path}"
    container = operator_container(render(helm, "-f", str(KIND_VALUES)))
    # kind loads the images: not `latest`, so the kubelet does not try to pull them
    images = [container["image"], *settings_of(container).trainer_images.values()]
    assert all(":" in image and not image.endswith(":latest") for image in images), images
    assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize(
    ("sample", "accelerator", "resource"),
    [
        ("sweep-gpu.yaml", Accelerator.nvidia_gpu, "nvidia.com/gpu"),
        ("sweep-tpu.yaml", Accelerator.google_tpu, "google.com/tpu"),
    ],
)
def test_accelerator_samples_run_on_the_charts_images(
    helm: Path, sample: str, accelerator: Accelerator, resource: str
) -> None:
    """The GPU/TPU samples leave the image to the chart; the operator renders their RayJob with it."""
    manifest = yaml.safe_load((SAMPLES / sample).read_text())
    manifest["metadata"] |= {"namespace": "ml", "uid": "uid-1"}
    settings = settings_of(operator_container(render(helm)))
    rayjob = render_rayjob(TuningSweep.model_validate(manifest), "s3://b/plan.json", settings)
    [workers] = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    [container] = workers["template"]["spec"]["containers"]
    assert container["image"] == settings.trainer_images[accelerator]
    assert container["image"].endswith("-cuda" if accelerator is Accelerator.nvidia_gpu else "-tpu")
    assert int(container["resources"]["limits"][resource]) >= 1


def test_ray_access_values_reach_the_operator_and_render_the_operators_policy(helm: Path) -> None:
    docs = render(helm)  # Ray auth and the NetworkPolicies are on by default
    settings = settings_of(operator_container(docs))
    assert settings.ray_auth is True
    operator_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert settings.ray_network_policy == (
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tunesweep-system"}},
            "podSelector": {"matchLabels": one(docs, "Deployment")["spec"]["selector"]["matchLabels"]},
        },
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}},
        },
    )
    assert settings.ray_network_policy[0]["podSelector"]["matchLabels"].items() <= operator_labels.items()
    # the operator's own Pod admits only its metrics, liveness and webhook ports
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= operator_labels.items()
    ports = [{"port": port, "protocol": "TCP"} for port in (9090, 8080, 9443)]
    assert policy["spec"]["ingress"] == [{"ports": ports}]
    # turned off: no Ray auth, no policies
    off = render(helm, "--set", "rayAccess.auth.enabled=false,rayAccess.networkPolicy.enabled=false")
    assert plain_env(operator_container(off))["TUNESWEEP_RAY_AUTH"] == "disabled"
    disabled = settings_of(operator_container(off))
    assert disabled.ray_auth is False and disabled.ray_network_policy is None
    assert "NetworkPolicy" not in kinds(off)
    # the operator may create (and find again) the sweeps' token Secrets and NetworkPolicies
    rules = yaml.safe_load(RULES.read_text())
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]} in rules  # never read
    assert {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "create"],
    } in rules


def commands(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "kubectl " in line]


def test_notes_after_a_default_install_say_what_a_sweep_needs(helm: Path, tmp_path: Path) -> None:
    text = notes(helm, tmp_path)
    assert f"--version {KUBERAY_VERSION}" in text
    # the mock sample's file:// evidence cannot work without a shared volume: not suggested as it is
    assert not any("apply" in command for command in commands(text)), text
    assert "evidence.defaultUri" in text and "evidence.fileVolume" in text
    assert all(" -n " not in command for command in commands(text))  # every namespace served


def test_notes_name_the_watched_namespace_in_every_command(helm: Path, tmp_path: Path) -> None:
    text = notes(
        helm, tmp_path, "--set", "watchNamespaces={team-a,team-b}", "--set", "evidence.defaultUri=s3://b/t"
    )
    found = commands(text)
    assert found and all(" -n team-a " in command for command in found), text
    # with a default evidence location, the mock sample runs once its own file:// evidence is dropped
    [apply] = [command for command in found if "apply" in command]
    pattern = re.fullmatch(r"sed '/(.+)/d' (\S+) \| kubectl apply -n team-a -f -", apply)
    assert pattern is not None, apply
    sample = REPO_ROOT / pattern.group(2)
    kept = [line for line in sample.read_text().splitlines() if not re.search(pattern.group(1), line)]
    spec = yaml.safe_load("\n".join(kept))["spec"]
    assert "evidence" not in spec and spec["trainer"]["backend"] == "mock"


def test_notes_with_a_shared_volume_apply_the_mock_sample(helm: Path, tmp_path: Path) -> None:
    text = notes(helm, tmp_path, "-f", str(KIND_VALUES))
    assert "kubectl apply -f manifests/samples/sweep-mock.yaml" in commands(text), text
    uri = yaml.safe_load((SAMPLES / "sweep-mock.yaml").read_text())["spec"]["evidence"]["uri"]
    assert uri.startswith(f"file://{yaml.safe_load(KIND_VALUES.read_text())['evidence']['filePath']}")


def test_the_operator_names_the_kuberay_release_the_chart_is_tested_with() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["annotations"]["tunesweep.dev/kuberay-version"] == KUBERAY_VERSION
