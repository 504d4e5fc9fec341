"""The operator's Prometheus metrics (pure: a private registry)."""

from __future__ import annotations

from tunesweep_operator.metrics import OperatorMetrics


def sweeps(metrics: OperatorMetrics, phase: str) -> float | None:
    return metrics.registry.get_sample_value("tunesweep_sweeps", {"phase": phase})


def test_sweeps_by_phase_follow_each_sweep() -> None:
    metrics = OperatorMetrics()
    assert sweeps(metrics, "Running") == 0.0 and sweeps(metrics, "Succeeded") == 0.0
    metrics.observe_sweep("a", "Running")
    metrics.observe_sweep("b", "")  # no status yet
    metrics.observe_sweep("c", "Running")
    assert (sweeps(metrics, "Running"), sweeps(metrics, "Pending")) == (2.0, 1.0)
    metrics.observe_sweep("a", "Succeeded")
    metrics.forget_sweep("c")
    assert (sweeps(metrics, "Running"), sweeps(metrics, "Succeeded")) == (0.0, 1.0)


def test_errors_and_promotion_latency() -> None:
    metrics = OperatorMetrics()
    metrics.reconcile_errors.labels("start", "temporary").inc()
    metrics.promotion_seconds.observe(1.5)
    labels = {"handler": "start", "kind": "temporary"}
    assert metrics.registry.get_sample_value("tunesweep_reconcile_errors_total", labels) == 1.0
    assert metrics.registry.get_sample_value("tunesweep_promotion_seconds_count") == 1.0
    assert metrics.registry.get_sample_value("tunesweep_promotion_seconds_bucket", {"le": "2.5"}) == 1.0
