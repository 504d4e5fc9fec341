"""Evidence URIs: what a sweep may name as its evidence location, and where the operator may write. Pure.

A tenant writes `spec.evidence.uri`; the operator writes plan.json and the promoted config there with
its own credentials. So a URI must say plainly where it points, and the operator writes only below
the prefixes its settings allow for the sweep's namespace (`allowed`).

What a URI may not hold (`problems`, checked by the spec model; each check is a regular expression
that the CRD's CEL rules use too, so the API server refuses the same URIs):
- any form but `file:///<absolute folder>`, `s3://<bucket>[/prefix]`, `gs://<bucket>[/prefix]`,
  or whitespace;
- credentials, a query or a fragment: `user:pass@` in the authority, `?` or `#` anywhere;
- `.` or `..` segments (`file:///tmp/../../etc`) and empty segments (`s3://b/a//c`);
- a bucket name the store would refuse: 3-63 lowercase letters, digits, `-` and `.` (gs: also `_`),
  starting and ending with a letter or digit, no `..`, not an IP address.

Prefix matching (`is_under`) compares normalised URIs (`normalise`: one trailing slash dropped) by
whole path segments: `s3://bucket/team-a` covers `s3://bucket/team-a/x`, never `s3://bucket/team-ab`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .spec_rules import Violation

NAMESPACE = "{namespace}"
"""Replaced by the sweep's namespace in an allowed prefix."""

FORM = r"^(file:///\S+|(s3|gs)://[^/\s]+(/\S*)?)$"
FORM_MESSAGE = "uri must be file:///<absolute folder>, s3://<bucket>[/prefix] or gs://<bucket>[/prefix]"
USERINFO = r"^[a-z0-9]+://[^/]*@"
QUERY = r"[?#]"
SECRETS_MESSAGE = (
    "uri must not carry credentials, a query or a fragment (no user:password@, '?' or '#'): "
    "give credentials in credentialsSecret"
)
DOT_SEGMENT = r"/\.\.?(/|$)"
EMPTY_SEGMENT = r"^[a-z0-9]+://.*//"
SEGMENTS_MESSAGE = (
    "uri must not have '.' or '..' segments or empty ones ('//'): write the folder as a plain "
    "absolute path, e.g. s3://bucket/team-a/sweeps"
)
BUCKET_URI = r"^(s3|gs)://[^/@?#]+(/|$)"
"""An s3:// or gs:// URI whose authority holds nothing but the bucket (else `SECRETS_MESSAGE`)."""
BUCKET = r"^(s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]|gs://[a-z0-9][-a-z0-9._]{1,61}[a-z0-9])(/|$)"
BUCKET_IP = r"^(s3|gs)://[0-9]+(\.[0-9]+){3}(/|$)"
BUCKET_DOTS = r"^(s3|gs)://[^/]*\.\."
BUCKET_MESSAGE = (
    "the bucket name must be 3-63 lowercase letters, digits, '-' and '.' (gs: also '_'), start and end "
    "with a letter or digit, hold no '..' and not be an IP address"
)


def _found(pattern: str, uri: str) -> bool:
    # re.search, like CEL's matches(): true when any part of the text matches (RE2 syntax only).
    return re.search(pattern, uri) is not None


def cel_matches(pattern: str, target: str = "self.uri") -> str:
    """The CEL expression `<target>.matches('<pattern>')` (a CEL string literal of the pattern)."""
    literal = pattern.replace("\\", "\\\\").replace("'", "\\'")
    return f"{target}.matches('{literal}')"


def well_formed(uri: str) -> bool:
    return _found(FORM, uri)


def without_secrets(uri: str) -> bool:
    return not _found(USERINFO, uri) and not _found(QUERY, uri)


def plain_segments(uri: str) -> bool:
    return not _found(DOT_SEGMENT, uri) and not _found(EMPTY_SEGMENT, uri)


def valid_bucket(uri: str) -> bool:
    """True for file:// URIs and for buckets the stores accept; authorities with more than a bucket
    in them are `without_secrets`' to refuse."""
    if not _found(BUCKET_URI, uri):
        return True
    return _found(BUCKET, uri) and not _found(BUCKET_IP, uri) and not _found(BUCKET_DOTS, uri)


