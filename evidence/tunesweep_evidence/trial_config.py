"""A trial's config: the base config with its params folded in and resolved (what the trial trains
with, what promotion writes), and how a recorded config differs from it. Pure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from .training_config import config_model


class ConfigFoldError(ValueError):
    """A dotted param path that cannot be folded into the config."""


def fold_params(base_config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the nested `base_config` with each flat dotted param set at its path.

    Missing intermediate sections are created; a path through a non-mapping value is an error.
    """
    config = copy.deepcopy(dict(base_config))
    for path, value in params.items():
        keys = path.split(".")
        if not all(keys):
            raise ConfigFoldError(f"param {path!r}: empty segment in the dotted path")
        node = config
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                prefix = ".".join(keys[: depth + 1])
                raise ConfigFoldError(f"param {path!r}: {prefix} is {child!r}, not a section")
            node = child
        node[keys[-1]] = copy.deepcopy(value)
    return config


def resolved_config(config: Mapping[str, Any], backend: str) -> dict[str, Any]:
    """The config as training will read it: validated by the backend's config model, every default
    filled in (a custom trainer's own keys kept as they are)."""
    return config_model(backend).model_validate(config).model_dump(mode="json")


def config_differences(actual: Mapping[str, Any], expected: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`path: what differs` for each leaf of two nested configs, compared path by path."""
    have, want = flat(actual), flat(expected)
    problems = []
    for path in sorted(want.keys() | have.keys()):
        if path not in have:
            problems.append(f"{prefix}{path} missing, expected {want[path]!r}")
        elif path not in want:
            problems.append(f"{prefix}{path} {have[path]!r} not expected")
        elif have[path] != want[path]:
            problems.append(f"{prefix}{path} {have[path]!r} != expected {want[path]!r}")
    return problems


def flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat(value, f"{path}."))
        else:
            out[path] = value
    return out


def manifest_config_problems(
    config: Mapping[str, Any],
    status: str,
    base_config: Mapping[str, Any],
    params: Mapping[str, Any],
    backend: str,
) -> list[str]:
    """A trial's recorded config against plan.json's base config with its params folded in."""
    try:
        folded = fold_params(base_config, params)
    except ConfigFoldError as error:
        return [f"params: cannot be folded into plan.json's base config: {error}"]
    try:
        expected = resolved_config(folded, backend)
    except ValidationError:
        # The trainer refuses an invalid config before training and records it as given.
        if status != "failed":
            return [f"status: {status}, but its params make an invalid config (only `failed` fits)"]
        expected = folded
    why = " (plan.json base config with params folded in)"
    return [problem + why for problem in config_differences(config, expected, "config.")]
