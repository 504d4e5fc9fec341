"""Operator scale benchmark: `python -m bench.operator_scale [--sweeps 1000]` (about 3 minutes for 1000
sweeps on 2 CPU cores; `--sweeps 50` for a quick check).

The real operator process (`tunesweep operator --namespace NS`, as the tests start it: logged in as its
service account, bound to exactly the chart's RBAC rules) against the tests' real control plane (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler, with the TuningSweep and KubeRay CRDs). No
kubelet and no KubeRay operator: the RayJobs stay as created. The sweeps are the tests' mock-backend
sweep (tests/operator/sweeps.py) with file:// evidence in a temporary folder; the progress timer runs
at the production default (10 s), not the tests' 1 s.

1. apply -> RayJob: the bench creates the sweeps one by one at a steady rate (`--rate` per second); a
   watch on the RayJobs (a thread) records when each sweep's RayJob (label tunesweep.dev/sweep-uid)
   is first seen. Latency runs from just before the create call. Beside it, the CPU time the operator
   and the kube-apiserver spent per sweep until every RayJob was made, and their CPU share in the next
   20 s, when nothing new happens (the steady cost of N sweeps, e.g. the reconcile timer's reads).
2. Operator RSS: VmRSS of the operator process and its children, once live (no sweeps), once every
   sweep has its RayJob, and again once the restarted operator has reconciled every sweep.
3. Restart: SIGKILL the operator, start a new one; the time from the kill until the new one's gauge
   tunesweep_sweeps_reconciled (distinct sweeps reconciled since it started) reaches N.

Everything shares the machine's cores: other work on it slows the control plane and the operator
alike, and once they fall behind the creation rate, latencies grow with every sweep (the load averages
printed say how busy the machine was; the CPU times depend less on it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families
from tunesweep_evidence.spec import GROUP, PLURAL, VERSION
from tunesweep_operator.kube import RAY_GROUP, RAY_VERSION, RAYJOBS
from tunesweep_operator.names import LABEL_SWEEP_UID

from tests.operator.cluster import OperatorProcess, bind_operator_rules, wait_until
from tests.operator.sweeps import sweep_manifest
from tests.support.controlplane import ControlPlane
from tests.support.k8s_fixtures import TUNESWEEP_CRD

NAMESPACE = "scale"
RECONCILED = "tunesweep_sweeps_reconciled"
RSS_GOAL_MIB, RERECONCILE_GOAL_S, P50_GOAL_S = 250.0, 60.0, 0.5
OPERATOR_ENV = {"TUNESWEEP_PROGRESS_INTERVAL_SECONDS": "10"}  # the production default
IDLE_S = 20.0  # the quiet spell measured once every RayJob is made: the steady cost of N sweeps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sweeps", type=int, default=1000, help="sweeps to create (default 1000)")
    parser.add_argument("--rate", type=float, default=10.0, help="sweeps created per second (default 10)")
    parser.add_argument("--timeout", type=float, default=600.0, help="limit of each wait, in seconds")
    args = parser.parse_args(argv)
    if args.sweeps < 2:
        parser.error("--sweeps: at least 2 (for the percentiles)")
    signal.signal(signal.SIGTERM, _interrupt)  # cleaned up as on Ctrl-C
    try:
        with tempfile.TemporaryDirectory(prefix="operator-scale-") as tmp, contextlib.ExitStack() as stack:
            work = Path(tmp)
            cp = ControlPlane(workdir=work / "control-plane")
            stack.callback(cp.stop)
            cp.start()
            operators: list[OperatorProcess] = []
            try:
                _run(args, cp, work, operators, stack)
            except Exception:
                for operator in operators:
                    sys.stderr.write(f"--- {operator.log} (tail) ---\n{operator.tail(40)}\n")
                raise
    except KeyboardInterrupt:
        sys.exit("interrupted: the control plane and the operator are stopped, the temporary folder removed")


def _run(
    args: argparse.Namespace,
    cp: ControlPlane,
    work: Path,
    operators: list[OperatorProcess],
    stack: contextlib.ExitStack,
) -> None:
    n, load = args.sweeps, os.getloadavg()[0]
    cp.install_crds([*cp.kuberay_crds(), TUNESWEEP_CRD])
    client.CoreV1Api(cp.api_client()).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
    )
    kubeconfig = bind_operator_rules(cp, NAMESPACE)
    custom = client.CustomObjectsApi(cp.api_client())
    wait_until(lambda: _listed(custom), 60, "the API server to serve TuningSweeps (a new CRD's storage)")

    def start_operator() -> OperatorProcess:
        operator = OperatorProcess(
            NAMESPACE, kubeconfig, work / f"operator-{len(operators)}.log", OPERATOR_ENV
        )
        operators.append(operator)
        stack.callback(operator.stop)
        operator.wait_ready()
        return operator

    rayjobs = RayJobWatch(cp.api_client(cp.admin_kubeconfig))
    rayjobs.start()
    stack.callback(rayjobs.stopping.set)
    first = start_operator()
    rss_idle = rss_mib(first.popen.pid)
    apiserver = next(p.pid for p in cp.processes if Path(cast(list[str], p.args)[0]).name == "kube-apiserver")

    evidence = f"file://{work}/evidence"
    applied: dict[str, float] = {}
    began, cpu_began = time.monotonic(), (cpu_s(first.popen.pid), cpu_s(apiserver))
    for i in range(n):
        time.sleep(max(0.0, began + i / args.rate - time.monotonic()))
        at = time.monotonic()
        body = sweep_manifest(f"sweep-{i:05d}", evidence)
        made: Any = custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        applied[made["metadata"]["uid"]] = at
    created_s = time.monotonic() - began
    wait_until(
        lambda: _running(first) and applied.keys() <= rayjobs.seen.keys(),
        args.timeout,
        lambda: f"a RayJob for each of {n} sweeps; {len(applied.keys() & rayjobs.seen.keys())} seen",
    )
    all_rayjobs_s = max(rayjobs.seen[uid] for uid in applied) - began
    in_order = [rayjobs.seen[uid] - at for uid, at in applied.items()]
    latencies, tenth = sorted(in_order), max(1, n // 10)
    rss_made = rss_mib(first.popen.pid)
    cpu_made = (cpu_s(first.popen.pid), cpu_s(apiserver))
    time.sleep(IDLE_S)
    cpu_quiet = (cpu_s(first.popen.pid), cpu_s(apiserver))

    killed = time.monotonic()
    first.kill()
    second = start_operator()
    live_s = time.monotonic() - killed
    again = wait_reconciled(second, n, killed, args.timeout)
    cpu_again = cpu_s(second.popen.pid)
    rss_again = rss_mib(second.popen.pid) if isinstance(again, float) else "not measured (no figure above)"

    p50, p99 = (statistics.quantiles(latencies, n=100, method="inclusive")[k] for k in (49, 98))
    early, late = statistics.median(in_order[:tenth]), statistics.median(in_order[-tenth:])
    print(f"operator scale bench: {n} mock sweeps in one namespace, {os.cpu_count()} CPU cores", end="")
    print(f" (load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)")
    print(f"command: python -m bench.{Path(__file__).stem} {shlex.join(sys.argv[1:])}".rstrip())
    print(f"control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler ({cp.assets.name})")
    print("   no kubelet, no KubeRay operator: the RayJobs stay as created")
    print(f"1. apply -> RayJob: sweeps created one by one at a steady {args.rate:g}/s (achieved", end="")
    print(f" {n / created_s:.1f}/s),\n   from just before the create call to the RayJob's first watch event")
    _row("p50", p50, "s", P50_GOAL_S)
    _row("p99", p99, "s")
    _row("max", latencies[-1], "s")
    _row(f"p50 of the first {tenth} sweeps", early, "s")
    _row(f"p50 of the last {tenth} sweeps", late, "s")
    _row(f"every RayJob made (last create at {created_s:.1f} s)", all_rayjobs_s, "s")
    for k, name in enumerate(("operator", "kube-apiserver")):
        _row(f"CPU time per sweep until then, {name}", (cpu_made[k] - cpu_began[k]) * 1000 / n, "ms")
    for k, name in enumerate(("operator", "kube-apiserver")):
        share = (cpu_quiet[k] - cpu_made[k]) / IDLE_S * 100
        _row(f"CPU in the next {IDLE_S:g} s (nothing new), {name}", share, "% of a core")
    print("2. operator RSS: VmRSS of the operator process and its children")
    _row("no sweeps (the operator just started)", rss_idle, "MiB")
    _row(f"{n} sweeps, every RayJob made", rss_made, "MiB", RSS_GOAL_MIB)
    _row("   per sweep", (rss_made - rss_idle) * 1024 / n, "KiB")
    _row(f"{n} sweeps, after the restart", rss_again, "MiB", RSS_GOAL_MIB)
    print(f"3. restart: SIGKILL, a new operator started at once; from the kill until {RECONCILED} = {n}")
    _row("new operator live", live_s, "s")
    _row("every sweep reconciled again", again, "s", RERECONCILE_GOAL_S)
    _row("   CPU time of the new operator until then", cpu_again, "s")
    print("logs")
    for i, operator in enumerate(operators):
        records = operator.log_records()
        bad = [r for r in records if r.get("severity") in ("warning", "error", "critical")]
        print(f"   operator {i} log: {len(records)} records, {len(bad)} warnings or errors", end="")
        print(f"; the first: {str(bad[0].get('message'))[:200]}" if bad else "")


class RayJobWatch(threading.Thread):
    """`seen`: sweep uid -> monotonic time its RayJob was first seen (listed or watched)."""

    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(name="rayjob-watch", daemon=True)
        self.custom = client.CustomObjectsApi(api)
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        version = ""
        args = (RAY_GROUP, RAY_VERSION, NAMESPACE, RAYJOBS)
        while not self.stopping.is_set():
            try:
                if not version:
                    listed: Any = self.custom.list_namespaced_custom_object(
                        *args, label_selector=LABEL_SWEEP_UID
                    )
                    for item in listed["items"]:
                        self._saw(item)
                    version = listed["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(
                    self.custom.list_namespaced_custom_object,
                    *args,
                    label_selector=LABEL_SWEEP_UID,
                    resource_version=version,
                    timeout_seconds=5,
                )
                for event in stream:
                    self._saw(event["object"])
                    version = event["object"]["metadata"]["resourceVersion"]
            except ApiException as error:
                version = "" if error.status == 410 else version
                self.stopping.wait(0.5)
            except Exception:
                self.stopping.wait(0.5)  # the API server restarting or going away at the end

    def _saw(self, rayjob: dict[str, Any]) -> None:
        self.seen.setdefault(rayjob["metadata"]["labels"][LABEL_SWEEP_UID], time.monotonic())


def wait_reconciled(operator: OperatorProcess, n: int, since: float, timeout: float) -> float | str:
    """Seconds from `since` until the operator's gauge RECONCILED reaches n, or why there is no figure."""
    deadline, absent_until = time.monotonic() + timeout, time.monotonic() + 30.0
    values: list[float] = []
    while time.monotonic() < deadline and _running(operator):
        with contextlib.suppress(OSError):
            values = [
                sample.value
                for family in text_string_to_metric_families(operator.metrics())
                for sample in family.samples
                if sample.name == RECONCILED
            ]
        if values and sum(values) >= n:
            return time.monotonic() - since
        if not values and time.monotonic() > absent_until:
            return f"{RECONCILED} is not on the operator's /metrics"
        time.sleep(0.25)
    return f"{RECONCILED} = {sum(values):g}, still below {n} after {timeout:g} s"


