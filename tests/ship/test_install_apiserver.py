"""The install on a real API server: manifests/install as users apply it, and the chart (with the kind
values that hack/kind-e2e.sh installs) applied server-side, then the operator run as its Deployment
says (the operator image's entrypoint and environment, the chart's args and env) with the chart's
ServiceAccount token and RBAC, completing a mock sweep that KubeRay's operator and Ray run in the trainer
image's environment. The chart's admission webhook (on by default) is installed too; its configuration
dials the operator at 127.0.0.1, as no Service routes to a process on this machine."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tunesweep_operator.admission import refusal
from tunesweep_operator.settings import OperatorSettings

from tests.operator.cluster import ASYNC_TIMEOUT, Cluster, wait_until
from tests.operator.webhook import LOCAL_ENV, call_here, serving
from tests.ship.chart import KIND_VALUES, RULES, is_webhook, one, operator_container, plain_env, render
from tests.ship.conftest import ImageEnv
from tests.ship.dockerfile import Dockerfile, image_env
from tests.support.controlplane import REPO_ROOT, ControlPlane, free_port
from tests.support.k8s_fixtures import StartKubeRay

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
INSTALL = REPO_ROOT / "manifests" / "install" / "tunesweep.yaml"
SAMPLE = REPO_ROOT / "manifests" / "samples" / "sweep-mock.yaml"
WEBHOOK_CONFIGURATIONS = "validatingwebhookconfigurations.admissionregistration.k8s.io"


def can_i(kubectl: Kubectl, account: str, verb: str, resource: str, namespace: str, name: str = "") -> bool:
    resource, _, subresource = resource.partition("/")
    more = [f"--subresource={subresource}"] if subresource else []
    target = f"{resource}/{name}" if name else resource
    proc = kubectl("auth", "can-i", verb, target, *more, f"--as={account}", namespace=namespace, check=False)
    return proc.stdout.strip() == "yes"


def wait_can_i(
    kubectl: Kubectl, account: str, verb: str, resource: str, namespace: str, name: str = ""
) -> None:
    """Until RBAC grants it: the authorizer reads Roles and bindings from caches that follow the writes."""
    wait_until(
        lambda: can_i(kubectl, account, verb, resource, namespace, name),
        ASYNC_TIMEOUT,
        f"`kubectl auth can-i {verb} {resource} {name} --as={account} -n {namespace}` to say yes",
    )


def cluster_scoped(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, name) of the objects to delete after a test: the cluster-scoped ones, never the CRD (the
    session's other tests use it) nor the Namespace."""
    kept = ("CustomResourceDefinition", "Namespace")
    return [
        (d["kind"].lower(), d["metadata"]["name"])
        for d in docs
        if "namespace" not in d["metadata"] and d["kind"] not in kept
    ]


def test_install_manifests_are_accepted(kubectl: Kubectl, control_plane: ControlPlane) -> None:
    """`kubectl apply --server-side -f manifests/install/tunesweep.yaml`, as the README says."""
    docs = [d for d in yaml.safe_load_all(INSTALL.read_text()) if d]
    try:
        kubectl("apply", "--server-side", "-f", str(INSTALL))
        namespace = one(docs, "Namespace")["metadata"]["name"]
        account = f"system:serviceaccount:{namespace}:{one(docs, 'ServiceAccount')['metadata']['name']}"
        kubectl("get", "deployment", one(docs, "Deployment")["metadata"]["name"], namespace=namespace)
        wait_can_i(kubectl, account, "create", "rayjobs.ray.io", "anywhere")
        wait_can_i(kubectl, account, "update", "tuningsweeps.tunesweep.dev/status", "anywhere")
        assert not can_i(kubectl, account, "get", "secrets", "anywhere")
        assert not can_i(kubectl, account, "delete", "tuningsweeps.tunesweep.dev", "anywhere")
        # the admission webhook, on by default: the operator may write its CA into that one configuration
        webhook = one(docs, "ValidatingWebhookConfiguration")["metadata"]["name"]
        wait_can_i(kubectl, account, "patch", WEBHOOK_CONFIGURATIONS, "anywhere", name=webhook)
        assert not can_i(kubectl, account, "patch", WEBHOOK_CONFIGURATIONS, "anywhere", name="another")
    finally:
        for kind, name in cluster_scoped(docs):
            kubectl("delete", kind, name, "--ignore-not-found", check=False)
        kubectl(
            "delete", "namespace", one(docs, "Namespace")["metadata"]["name"], "--wait=false", check=False
        )


