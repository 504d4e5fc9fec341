"""`spec.warmStart`: which earlier sweeps seed this one, whether their results transfer, and the
points they give the searcher. Pure: the reading and verifying is the driver's (`sweep/warm_start`),
the looking up of a sweep name the operator's or local mode's.

A source's scores transfer only when they measure the same thing: the same backend, the same
evaluation protocol (eval set ids, expected answers and prompts; the judge, by name and version),
the same baseConfig apart from the searched paths (else another model or other data was scored),
and a search space this sweep searches too. Its points (each succeeded trial, with the primary score
recomputed from its eval rows) that lie outside this sweep's searchSpace are skipped, not refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .documents import (
    EvalSet,
    EvalSetRow,
    JudgeInfo,
    SeededPoint,
    SkippedPoint,
    WarmStartRecord,
    WarmStartSourceRef,
)
from .judge import JUDGE, MOCK_JUDGE
from .spec import SearchDimension, TuningSweepSpec, WarmStartSource
from .sweep_evidence import TrialEvidence, format_score, same_score
from .training_config import Backend
from .trial_checks import search_space_problems
from .trial_config import flat, resolved_config

UNRESOLVED = "WarmStartUnresolved"
UNVERIFIED = "WarmStartUnverified"
INCOMPATIBLE = "WarmStartIncompatible"


class WarmStartError(ValueError):
    """A source that cannot seed this sweep; str() is the sweep's failure reason, `<code>: <why>`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def source_field(index: int, source: WarmStartSource) -> str:
    """Where the source is in the spec: `spec.warmStart[0].sweep` or `spec.warmStart[0].evidenceURI`."""
    return f"spec.warmStart[{index}].{'sweep' if source.sweep is not None else 'evidenceURI'}"


def resolved(spec: TuningSweepSpec, locate: Callable[[str, str], str]) -> list[WarmStartSourceRef]:
    """Each source with its evidence folder; `locate(field, name)` finds a named sweep's (and raises
    WarmStartError naming `field` when it cannot)."""
    refs = []
    for index, source in enumerate(spec.warm_start or []):
        field = source_field(index, source)
        if source.sweep is not None:
            refs.append(
                WarmStartSourceRef(source=f"{field} {source.sweep}", evidence_uri=locate(field, source.sweep))
            )
        else:
            assert source.evidence_uri is not None, "the spec gives exactly one of sweep or evidenceURI"
            refs.append(WarmStartSourceRef(source=field, evidence_uri=source.evidence_uri))
    return refs


def unresolved_problem(spec: TuningSweepSpec, refs: list[WarmStartSourceRef]) -> str | None:
    """Why a plan's resolved sources do not match its spec's (a hand-edited plan.json), or None."""
    wanted = len(spec.warm_start or [])
    if len(refs) != wanted:
        return f"plan.json resolves {len(refs)} warm-start sources, its spec.warmStart names {wanted}"
    return None


def judge_for(backend: Backend) -> JudgeInfo:
    """The judge every trial of a `backend` sweep is judged by (the mock's rows are its own)."""
    return MOCK_JUDGE if backend == "mock" else JUDGE


def incompatibilities(
    source: TuningSweepSpec,
    source_eval_set: EvalSet | None,
    source_judges: Iterable[JudgeInfo],
    spec: TuningSweepSpec,
    eval_set: EvalSet,
) -> list[str]:
    """What differs between a source sweep and this one such that its scores would not transfer,
    each naming the field."""
    backend = spec.trainer.backend
    if source.trainer.backend != backend:
        return [f"trainer.backend {source.trainer.backend} != this sweep's {backend}"]
    problems = []
    if source_eval_set is None:
        problems.append("eval_set.json missing: the source's evaluation protocol is unknown")
    else:
        problems += _eval_set_differences(source_eval_set, eval_set)
    judge = judge_for(backend)
    for other in sorted({(j.name, j.version) for j in source_judges} - {(judge.name, judge.version)}):
        problems.append(
            f"judge {other[0]} version {other[1]} != this sweep's {judge.name} version {judge.version}"
        )
    searched = set(source.search_space) | set(spec.search_space)
    theirs = _unsearched(resolved_config(source.trainer.base_config, backend), searched)
    ours = _unsearched(resolved_config(spec.trainer.base_config, backend), searched)
    problems += [
        f"trainer.baseConfig.{path}: the source's {_shown(theirs, path)} != this sweep's {_shown(ours, path)}"
        for path in sorted(theirs.keys() | ours.keys())
        if theirs.get(path, _ABSENT) != ours.get(path, _ABSENT)
    ]
    problems += [
        f'searchSpace["{path}"]: searched by the source, not by this sweep (its scores depend on it)'
        for path in sorted(set(source.search_space) - set(spec.search_space))
    ]
    return problems


