"""The README's command that frees a sweep whose operator is gone, run as written against a real API
server: the sweep still carries the operator's finalizer, so its deletion waits until the command runs,
and then the sweep and what it owns are gone."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from tunesweep_evidence import spec
from tunesweep_operator.kopf_settings import FINALIZER

from tests.operator.cluster import ASYNC_TIMEOUT, wait_until
from tests.operator.sweeps import sweep_manifest
from tests.support.controlplane import REPO_ROOT, ControlPlane


def readme_patch_command() -> str:
    readme = (REPO_ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme if line.startswith("kubectl patch tuningsweep")]
    assert len(commands) == 1, f"README.md should name one `kubectl patch tuningsweep` command: {commands}"
    return commands[0]


def _gone(read: Any) -> bool:
    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


def test_the_readme_command_frees_a_sweep_whose_operator_is_gone(
    control_plane: ControlPlane, k8s_api: Any, namespace: str, tmp_path: Path
) -> None:
    core, custom = client.CoreV1Api(k8s_api), client.CustomObjectsApi(k8s_api)
    sweep = sweep_manifest("orphaned", "file:///tmp/evidence")
    sweep["metadata"]["finalizers"] = [FINALIZER]  # as the operator left it
    where = (spec.GROUP, spec.VERSION, namespace, spec.PLURAL)
    made = custom.create_namespaced_custom_object(*where, sweep)
    owned = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name="orphaned-promoted",
            owner_references=[
                client.V1OwnerReference(
                    api_version=f"{spec.GROUP}/{spec.VERSION}",
                    kind=spec.KIND,
                    name="orphaned",
                    uid=made["metadata"]["uid"],
                    controller=True,
                )
            ],
        )
    )
    core.create_namespaced_config_map(namespace, owned)

    def read_sweep() -> dict[str, Any]:
        return custom.get_namespaced_custom_object(*where, "orphaned")

    custom.delete_namespaced_custom_object(*where, "orphaned")
    wait_until(lambda: read_sweep()["metadata"].get("deletionTimestamp"), ASYNC_TIMEOUT, "sweep Terminating")
    assert read_sweep()["metadata"]["finalizers"] == [FINALIZER]  # held by it, as no operator removes it

    command = readme_patch_command()
    assert re.fullmatch(r'kubectl patch tuningsweep "\$SWEEP" -n "\$NAMESPACE" .*', command), command
    env = {
        "PATH": f"{control_plane.assets}:{os.environ['PATH']}",
        "KUBECONFIG": str(control_plane.admin_kubeconfig),
        "HOME": str(tmp_path),
        "SWEEP": "orphaned",
        "NAMESPACE": namespace,
    }
    subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, check=True)
    wait_until(lambda: _gone(read_sweep), ASYNC_TIMEOUT, "the sweep deleted after the README's command")
    wait_until(
        lambda: _gone(lambda: core.read_namespaced_config_map("orphaned-promoted", namespace)),
        ASYNC_TIMEOUT,
        "the ConfigMap it owns garbage-collected",
    )