def cel_checks(target: str = "self.uri") -> tuple[str, str, str, str]:
    """The CEL twins of `CHECKS`, in order, on the string `target`."""
    return (
        cel_matches(FORM, target),
        f"!{cel_matches(USERINFO, target)} && !{cel_matches(QUERY, target)}",
        f"!{cel_matches(DOT_SEGMENT, target)} && !{cel_matches(EMPTY_SEGMENT, target)}",
        f"!{cel_matches(BUCKET_URI, target)} || ({cel_matches(BUCKET, target)}"
        f" && !{cel_matches(BUCKET_IP, target)} && !{cel_matches(BUCKET_DOTS, target)})",
    )


_, CEL_WITHOUT_SECRETS, CEL_PLAIN_SEGMENTS, CEL_VALID_BUCKET = cel_checks()

CHECKS = (
    (well_formed, FORM_MESSAGE),
    (without_secrets, SECRETS_MESSAGE),
    (plain_segments, SEGMENTS_MESSAGE),
    (valid_bucket, BUCKET_MESSAGE),
)


def problems(uri: str) -> list[str]:
    """What is wrong with an evidence URI (empty when it is usable); the spec model's checks, in order."""
    return [message for check, message in CHECKS if not check(uri)]


@dataclass(frozen=True)
class Location:
    """A usable URI split into what prefix matching compares."""

    scheme: str
    bucket: str
    """Empty for file://."""
    segments: tuple[str, ...]


def parse(uri: str) -> Location:
    """The location of a URI without `problems`; raises ValueError naming what is wrong."""
    found = problems(uri)
    if found:
        raise ValueError(f"{uri!r}: {'; '.join(found)}")
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        bucket, path = "", rest
    else:
        bucket, _, path = rest.partition("/")
    return Location(scheme, bucket, tuple(part for part in path.split("/") if part))


def normalise(uri: str) -> str:
    """The URI as prefixes are compared: `scheme://bucket/seg/seg`, no trailing slash."""
    location = parse(uri)
    path = "/".join(location.segments)
    if location.scheme == "file":
        return f"file:///{path}"
    return f"{location.scheme}://{location.bucket}" + (f"/{path}" if path else "")


def is_under(uri: str, prefix: str) -> bool:
    """Whether `uri` is `prefix` or below it, by whole segments (both must be usable URIs)."""
    target, base = parse(uri), parse(prefix)
    return (target.scheme, target.bucket) == (base.scheme, base.bucket) and target.segments[
        : len(base.segments)
    ] == base.segments


def expand(prefixes: Iterable[str], namespace: str) -> list[str]:
    """The prefixes for one namespace (`{namespace}` replaced), normalised."""
    return [normalise(prefix.replace(NAMESPACE, namespace)) for prefix in prefixes]


def allowed(uri: str, namespace: str, prefixes: Iterable[str]) -> Violation | None:
    """None when the operator may write at `uri` for a sweep in `namespace`; else why not, at
    evidence.uri. Prefixes hold `{namespace}` where the namespace goes."""
    expanded = expand(prefixes, namespace)
    found = problems(uri)
    if found:
        return Violation(("evidence", "uri"), f"{uri!r}: {'; '.join(found)}")
    if any(is_under(uri, prefix) for prefix in expanded):
        return None
    return Violation(
        ("evidence", "uri"),
        f"{normalise(uri)} is not under an evidence prefix the operator allows for namespace "
        f"{namespace}: {', '.join(expanded) or '(none)'}; set spec.evidence.uri below one of them, "
        "or leave it empty for the operator's default",
    )


def prefix_problems(prefixes: Iterable[str]) -> list[str]:
    """What is wrong with allowed prefixes (as a setting): each, with `{namespace}` filled in, must be
    a usable URI, and `{namespace}` may only stand for a whole path segment."""
    found: list[str] = []
    for prefix in prefixes:
        sample = prefix.replace(NAMESPACE, "namespace")
        issues = problems(sample)
        if NAMESPACE in prefix and not re.search(r"/\{namespace\}(/|$)", prefix):
            issues.append("{namespace} must be a whole path segment, e.g. s3://bucket/{namespace}/")
        if "{" in prefix.replace(NAMESPACE, ""):
            issues.append("the only placeholder is {namespace}")
        found += [f"{prefix!r}: {issue}" for issue in issues]
    return found
