"""Prometheus metrics of the operator, served on --metrics-port (GET /metrics), beside the readiness
probe (GET /readyz: 200, or 503 with the reason, e.g. KubeRay's CRDs missing).

- tunesweep_sweeps{phase}: sweeps the operator sees, by phase (gauge);
- tunesweep_reconcile_errors_total{handler, kind}: handler failures; kind is temporary (retried),
  permanent (not retried) or unexpected (a bug or an API failure; kopf retries it);
- tunesweep_sweeps_reconciled: distinct sweeps reconciled (started, resumed or re-read by the
  reconcile timer) since this operator process started (gauge; after a restart it climbs back to
  the number of live sweeps);
- tunesweep_promotion_seconds: how long promoting a sweep took, from re-reading its evidence to
  the ConfigMap written (histogram).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler
from tunesweep_evidence.spec import Phase


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sweeps = Gauge("tunesweep_sweeps", "TuningSweeps by phase", ["phase"], registry=self.registry)
        self.reconcile_errors = Counter(
            "tunesweep_reconcile_errors",
            "Handler failures by handler and kind (temporary, permanent, unexpected)",
            ["handler", "kind"],
            registry=self.registry,
        )
        self.promotion_seconds = Histogram(
            "tunesweep_promotion_seconds",
            "Time to promote a sweep: evidence re-read, scores recomputed, files and ConfigMap written",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.sweeps_reconciled = Gauge(
            "tunesweep_sweeps_reconciled",
            "Distinct sweeps reconciled since the operator started",
            registry=self.registry,
        )
        self._phases: dict[str, str] = {}
        self._reconciled: set[str] = set()
        self._lock = threading.Lock()
        for phase in Phase:
            self.sweeps.labels(phase.value).set(0)

    def observe_sweep(self, uid: str, phase: str) -> None:
        with self._lock:
            self._phases[uid] = phase or Phase.pending.value
            self._publish()

    def forget_sweep(self, uid: str) -> None:
        with self._lock:
            self._phases.pop(uid, None)
            self._reconciled.discard(uid)
            self._publish()

    def reconciled(self, uid: str) -> None:
        with self._lock:
            self._reconciled.add(uid)
            self.sweeps_reconciled.set(len(self._reconciled))

    def _publish(self) -> None:
        counts = {phase.value: 0 for phase in Phase}
        for phase in self._phases.values():
            counts[phase] = counts.get(phase, 0) + 1
        for phase, count in counts.items():
            self.sweeps.labels(phase).set(count)

    def serve(self, port: int, not_ready: Callable[[], str | None]) -> None:
        """Serve /metrics and /readyz (`not_ready()`: why the operator cannot serve sweeps, or None)."""
        registry = self.registry

        class Handler(MetricsHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/readyz":
                    super().do_GET()
                    return
                reason = not_ready()
                self.send_response(200 if reason is None else 503)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(("ok" if reason is None else reason).encode() + b"\n")

        Handler.registry = registry
        server = ThreadingHTTPServer(("", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
