"""OperatorSettings from the environment, and the operator's import boundary."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import kopf
import pytest
from kubernetes.client import ApiClient
from tunesweep_evidence.pod_overlay import PodTemplateOverlay
from tunesweep_evidence.spec import Accelerator
from tunesweep_operator.admission import WebhookSettings
from tunesweep_operator.handlers import ROUTINE_HANDLERS, Deps, register_handlers
from tunesweep_operator.kopf_settings import quiet_routine_successes
from tunesweep_operator.kube import Kube
from tunesweep_operator.metrics import OperatorMetrics
from tunesweep_operator.settings import NODE_LOCAL_ENV, OperatorSettings, SettingsError
from tunesweep_operator.settings_table import SETTINGS, WEBHOOK_SETTINGS


def test_defaults() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert settings.progress_interval_seconds == 10.0 and settings.rayjob_backoff_limit == 2


def test_from_env() -> None:
    settings = OperatorSettings.from_env(
        {
            "TUNESWEEP_TRAINER_IMAGE_CPU": "t-cpu:1",
            "TUNESWEEP_TRAINER_IMAGE_TPU": "t-tpu:1",
            "TUNESWEEP_OPERATOR_IMAGE": "op:1",
            "TUNESWEEP_NAMESPACES": "a, b,",
            "TUNESWEEP_EVIDENCE_URI": "s3://bucket/prefix",
            "TUNESWEEP_FILE_EVIDENCE_VOLUME": '{"hostPath": {"path": "/srv/evidence"}}',
            "TUNESWEEP_FILE_EVIDENCE_PATH": "/srv/evidence/",
            "TUNESWEEP_PROGRESS_INTERVAL_SECONDS": "2.5",
            "TUNESWEEP_RAYJOB_BACKOFF_LIMIT": "0",
        }
    )
    assert settings.trainer_images == {Accelerator.none: "t-cpu:1", Accelerator.google_tpu: "t-tpu:1"}
    assert settings.namespaces == ("a", "b")
    assert settings.file_evidence_volume == {"hostPath": {"path": "/srv/evidence"}}
    assert settings.file_evidence_path == "/srv/evidence"
    assert settings.progress_interval_seconds == 2.5 and settings.rayjob_backoff_limit == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TUNESWEEP_FILE_EVIDENCE_VOLUME", "{nope", "is not JSON"),
        ("TUNESWEEP_FILE_EVIDENCE_VOLUME", '{"a": {}, "b": {}}', "one pod volume source"),
        ("TUNESWEEP_RAYJOB_BACKOFF_LIMIT", "two", "is not a int"),
        ("TUNESWEEP_PROGRESS_INTERVAL_SECONDS", "-1", "must not be negative"),
        ("TUNESWEEP_HEAD_POD_TEMPLATE", "{nope", "Invalid JSON"),
        (
            "TUNESWEEP_HEAD_POD_TEMPLATE",
            '{"spec": {"containers": [{"name": "ray-head", "command": ["sh"]}]}}',
            "spec.containers.0.command: Extra inputs are not permitted",
        ),
        (
            "TUNESWEEP_WORKER_POD_TEMPLATE",
            '{"spec": {"containers": [{"name": "ray-head"}]}}',
            "spec.containers.0.name: container ray-head is not in this Pod: "
            "name its Ray container, ray-worker",
        ),
        (
            "TUNESWEEP_WORKER_POD_TEMPLATE",
            '{"spec": {"containers": [{"name": "ray-worker", "env": [{"name": "RAY_ADDRESS"}]}]}}',
            "spec.containers.0.env.0.name: env RAY_ADDRESS is set by the operator",
        ),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        OperatorSettings.from_env({name: value})
    assert message in str(caught.value)


def test_pod_template_overlays() -> None:
    head = {"metadata": {"annotations": {"sidecar.istio.io/inject": "false"}}}
    worker = {"spec": {"containers": [{"name": "ray-worker", "env": [{"name": "HF_HOME", "value": "/tmp"}]}]}}
    settings = OperatorSettings.from_env(
        {"TUNESWEEP_HEAD_POD_TEMPLATE": json.dumps(head), "TUNESWEEP_WORKER_POD_TEMPLATE": json.dumps(worker)}
    )
    assert settings.head_pod_template == PodTemplateOverlay.model_validate(head)
    assert settings.worker_pod_template == PodTemplateOverlay.model_validate(worker)


def test_an_overlay_may_not_mount_over_the_file_evidence_volume() -> None:
    mount = {
        "spec": {
            "containers": [{"name": "ray-worker", "volumeMounts": [{"name": "data", "mountPath": "/srv/e"}]}]
        }
    }
    env = {"TUNESWEEP_WORKER_POD_TEMPLATE": json.dumps(mount), "TUNESWEEP_FILE_EVIDENCE_PATH": "/srv/e/"}
    # without the operator's volume, the path is the user's to provide (e.g. a hostPath of their own)
    assert OperatorSettings.from_env(env).worker_pod_template is not None
    with pytest.raises(SettingsError, match="TUNESWEEP_WORKER_POD_TEMPLATE") as caught:
        OperatorSettings.from_env(env | {"TUNESWEEP_FILE_EVIDENCE_VOLUME": '{"emptyDir": {}}'})
    assert "volumeMounts.0.mountPath: the operator mounts its own volume at /srv/e" in str(caught.value)


def test_the_operator_imports_no_jax_ray_or_trainer() -> None:
    code = (
        "import sys, tunesweep_operator.cli, tunesweep_operator.handlers; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'ray', 'flax', "
        "'tunesweep_trainer')); print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_evidence_allowed_prefixes() -> None:
    settings = OperatorSettings.from_env(
        {"TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES": "s3://evidence/{namespace}/, gs://shared/{namespace},"}
    )
    assert settings.evidence_allowed_prefixes == ("s3://evidence/{namespace}/", "gs://shared/{namespace}")
    assert settings.allowed_evidence_prefixes() == settings.evidence_allowed_prefixes
    derived = OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_URI": "s3://bucket/prefix/"})
    assert derived.evidence_allowed_prefixes == ()
    assert derived.allowed_evidence_prefixes() == ("s3://bucket/prefix/{namespace}/",)
    with pytest.raises(SettingsError, match="TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES holds prefixes"):
        OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES": "s3://evidence/../{namespace}"})
    with pytest.raises(SettingsError, match="whole path segment"):
        OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES": "s3://evidence/t-{namespace}"})
    with pytest.raises(SettingsError, match="TUNESWEEP_EVIDENCE_URI='s3://u:p@bucket' is not a usable"):
        OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_URI": "s3://u:p@bucket"})


def test_an_unreadable_signing_key_stops_the_operator_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"TUNESWEEP_EVIDENCE_SIGNING_KEY: cannot read the signing key"):
        OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_SIGNING_KEY": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_SIGNING_KEY": str(tmp_path / "empty")})
    (tmp_path / "key").write_text("s3cret\n")
    assert OperatorSettings.from_env({"TUNESWEEP_EVIDENCE_SIGNING_KEY": str(tmp_path / "key")})


class ReadEnv(dict[str, str]):
    """An environment that records the names OperatorSettings.from_env asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_the_settings_table_is_what_the_operator_reads() -> None:
    env = ReadEnv()
    OperatorSettings.from_env(env)
    assert env.asked == {setting.env for setting in SETTINGS}
    assert len(SETTINGS) == len(env.asked)  # each once
    webhook = ReadEnv()
    webhook["TUNESWEEP_WEBHOOK_PORT"] = "9443"  # unset, the webhook reads nothing more
    with pytest.raises(SettingsError):  # a port alone has no certificate
        WebhookSettings.from_env(webhook)
    assert webhook.asked == {setting.env for setting in WEBHOOK_SETTINGS}
    assert len(WEBHOOK_SETTINGS) == len(webhook.asked)