class OperatorAsDeployed:
    """The operator container of the rendered Deployment, as a local process; `here` is the env that
    differs on this machine."""

    def __init__(
        self,
        image: ImageEnv,
        deployment: dict[str, Any],
        kubeconfig: Path,
        log: Path,
        here: dict[str, str],
    ) -> None:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert all("value" in e for e in container["env"]), "the kind values use plain env only"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        probe = container["livenessProbe"]["httpGet"]
        self.liveness = f"http://127.0.0.1:{ports[probe['port']]}{probe['path']}"
        self.metrics = f"http://127.0.0.1:{ports['metrics']}/metrics"
        self.log = log
        argv = image.command([*Dockerfile.load().exec_form("operator", "ENTRYPOINT"), *container["args"]])
        # In the Pod, the kubernetes client finds the ServiceAccount's token; here, a kubeconfig with it.
        env = image.env() | plain_env(container) | here | {"KUBECONFIG": str(kubeconfig)}
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                argv, env=env, cwd=image.tmp, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def get(self, url: str) -> tuple[int, str]:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()

    def wait_live(self) -> None:
        def live() -> bool:
            assert self.popen.poll() is None, f"the operator exited:\n{self.tail()}"
            with contextlib.suppress(OSError):
                return self.get(self.liveness)[0] == 200
            return False

        wait_until(live, 60, lambda: f"the operator's liveness probe {self.liveness}:\n{self.tail()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def sweep_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A second namespace, for the sweeps: the operator's release namespace is another one."""
    core = client.CoreV1Api(control_plane.api_client())
    name = f"ship-sweeps-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(Exception):
        core.delete_namespace(name, propagation_policy="Background")


@pytest.mark.parametrize("scope", ["all-namespaces", "watch-namespaces"])
def test_chart_operator_completes_a_mock_sweep(
    scope: str,
    helm: Path,
    image_envs: Callable[[str], ImageEnv],
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    sweep_namespace: str,
    start_kuberay: StartKubeRay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator_image, trainer_image = image_envs("operator"), image_envs("trainer-cpu")
    kind = yaml.safe_load(KIND_VALUES.read_text())
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    # The kind values; what differs here is only where things are (this machine has no node folder and
    # runs everything on 127.0.0.1) and a faster progress poll.
    webhook_port = free_port()
    overrides = [
        f"evidence.filePath={evidence}",
        f"evidence.fileVolume.hostPath.path={evidence}",
        f"operator.livenessPort={free_port()}",
        f"metrics.port={free_port()}",
        f"webhook.port={webhook_port}",
        "operator.progressIntervalSeconds=1",
    ]
    if scope == "watch-namespaces":
        overrides.append(f"watchNamespaces={{{sweep_namespace}}}")
    release = f"ship-{secrets.token_hex(3)}"
    docs = render(
        helm, "-f", str(KIND_VALUES), "--set", ",".join(overrides), release=release, namespace=namespace
    )
    call_here(one(docs, "ValidatingWebhookConfiguration"), webhook_port)
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    deployment = one(docs, "Deployment")
    operator_roles = [d for d in docs if d["kind"] == "ClusterRole" and not is_webhook(d)]
    assert bool(operator_roles) == (scope == "all-namespaces"), cluster_scoped(docs)
    operator: OperatorAsDeployed | None = None
    try:
        kubectl("apply", "--server-side", "--field-manager=helm", "-f", str(manifest))
        account = one(docs, "ServiceAccount")["metadata"]["name"]
        subject = f"system:serviceaccount:{namespace}:{account}"
        wait_can_i(kubectl, subject, "create", "rayjobs.ray.io", sweep_namespace)
        if scope == "all-namespaces":
            wait_can_i(kubectl, subject, "create", "rayjobs.ray.io", "elsewhere")
        else:
            assert not can_i(kubectl, subject, "create", "rayjobs.ray.io", "elsewhere")
        # the chart made the ServiceAccount (create=False); its token, as the Pod would mount it
        kubeconfig = control_plane.kubeconfig_for_service_account(namespace, account, create=False)
        operator = OperatorAsDeployed(
            operator_image, deployment, kubeconfig, tmp_path / "operator.log", LOCAL_ENV
        )
        operator.wait_live()
        # the webhook (failurePolicy Fail) admits sweeps once the operator serves it; a bad one it refuses
        serving(kubectl, sweep_namespace)

        kuberay = start_kuberay(sweep_namespace)
        # The Ray Pods run the trainer image as the Dockerfile installs it.
        monkeypatch.setattr(
            kuberay, "image_env", lambda image, tmp: image_env("trainer-cpu", trainer_image.venv, tmp)
        )
        sweep = yaml.safe_load(SAMPLE.read_text())
        uri = sweep["spec"]["evidence"]["uri"]
        sweep["spec"]["evidence"]["uri"] = uri.replace(kind["evidence"]["filePath"], str(evidence), 1)
        sweep["spec"]["trials"] |= {"count": 4, "parallel": 2}  # the sample's sweep, shortened
        # the operator's own checks, with the chart's settings: kind's evidence folder is not on its volume
        outside = json.loads(json.dumps(sweep)) | {"metadata": {"name": "outside"}}
        outside["spec"]["evidence"]["uri"] = uri
        settings = OperatorSettings.from_env(plain_env(operator_container(docs)))
        expected = refusal("CREATE", outside, None, settings)
        assert expected and "is not below" in expected, expected
        applied = kubectl(
            "apply", "-f", "-", namespace=sweep_namespace, input=yaml.safe_dump(outside), check=False
        )
        assert applied.returncode != 0 and expected in applied.stderr, applied.stderr
        (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
        kubectl("apply", "-f", str(tmp_path / "sweep.yaml"), namespace=sweep_namespace)
        name = sweep["metadata"]["name"]

        cluster = Cluster(control_plane, sweep_namespace)
        # the chart's defaults turn Ray auth on: the operator deletes the RayJob after the verdict, so
        # what it rendered is read while it runs
        rayjob = wait_until(lambda: next(iter(cluster.rayjobs()), None), ASYNC_TIMEOUT, "the sweep's RayJob")
        status = cluster.wait_for_phase(name, ("Succeeded", "Failed"), timeout=400)
        assert status["phase"] == "Succeeded", f"{json.dumps(status, indent=1)}\n{operator.tail()}"
        assert cluster.config_map(status["promoted"]["configMap"]) is not None
        assert any(evidence.rglob("best_config.yaml")), "no promoted config in the file evidence"
        wait_until(lambda: not cluster.rayjobs(), ASYNC_TIMEOUT, "the operator to delete the ended RayJob")
        # the RayJob got the chart's default trainer image and evidence volume, and the Ray auth token
        assert rayjob["metadata"]["annotations"]["tunesweep.dev/ray-auth"] == "token"
        head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
        container = operator_container(docs)
        assert head["containers"][0]["image"] == plain_env(container)["TUNESWEEP_TRAINER_IMAGE_CPU"]
        assert head["volumes"][0] == {
            "name": "evidence",
            "hostPath": {"path": str(evidence), "type": "Directory"},
        }
        assert head["containers"][0]["volumeMounts"][0] == {"name": "evidence", "mountPath": str(evidence)}
        assert [v["name"] for v in head["volumes"]] == ["evidence", "tunesweep-ray-auth"]
        # the metrics endpoint the Service and ServiceMonitor point at (the gauge follows the status write)
        succeeded = re.compile(r'^tunesweep_sweeps\{phase="Succeeded"\} 1', re.M)
        seen = [""]

        def counted() -> bool:
            code, seen[0] = operator.get(operator.metrics)
            return code == 200 and succeeded.search(seen[0]) is not None

        wait_until(counted, 60, lambda: f"{succeeded.pattern} in {operator.metrics}; it shows:\n{seen[0]}")
        # RBAC: the chart's rules (files/operator-rules.yaml, webhook-rules.yaml) were enough: nothing refused
        refused = [
            line for line in operator.tail(10_000).splitlines() if re.search(r"\b403\b|[Ff]orbidden", line)
        ]
        assert not refused, "\n".join(refused[:10])
        assert yaml.safe_load(RULES.read_text())  # the rules under test are the file's
    finally:
        if operator is not None:
            operator.stop()
        for kind_, name_ in cluster_scoped(docs):
            kubectl("delete", kind_, name_, "--ignore-not-found", check=False)
