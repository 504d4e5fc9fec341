"""Evidence URIs: what the spec refuses, and where the operator may write (pure)."""

from __future__ import annotations

import pytest
from tunesweep_evidence import evidence_uri
from tunesweep_evidence.evidence_uri import allowed, is_under, normalise, prefix_problems, problems


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("file:///tmp/../../etc", evidence_uri.SEGMENTS_MESSAGE),
        ("file:///tmp/./x", evidence_uri.SEGMENTS_MESSAGE),
        ("s3://bucket/a/..", evidence_uri.SEGMENTS_MESSAGE),
        ("s3://bucket/a//b", evidence_uri.SEGMENTS_MESSAGE),
        ("file:////etc", evidence_uri.SEGMENTS_MESSAGE),
        ("s3://key:secret@bucket/x", evidence_uri.SECRETS_MESSAGE),
        ("gs://bucket/x?access_token=abc", evidence_uri.SECRETS_MESSAGE),
        ("s3://bucket/x#frag", evidence_uri.SECRETS_MESSAGE),
        ("s3://ab", evidence_uri.BUCKET_MESSAGE),
        ("s3://" + "b" * 64, evidence_uri.BUCKET_MESSAGE),
        ("s3://Bucket/x", evidence_uri.BUCKET_MESSAGE),
        ("s3://my_bucket/x", evidence_uri.BUCKET_MESSAGE),
        ("s3://a..b/x", evidence_uri.BUCKET_MESSAGE),
        ("s3://-bucket/x", evidence_uri.BUCKET_MESSAGE),
        ("gs://192.168.0.1/x", evidence_uri.BUCKET_MESSAGE),
        ("http://bucket/x", evidence_uri.FORM_MESSAGE),
        ("file:///tmp/my evidence", evidence_uri.FORM_MESSAGE),
    ],
)
def test_unusable_uris_have_one_problem(uri: str, message: str) -> None:
    assert problems(uri) == [message]


@pytest.mark.parametrize(
    "uri", ["s3://bucket", "s3://bucket/team-a/", "gs://my_bucket.example/a/b", "file:///evidence/x.y/..z"]
)
def test_usable_uris(uri: str) -> None:
    assert problems(uri) == []


def test_normalise_drops_the_trailing_slash_only() -> None:
    assert normalise("s3://bucket/team-a/") == "s3://bucket/team-a"
    assert normalise("file:///evidence/") == "file:///evidence"
    assert normalise("gs://bucket") == "gs://bucket"
    with pytest.raises(ValueError, match="segments"):
        normalise("file:///tmp/../etc")


def test_prefixes_match_whole_segments() -> None:
    assert is_under("s3://bucket/team-a/x", "s3://bucket/team-a/")
    assert is_under("s3://bucket/team-a", "s3://bucket/team-a")
    assert not is_under("s3://bucket/team-ab/x", "s3://bucket/team-a")
    assert not is_under("s3://bucket-2/team-a/x", "s3://bucket")
    assert not is_under("gs://bucket/team-a/x", "s3://bucket/team-a")
    assert not is_under("s3://bucket", "s3://bucket/team-a")
    assert is_under("file:///evidence/ns/x", "file:///evidence")


def test_allowed_substitutes_the_namespace() -> None:
    prefixes = ["s3://evidence/{namespace}/", "gs://shared/tenants/{namespace}"]
    assert allowed("s3://evidence/team-a/sweep/uid", "team-a", prefixes) is None
    assert allowed("gs://shared/tenants/team-a/x", "team-a", prefixes) is None
    refusal = allowed("s3://evidence/team-b/sweep/uid", "team-a", prefixes)
    assert refusal is not None and refusal.field == ("evidence", "uri")
    assert refusal.message == (
        "s3://evidence/team-b/sweep/uid is not under an evidence prefix the operator allows for namespace "
        "team-a: s3://evidence/team-a, gs://shared/tenants/team-a; set spec.evidence.uri below one of "
        "them, or leave it empty for the operator's default"
    )
    other_bucket = allowed("s3://attacker-bucket/team-a/x", "team-a", prefixes)
    assert other_bucket is not None
    assert allowed("s3://evidence/team-a/../team-b/x", "team-a", prefixes) is not None
    assert allowed("s3://evidence/team-ab/x", "team-a", ["s3://evidence/team-a"]) is not None


def test_prefix_settings_are_checked() -> None:
    assert prefix_problems(["s3://evidence/{namespace}/", "file:///evidence"]) == []
    (partial,) = prefix_problems(["s3://evidence/team-{namespace}/"])
    assert "{namespace} must be a whole path segment" in partial
    (dots,) = prefix_problems(["s3://evidence/../{namespace}"])
    assert evidence_uri.SEGMENTS_MESSAGE in dots