def rss_mib(pid: int) -> float:
    """VmRSS of `pid` and all its descendants."""
    total_kib = 0
    for process in _tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{process}/status", encoding="ascii") as status:
            total_kib += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return total_kib / 1024


def cpu_s(pid: int) -> float:
    """CPU time (user + system) of `pid` and all its descendants, in seconds."""
    ticks = 0
    for process in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in task.read_text().split()]
    return [pid, *(p for child in children for p in _tree(child))]


def _running(operator: OperatorProcess) -> bool:
    if operator.popen.poll() is not None:
        raise AssertionError(
            f"the operator exited with {operator.popen.returncode} (the tail of its log is above)"
        )
    return True


def _listed(custom: client.CustomObjectsApi) -> bool:
    try:
        custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    except ApiException:
        return False
    return True


def _row(label: str, value: float | str, unit: str, goal: float | None = None) -> None:
    """One figure (or why there is none), with its goal and PASS/MISS when it has one."""
    if isinstance(value, str):
        print(
            f"   {label:50} no figure: {value}" + ("" if goal is None else f" (goal <= {goal:g} {unit}: n/a)")
        )
        return
    verdict = "" if goal is None else f"   goal <= {goal:g} {unit}  {'PASS' if value <= goal else 'MISS'}"
    print(f"   {label:50} {value:8.2f} {unit}{verdict}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