def _eval_set_differences(source: EvalSet, this: EvalSet) -> list[str]:
    problems = []
    for field, theirs, ours in (
        ("rows", source.rows, this.rows),
        ("test_rows", source.test_rows, this.test_rows),
    ):
        if _protocol(theirs) != _protocol(ours):
            problems.append(
                f"eval_set.json {field}: the source's eval examples (ids, expected answers, prompts) differ "
                f"from this sweep's (data.eval {source.source} against {this.source})"
            )
    return problems


def _protocol(rows: list[EvalSetRow]) -> list[tuple[str, str, str]]:
    return [(row.id, row.expected, row.prompt_sha256) for row in rows]


_ABSENT = object()


def _shown(config: Mapping[str, Any], path: str) -> str:
    return repr(config[path]) if path in config else "(absent)"


def _unsearched(config: Mapping[str, Any], searched: set[str]) -> dict[str, Any]:
    """`config` flat, without the searched paths and what lies below them."""
    return {
        path: value
        for path, value in flat(config).items()
        if not any(path == s or path.startswith(f"{s}.") for s in searched)
    }


def trial_point(trial: TrialEvidence, space: Mapping[str, SearchDimension]) -> SeededPoint | SkippedPoint:
    """A source trial's evidence (its score recomputed) as a point of this sweep's searchSpace."""
    return point(
        trial.trial_id, trial.status, trial.primary_score, trial.manifest.params, trial.manifest.config, space
    )


def point(
    trial_id: str,
    status: str,
    score: float | None,
    params: Mapping[str, Any],
    config: Mapping[str, Any],
    space: Mapping[str, SearchDimension],
) -> SeededPoint | SkippedPoint:
    """A source trial as a point of this sweep's searchSpace, or why it is not one. `score` is the one
    recomputed from its eval rows; a path the source did not search takes its `config`'s value."""
    if status != "succeeded" or score is None:
        return SkippedPoint(trial_id=trial_id, reason=f"not scored (status {status})")
    values = {path: params[path] if path in params else _value_at(config, path) for path in space}
    outside = search_space_problems(values, space)
    if outside:
        return SkippedPoint(trial_id=trial_id, reason=f"outside this sweep's searchSpace: {outside[0]}")
    return SeededPoint(trial_id=trial_id, params=values, primary_score=score)


def _value_at(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def seeded_problems(
    record: WarmStartRecord, trials: Mapping[str, TrialEvidence], space: Mapping[str, SearchDimension]
) -> list[str]:
    """How a summary's record of one source differs from what its evidence gives now (`trials`: the
    source's, scores recomputed): each seeded point must be its trial's point, with its score."""
    problems = []
    for index, seeded in enumerate(record.seeded):
        label = f"seeded[{index}] (trial {seeded.trial_id})"
        trial = trials.get(seeded.trial_id)
        if trial is None:
            problems.append(f"{label}: no such trial under {record.evidence_uri}/trials/")
            continue
        found = trial_point(trial, space)
        if not isinstance(found, SeededPoint):
            problems.append(f"{label}: the source trial is no point of this sweep: {found.reason}")
        elif not same_score(seeded.primary_score, found.primary_score):
            problems.append(
                f"{label}: primary_score {format_score(seeded.primary_score)} != the source's recomputed "
                f"{format_score(found.primary_score)}"
            )
        elif seeded.params != found.params:
            problems.append(f"{label}: params {seeded.params} != the source trial's {found.params}")
    return problems
