"""`make dev-cluster`: the tests' control plane with KubeRay and the operator, to try tunesweep with kubectl.

It is the test control plane, NOT a real cluster: real etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KubeRay's operator (built from the pinned Go modules), and the kubelet stand-in of
tests/support/kubelet.py, which runs each Pod's containers as local processes from this repository's
.venv (images are ignored; volumes other than Secrets are this machine's file system). The operator
runs as in tests/operator: `tunesweep operator --namespace default` with the chart's RBAC rules.

    python -m tests.support.dev_cluster [--kubeconfig PATH]   (hack/dev-cluster.sh runs it)

Runs in the foreground until Ctrl-C (or SIGTERM), then stops everything it started and removes its
kubeconfig. The kubeconfig is written last: once it exists, everything is ready.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from tests.operator.cluster import OperatorProcess, bind_operator_rules
from tests.support.controlplane import REPO_ROOT, ControlPlane, ControlPlaneError, ensure_assets
from tests.support.k8s_fixtures import NODE_POOLS, TUNESWEEP_CRD, trainer_image_env
from tests.support.kubelet import KubeletStandIn

DEFAULT_KUBECONFIG = REPO_ROOT / ".dev-cluster" / "kubeconfig"
NAMESPACE = "default"
SAMPLE = "manifests/samples/sweep-mock.yaml"


class DevClusterError(RuntimeError):
    """The dev cluster cannot start or a part of it died; the message says what and where its logs are."""


def banner(kubeconfig: Path, kubectl: Path, logs: Path, pods: Path) -> str:
    """What the user is told once everything is ready."""
    return f"""
tunesweep dev cluster: ready.

This is the tests' control plane, not a real cluster: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KubeRay's operator run on 127.0.0.1, and a kubelet stand-in runs each Pod's
containers as local processes from this repository's .venv (no images, no container runtime; Nodes
cpu-pool, gpu-pool and tpu-v6e-2x2-pool are numbers only). The tunesweep operator serves namespace
{NAMESPACE!r} only. Everything stops, and this kubeconfig is removed, when you press Ctrl-C here.

In another shell:
  export KUBECONFIG={kubeconfig}
  alias kubectl={kubectl}   # the pinned kubectl, if you have none
  kubectl apply -f {SAMPLE}
  kubectl get tsweep -w

Logs (operator.log, kube-apiserver.log, kuberay-operator-{NAMESPACE}.log, ...): {logs}
`kubectl logs` reaches no kubelet here: a container's output is {pods}/p<first 6 characters of its
Pod's uid>/<container>.log
"""


@contextlib.contextmanager
def exclusive(kubeconfig: Path) -> Iterator[None]:
    """One dev cluster per kubeconfig path: a second would overwrite the first one's kubeconfig. The lock
    file stays (removing it would let two runs lock two different files of one name)."""
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    with kubeconfig.with_name(kubeconfig.name + ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DevClusterError(
                f"a dev cluster already runs with kubeconfig {kubeconfig}: stop it (Ctrl-C in its "
                "terminal) or give this one another --kubeconfig"
            ) from None
        yield


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the dev cluster as Ctrl-C does."""
    raise KeyboardInterrupt


def watch(cp: ControlPlane, kubelet: KubeletStandIn, operator: OperatorProcess) -> None:
    """Until Ctrl-C: raise when a part dies, and pass on what the kubelet stand-in could not run."""
    reported = 0
    while True:
        cp.check_alive()
        if operator.popen.poll() is not None:
            raise DevClusterError(f"the operator exited with {operator.popen.returncode}:\n{operator.tail()}")
        for error in kubelet.errors[reported:]:
            print(f"kubelet stand-in: {error}", file=sys.stderr, flush=True)
        reported = len(kubelet.errors)
        time.sleep(1.0)


def run(kubeconfig: Path) -> None:
    with contextlib.ExitStack() as stack:
        try:
            start(stack, kubeconfig)
        except KeyboardInterrupt:
            pass
        finally:
            # a second Ctrl-C must not cut the clean-up short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("\nstopping the dev cluster ...", flush=True)
    print("stopped: every process it started has ended; the kubeconfig is removed.", flush=True)


def start(stack: contextlib.ExitStack[bool | None], kubeconfig: Path) -> None:
    """Start every part, each one's stop on `stack`; then watch them until Ctrl-C."""
    cp = ControlPlane(ensure_assets())
    stack.callback(cp.stop)
    print(f"starting the test control plane in {cp.workdir} ...", flush=True)
    cp.start()
    cp.install_crds([*cp.kuberay_crds(), TUNESWEEP_CRD])
    workdir = Path(tempfile.mkdtemp(prefix="tswk", dir="/tmp"))  # short: Ray keeps Unix sockets below it
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    kubelet = KubeletStandIn(cp.admin_kubeconfig, workdir, NODE_POOLS, trainer_image_env)
    stack.callback(kubelet.stop)
    kubelet.start()
    print("starting KubeRay's operator and the tunesweep operator ...", flush=True)
    cp.start_kuberay_operator([NAMESPACE], kubelet.network.with_cluster_dns)
    operator_kubeconfig = bind_operator_rules(cp, NAMESPACE)
    operator = OperatorProcess(NAMESPACE, operator_kubeconfig, cp.workdir / "operator.log", {})
    stack.callback(operator.stop)
    operator.wait_ready()
    stack.callback(kubeconfig.unlink, missing_ok=True)
    # in one step: its appearance is what says the cluster is ready
    partial = kubeconfig.with_name(kubeconfig.name + ".partial")
    shutil.copyfile(cp.admin_kubeconfig, partial)
    partial.chmod(0o600)
    partial.replace(kubeconfig)
    print(banner(kubeconfig, cp.kubectl_path, cp.workdir, workdir), flush=True)
    watch(cp, kubelet, operator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make dev-cluster",
        description="the test control plane with KubeRay and the operator, until Ctrl-C",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=DEFAULT_KUBECONFIG,
        help=f"where to write the admin kubeconfig (default {DEFAULT_KUBECONFIG})",
    )
    args = parser.parse_args(argv)
    # Ctrl-C stops it even when started where SIGINT is ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    kubeconfig = args.kubeconfig.resolve()
    try:
        with exclusive(kubeconfig):
            run(kubeconfig)
    except (DevClusterError, ControlPlaneError, AssertionError) as error:
        print(f"dev-cluster: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
