"""`make dev-cluster` (hack/dev-cluster.sh) as a user runs it: started, told to run the mock sample with the
kubectl and kubeconfig it printed, then stopped with Ctrl-C, leaving nothing running behind."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.cluster import wait_until
from tests.support.controlplane import REPO_ROOT
from tests.support.dev_cluster import DevClusterError, exclusive

SCRIPT = REPO_ROOT / "hack" / "dev-cluster.sh"
SAMPLE = REPO_ROOT / "manifests" / "samples" / "sweep-mock.yaml"
# Cold, the script first builds the control plane's binaries (minutes); the tests' runs find them built.
START_TIMEOUT = 600.0
SWEEP_TIMEOUT = 600.0  # the sample's 8 trials take 2 to 4 minutes on 2 busy cores


def process_tree(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of `root` and every process below it: a pid alone may be reused later."""
    parents: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name: field 3 on
            parents[int(stat.parent.name)] = (int(fields[1]), fields[19])  # ppid, starttime
    tree = {root}
    grown = True
    while grown:
        below = {pid for pid, (ppid, _) in parents.items() if ppid in tree} - tree
        tree |= below
        grown = bool(below)
    return {(pid, parents[pid][1]) for pid in tree if pid in parents}


def program(pid: int) -> str:
    """The file name of what `pid` runs (for a Python script, the script's: `tunesweep`)."""
    with contextlib.suppress(OSError):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        script = len(argv) > 1 and Path(argv[0].decode()).name.startswith("python")
        return Path(argv[1 if script else 0].decode()).name
    return ""


def still_running(process: tuple[int, str]) -> bool:
    pid, started = process
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


def test_dev_cluster_runs_the_mock_sample_and_stops_cleanly(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    output = tmp_path / "dev-cluster.log"
    with output.open("wb") as out:
        dev = subprocess.Popen(
            [str(SCRIPT), "--kubeconfig", str(kubeconfig)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def said() -> str:
        return output.read_text(errors="replace")

    try:
        # the kubeconfig is written once everything is ready
        wait_until(
            lambda: kubeconfig.exists() or dev.poll() is not None,
            START_TIMEOUT,
            lambda: f"the dev cluster's kubeconfig; it said:\n{said()}",
        )
        assert dev.poll() is None, f"dev-cluster exited with {dev.returncode}:\n{said()}"
        banner = said()
        assert "not a real cluster" in banner and "local processes" in banner, banner
        assert f"export KUBECONFIG={kubeconfig}" in banner, banner
        kubectl_line = re.search(r"alias kubectl=(\S+)", banner)
        assert kubectl_line, banner

        def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
            argv = [kubectl_line.group(1), f"--kubeconfig={kubeconfig}", *args]
            return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60, check=False)

        ready = kubectl("get", "--raw", "/readyz")
        assert ready.returncode == 0 and ready.stdout == "ok", ready.stderr

        # the sample as the banner says to apply it, its evidence kept in this test's folder
        sweep = yaml.safe_load(SAMPLE.read_text())
        sweep["spec"]["evidence"]["uri"] = f"file://{tmp_path}/evidence"
        applied = kubectl("apply", "-f", "-", input=yaml.safe_dump(sweep))
        assert applied.returncode == 0, applied.stderr
        name = sweep["metadata"]["name"]

        def status() -> dict[str, Any]:
            got = kubectl("get", "tuningsweep", name, "-o", "json")
            return dict(json.loads(got.stdout).get("status") or {}) if got.returncode == 0 else {}

        def ended() -> dict[str, Any] | None:
            now = status()
            return now if now.get("phase") in ("Succeeded", "Failed") else None

        final = wait_until(
            ended,
            SWEEP_TIMEOUT,
            lambda: f"sweep {name} to end; its status: {json.dumps(status(), indent=1)}\n{said()}",
        )
        assert final["phase"] == "Succeeded", f"{json.dumps(final, indent=1)}\n{said()}"
        # KubeRay made the Ray cluster and reported on it (the operator mirrors what KubeRay wrote)
        assert final["rayJob"]["rayCluster"] and final["rayJob"]["jobDeploymentStatus"], final["rayJob"]
        promoted = kubectl("get", "configmap", final["promoted"]["configMap"], "-o", "json")
        assert promoted.returncode == 0, promoted.stderr
        assert "best_config.yaml" in json.loads(promoted.stdout)["data"]

        running = process_tree(dev.pid)
        programs = {program(pid) for pid, _ in running}
        for part in ("etcd", "kube-apiserver", "kube-scheduler", "kuberay-operator", "tunesweep"):
            assert part in programs, f"{part} is not among the processes it started: {programs}"
        dev.send_signal(signal.SIGINT)  # Ctrl-C
        assert dev.wait(120) == 0, said()
    finally:
        if dev.poll() is None:
            dev.terminate()
            dev.wait(120)

    left = [p for p in running if still_running(p)]
    assert not left, f"still running after Ctrl-C: {left}"
    assert said().rstrip().endswith("the kubeconfig is removed."), said()
    assert not kubeconfig.exists()
    folders = re.findall(r"control plane in (\S+) \.\.\.|a container's output is (\S+)/p<", said())
    assert len(folders) == 2, said()
    for folder in (f for pair in folders for f in pair if f):
        assert not Path(folder).exists(), f"{folder} is left behind"
    # the kubelet stand-in's Pod network is named after the process that ran it
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"tsw{dev.pid}" not in links + namespaces


def test_a_second_dev_cluster_on_the_same_kubeconfig_is_refused(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    refused = pytest.raises(
        DevClusterError, match=re.escape(f"already runs with kubeconfig {kubeconfig}: stop it")
    )
    with exclusive(kubeconfig), refused, exclusive(kubeconfig):
        pass
    with exclusive(kubeconfig):  # free again once the first has stopped
        pass
