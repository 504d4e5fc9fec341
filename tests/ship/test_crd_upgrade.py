"""The README's CRD upgrade command, run as written against a real API server serving an older CRD.

Helm never updates what `crds/` installed, so the README names one command that does. The older CRD
is the chart's own with a field and its printer column removed, as the release before them had it.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.operator.cluster import ASYNC_TIMEOUT, wait_until
from tests.ship.readme import readme_command, run_as_written
from tests.support.controlplane import REPO_ROOT, ControlPlane

CHART_CRD = REPO_ROOT / "charts" / "tunesweep" / "crds" / "tunesweep.dev_tuningsweeps.yaml"


def trials_fields_and_columns(crd: dict[str, Any]) -> tuple[set[str], set[str]]:
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    trials = schema["properties"]["status"]["properties"]["trials"]["properties"]
    return set(trials), {column["name"] for column in version.get("additionalPrinterColumns", [])}


def served(control_plane: ControlPlane, name: str) -> tuple[set[str], set[str]]:
    crd = client.ApiextensionsV1Api(control_plane.api_client()).read_custom_resource_definition(name)
    return trials_fields_and_columns(control_plane.api_client().sanitize_for_serialization(crd))


def older(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD without `status.trials.queued` and its `Queued` column."""
    old = copy.deepcopy(crd)
    version = old["spec"]["versions"][0]
    del version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["trials"]["properties"][
        "queued"
    ]
    version["additionalPrinterColumns"] = [
        column for column in version["additionalPrinterColumns"] if column["name"] != "Queued"
    ]
    return old


def test_the_readme_command_upgrades_an_older_crd(control_plane: ControlPlane, tmp_path: Path) -> None:
    current = yaml.safe_load(CHART_CRD.read_text())
    name = current["metadata"]["name"]
    fields, columns = trials_fields_and_columns(current)
    assert "queued" in fields and "Queued" in columns  # what the older CRD lacks
    old_file = tmp_path / "older-crd.yaml"
    old_file.write_text(yaml.safe_dump(older(current)))
    try:
        control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(old_file))
        wait_until(
            lambda: "Queued" not in served(control_plane, name)[1],
            ASYNC_TIMEOUT,
            "the older CRD to be served",
        )
        command = readme_command("helm show crds")
        assert re.fullmatch(r"helm show crds charts/tunesweep \| kubectl apply .*-f -", command), command
        run_as_written(command, control_plane, tmp_path)  # the pinned helm and kubectl, this API server
        wait_until(
            lambda: served(control_plane, name) == (fields, columns),
            ASYNC_TIMEOUT,
            "the chart's CRD to be served after the README's command",
        )
    finally:
        # The session's other tests use this CRD: leave the chart's in place whatever happened.
        control_plane.install_crds([CHART_CRD])
