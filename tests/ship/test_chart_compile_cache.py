"""charts/tunesweep's compileCache values: what the operator Deployment tells the operator, and what the
schema refuses at install time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.ship.chart import helm_template, operator_container, render
from tests.ship.test_chart import settings_of

PVC = {"persistentVolumeClaim": {"claimName": "jax-cache"}}


def test_compile_cache_values_reach_the_operator_settings(helm: Path, tmp_path: Path) -> None:
    values = {"compileCache": {"location": "/var/cache/tunesweep-jax", "volume": PVC}}
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    container = operator_container(render(helm, "-f", str(tmp_path / "values.yaml")))
    settings = settings_of(container)
    assert settings.compile_cache_location == "/var/cache/tunesweep-jax"
    assert settings.compile_cache_volume == PVC
    # the operator only passes the volume on to the Ray pods: it never mounts it itself
    assert "compile-cache" not in {m["name"] for m in container["volumeMounts"]}

    gcs = settings_of(operator_container(render(helm, "--set", "compileCache.location=gs://team/jax")))
    assert (gcs.compile_cache_location, gcs.compile_cache_volume) == ("gs://team/jax", None)
    defaults = settings_of(operator_container(render(helm)))
    assert (defaults.compile_cache_location, defaults.compile_cache_volume) == ("", None)


@pytest.mark.parametrize(
    "setting",
    ["compileCache.location=s3://bucket/jax", "compileCache.location=relative/jax", "compileCache.size=1"],
)
def test_a_compile_cache_the_operator_cannot_use_is_refused_at_install(helm: Path, setting: str) -> None:
    proc = helm_template(helm, "--set", setting)
    assert proc.returncode != 0 and "at '/compileCache" in proc.stderr, proc.stderr
