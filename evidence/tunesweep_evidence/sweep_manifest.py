"""Reading TuningSweep manifests as kubectl does, and saying what is wrong with them.

Pure but for `load_sweep`.

Every problem names its field path as the user wrote it (`spec.searchSpace["training.lr"]`) and what
is expected. A file may hold several YAML documents: TuningSweeps are checked, documents of other
kinds are skipped (a sweep file may carry its Secret), and a file without any TuningSweep is a
problem, so validating the wrong file does not pass.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from . import placement
from .spec import API_VERSION, KIND, PATTERN_MEANINGS, TuningSweep
from .spec_rules import RULE_ERROR, FieldPath, Violation


@dataclass(frozen=True)
class Problem:
    path: str
    """`spec.trials.parallel`; empty for the document (or file) as a whole."""
    message: str
    document: int | None = None
    """1-based position of the YAML document; None when the text holds one document."""

    def line(self, source: str) -> str:
        where = source if self.document is None else f"{source}:doc {self.document}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(ValueError):
    """A manifest that is not a valid TuningSweep; `problems` has one entry per problem."""

    def __init__(self, problems: list[Problem], source: str = KIND) -> None:
        self.problems = problems
        super().__init__("\n".join(p.line(source) for p in problems))


class _KubeLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: `1e-5` is a number (PyYAML alone reads a string) and a repeated
    key is an error (PyYAML alone keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_KubeLoader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_KubeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_documents(text: str) -> list[Any]:
    """Every YAML document of `text` (None for an empty one); raises yaml.YAMLError."""
    return list(yaml.load_all(text, Loader=_KubeLoader))  # a SafeLoader subclass


def parse_sweep(manifest: Any) -> TuningSweep:
    """The TuningSweep of one manifest (a parsed document, or a kopf body); raises SpecError.

    `status` and metadata beyond what tunesweep reads are ignored.
    """
    if not isinstance(manifest, dict):
        raise SpecError([Problem("", "not a Kubernetes object (a mapping with apiVersion and kind)")])
    if manifest.get("kind") != KIND or manifest.get("apiVersion") != API_VERSION:
        found = f"{manifest.get('apiVersion')}/{manifest.get('kind')}"
        raise SpecError([Problem("", f"expected apiVersion {API_VERSION}, kind {KIND}; found {found}")])
    try:
        return TuningSweep.model_validate({k: v for k, v in manifest.items() if k != "status"})
    except ValidationError as error:
        raise SpecError([Problem(path_text(v.field), v.message) for v in violations_of(error)]) from None


def validate_documents(text: str) -> list[Problem]:
    """What is wrong with the TuningSweeps in a YAML text; empty when every one is valid."""
    try:
        documents = load_documents(text)
    except yaml.YAMLError as error:
        return [Problem("", f"not valid YAML: {_one_line(error)}")]
    numbered = sum(doc is not None for doc in documents) > 1
    problems: list[Problem] = []
    sweeps = 0
    for index, document in enumerate(documents, start=1):
        if document is None or (isinstance(document, dict) and document.get("kind") != KIND):
            continue
        sweeps += 1
        try:
            parse_sweep(document)
        except SpecError as error:
            problems += [Problem(p.path, p.message, index if numbered else None) for p in error.problems]
    if not sweeps:
        problems.append(Problem("", f"no {KIND} document (apiVersion {API_VERSION}, kind {KIND})"))
    return problems


def document_warnings(text: str) -> list[Problem]:
    """What runs, but not as the valid TuningSweeps of a YAML text read (e.g. fewer trials at once
    than trials.parallel, or a smoke sweep of the builtin demo model); invalid documents are
    `validate_documents`' to report."""
    try:
        documents = load_documents(text)
    except yaml.YAMLError:
        return []
    numbered = sum(doc is not None for doc in documents) > 1
    found: list[Problem] = []
    for index, document in enumerate(documents, start=1):
        if not isinstance(document, dict) or document.get("kind") != KIND:
            continue
        try:
            sweep = parse_sweep(document)
        except SpecError:
            continue
        found += [
            Problem("spec.trials.parallel", warning, index if numbered else None)
            for warning in placement.warnings(sweep.spec)
        ]
        found += [
            Problem(path_text(("spec", *field)), warning, index if numbered else None)
            for field, warning in sweep.spec.warnings()
        ]
    return found


def load_sweep(path: str | Path) -> TuningSweep:
    """The one TuningSweep of a YAML file; raises SpecError (its lines name the file) or OSError."""
    source = str(path)
    text = Path(path).read_text(encoding="utf-8")
    problems = validate_documents(text)
    if problems:
        raise SpecError(problems, source)
    sweeps = [doc for doc in load_documents(text) if isinstance(doc, dict) and doc.get("kind") == KIND]
    if len(sweeps) > 1:
        raise SpecError([Problem("", f"holds {len(sweeps)} TuningSweeps; give a file with one")], source)
    return parse_sweep(sweeps[0])


def violations_of(error: ValidationError) -> list[Violation]:
    """Every problem of a pydantic error on a TuningSweep: rule errors split into their
    violations, unknown fields and patterns explained."""
    found: list[Violation] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == RULE_ERROR:
            found += [Violation((*loc, *v.field), v.message) for v in item["ctx"]["violations"]]
        elif item["type"] == "extra_forbidden":
            known = _fields_at(loc[:-1])
            found.append(Violation(loc, f"unknown field; known fields: {', '.join(known)}"))
        elif item["type"] == "string_pattern_mismatch" and item["ctx"]["pattern"] in PATTERN_MEANINGS:
            found.append(Violation(loc, f"must be {PATTERN_MEANINGS[item['ctx']['pattern']]}"))
        else:
            found.append(Violation(loc, item["msg"]))
    return found


def path_text(path: FieldPath) -> str:
    """`("spec", "searchSpace", "training.lr")` -> `spec.searchSpace["training.lr"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def _fields_at(loc: FieldPath) -> list[str]:
    """The wire names of the model at `loc` below TuningSweep (through maps and lists)."""
    node: Any = TuningSweep
    for part in loc:
        node = _without_none(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            by_alias = {field.alias or name: field for name, field in node.model_fields.items()}
            node = by_alias[str(part)].annotation
        else:
            node = get_args(node)[-1]  # dict[str, X] or list[X]: X
    node = _without_none(node)
    return [field.alias or name for name, field in node.model_fields.items()]


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        return next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def _one_line(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