def test_operator_help_lists_every_setting_with_its_meaning_and_default() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "tunesweep"), "operator", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = proc.stdout.splitlines()
    defaults = OperatorSettings()
    for setting in (*SETTINGS, *WEBHOOK_SETTINGS):
        [at] = [i for i, line in enumerate(lines) if line.strip().startswith(f"{setting.env} ")]
        default = getattr(defaults, setting.field) if setting.field else "unset"
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert lines[at].endswith(f"default: {shown}"), lines[at]
        if setting.chart:
            assert f"[{setting.chart}]" in lines[at], lines[at]
        assert lines[at + 1].strip() == setting.meaning
    assert (
        "TUNESWEEP_PROGRESS_INTERVAL_SECONDS [operator.progressIntervalSeconds]  default: 10.0" in proc.stdout
    )
    assert "TUNESWEEP_TRAINER_IMAGE_CPU [trainer.images.cpu" in proc.stdout


def test_node_local_file_evidence_is_a_flag() -> None:
    assert OperatorSettings.from_env({NODE_LOCAL_ENV: "true"}).file_evidence_node_local is True
    assert OperatorSettings.from_env({}).file_evidence_node_local is False
    with pytest.raises(SettingsError, match=f"{NODE_LOCAL_ENV}='yes' must be true or false"):
        OperatorSettings.from_env({NODE_LOCAL_ENV: "yes"})


def test_routine_successes_are_debug_logs_and_failures_stay(caplog: pytest.LogCaptureFixture) -> None:
    registry = kopf.OperatorRegistry()
    deps = Deps(settings=OperatorSettings(), kube=Kube(ApiClient()), metrics=OperatorMetrics())
    register_handlers(registry, deps)
    # kopf's own names for the handlers, as it logs them ("Timer 'reconcile'", "Handler 'start'")
    kinds = (registry._watching, registry._spawning, registry._changing)
    handlers = {h.id: str(h) for kind in kinds for h in kind.get_all_handlers()}
    assert set(ROUTINE_HANDLERS) <= set(handlers), handlers
    logger = logging.getLogger("kopf.objects")
    before = list(logger.filters)
    try:
        quiet_routine_successes(ROUTINE_HANDLERS)
        with caplog.at_level(logging.INFO):
            for handler_id in ROUTINE_HANDLERS:
                logger.info(f"{handlers[handler_id]} succeeded.")
            logger.info(f"{handlers['start']} succeeded.")
            logger.error(f"{handlers['reconcile']} failed with an exception. Will retry.")
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            ("INFO", "Handler 'start' succeeded."),
            ("ERROR", "Timer 'reconcile' failed with an exception. Will retry."),
        ]
        caplog.clear()
        with caplog.at_level(logging.DEBUG):  # --verbose
            logger.info(f"{handlers['reconcile']} succeeded.")
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            ("DEBUG", "Timer 'reconcile' succeeded.")
        ]
    finally:
        logger.filters[:] = before
