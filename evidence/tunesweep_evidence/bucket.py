"""Evidence bucket I/O: plain paths, `file://`, `s3://` and `gs://`, through fsspec.

Writes are atomic: no reader ever sees a partial file, and a writer that dies mid-write leaves the
old file or none.
- Local: the bytes go to a temporary file in the target's folder, are fsynced, then `os.replace`d
  over the target (a rename within one file system is atomic).
- S3 / GCS: an object becomes visible only when its upload completes. Evidence files are far below
  the single-request thresholds (100 MiB for s3fs's one PUT, 50 MiB for gcsfs's simple upload);
  larger ones go multipart/resumable, which the stores also publish only on completion.

Credentials never come from the URI. For s3://, with TUNESWEEP_S3_CREDENTIALS_DIR set (a mounted
Secret), from files of that folder named after the AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, and if present AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_REGION); otherwise
from the environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_REGION, or
the ambient identity (IRSA, instance profile). An S3-compatible endpoint: TUNESWEEP_S3_ENDPOINT_URL,
else the folder's or the environment's AWS_ENDPOINT_URL. gs://: GOOGLE_APPLICATION_CREDENTIALS (a
key file) or the workload identity. `s3_options` gives every s3fs client the same settings.

`copy_to_file` streams an object of any size to a local file in chunks of `COPY_CHUNK_BYTES` (never
the whole object in memory), with the same atomic rename, and `copy_from_file` the other way;
`file_sizes` lists a folder's files with their sizes (the operator sizes a checkpoint cache from it).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import fsspec
from fsspec import AbstractFileSystem
from pydantic import BaseModel, ValidationError

from .schemas import schema_name_for, schema_problems

Document = TypeVar("Document", bound=BaseModel)

_TEMP_PREFIX = ".tunesweep-tmp-"
COPY_CHUNK_BYTES = 8 * 2**20
"""What `copy_to_file` holds in memory at once: one ranged read of an object store."""
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
S3_CREDENTIALS_DIR_ENV = "TUNESWEEP_S3_CREDENTIALS_DIR"
"""A folder of credential files named like the AWS variables (a mounted Secret), read by `s3_options`."""
_HINTS = {
    "file": "check that the path is right and writable",
    "s3": "check the bucket name, the endpoint (TUNESWEEP_S3_ENDPOINT_URL / AWS_ENDPOINT_URL) "
    "and the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    "gs": "check the bucket name and the credentials (GOOGLE_APPLICATION_CREDENTIALS)",
}


class BucketError(Exception):
    """The evidence location cannot be used: bad URI, unreachable store, denied access."""


class ObjectNotFound(BucketError, FileNotFoundError):
    """No file/object at the URI."""


class DocumentError(ValueError):
    """A document that does not match its schema (on write or on read)."""

    def __init__(self, uri: str, problems: Sequence[str]) -> None:
        self.uri = uri
        self.problems = list(problems)
        super().__init__(f"{uri}: " + "; ".join(self.problems))


# ---- text and bytes ----


def write_bytes(uri: str, data: bytes) -> None:
    protocol, path = _split(uri)
    with _translated(uri, protocol, "writing"):
        if protocol == "file":
            _replace_local(Path(path), lambda handle: handle.write(data))
        else:
            _filesystem(protocol).pipe_file(path, data)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_bytes(uri: str) -> bytes:
    protocol, path = _split(uri)
    with _translated(uri, protocol, "reading"):
        return bytes(_filesystem(protocol).cat_file(path))


def copy_to_file(uri: str, target: Path, chunk_bytes: int = COPY_CHUNK_BYTES) -> None:
    """Copy the object at `uri` to the local file `target`, `chunk_bytes` at a time. Atomic as a local
    `write_bytes`: a copy that fails midway leaves no `target` (and no temporary file)."""
    protocol, path = _split(uri)
    # No read-ahead cache: each read is one ranged GET of `chunk_bytes` (object stores).
    streaming = {} if protocol == "file" else {"block_size": chunk_bytes, "cache_type": "none"}
    with (
        _translated(uri, protocol, "copying", f"; and that {target.parent} has room and is writable"),
        _filesystem(protocol).open(path, "rb", **streaming) as source,
    ):
        _replace_local(target, lambda handle: _pump(source, handle, chunk_bytes))


def copy_from_file(source: Path, uri: str) -> None:
    """Copy the local file `source` to `uri`, streamed (never whole in memory); atomic as
    `write_bytes`."""
    protocol, path = _split(uri)
    if not source.is_file():
        raise BucketError(f"copying {source} to {uri}: {source} is missing (or not a file)")
    with _translated(uri, protocol, "writing", f"; and that {source} is readable"):
        if protocol == "file":
            with source.open("rb") as handle:
                _replace_local(Path(path), lambda target: _pump(handle, target, COPY_CHUNK_BYTES))
        else:
            _filesystem(protocol).put_file(str(source), path)


def remove_tree(uri: str) -> None:
    """Remove the folder at `uri` and everything below it; nothing to do when it does not exist."""
    protocol, path = _split(uri)
    with _translated(uri, protocol, "removing"):
        filesystem = _filesystem(protocol)
        if filesystem.exists(path):
            filesystem.rm(path, recursive=True)


def _pump(source: IO[bytes], target: IO[bytes], chunk_bytes: int) -> None:
    while chunk := source.read(chunk_bytes):
        target.write(chunk)


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def read_json(uri: str) -> Any:
    text = read_text(uri)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(uri, [f"not JSON: {exc}"]) from None


def exists(uri: str) -> bool:
    protocol, path = _split(uri)
    with _translated(uri, protocol, "checking"):
        return bool(_filesystem(protocol).exists(path))


def list_dir(uri: str) -> list[str]:
    """Sorted names of the folder's children; empty when it does not exist (object stores have no
    empty folders, so "missing" and "empty" are the same thing there)."""
    protocol, path = _split(uri)
    with _translated(uri, protocol, "listing"):
        try:
            entries = _filesystem(protocol).ls(path, detail=False)
        except FileNotFoundError:
            return []
    names = {str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries}
    # A writer killed mid-write may leave its temporary file behind; it is never evidence.
    return sorted(name for name in names if not name.startswith(_TEMP_PREFIX))


def walk(uri: str) -> list[str]:
    """Sorted relative paths of every file below the folder (at any depth); empty when it does not
    exist. Temporary files of unfinished writes are left out, as in `list_dir`."""
    protocol, path = _split(uri)
    with _translated(uri, protocol, "listing"):
        found = _filesystem(protocol).find(path)
    prefix = path.rstrip("/") + "/"
    names = (str(entry).removeprefix(prefix) for entry in found if str(entry).startswith(prefix))
    return sorted(rel for rel in names if not rel.rsplit("/", 1)[-1].startswith(_TEMP_PREFIX))


def file_sizes(uri: str) -> dict[str, int]:
    """The folder's files (direct children, not subfolders) and their sizes in bytes; empty when it
    does not exist. Temporary files of unfinished writes are left out, as in `list_dir`."""
    protocol, path = _split(uri)
    with _translated(uri, protocol, "listing"):
        try:
            entries = _filesystem(protocol).ls(path, detail=True)
        except FileNotFoundError:
            return {}
    files = (entry for entry in entries if entry["type"] == "file")
    sizes = {str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]: int(entry["size"]) for entry in files}
    return {name: size for name, size in sorted(sizes.items()) if not name.startswith(_TEMP_PREFIX)}


def local_path(uri: str) -> str | None:
    """The local file-system path of a plain path or `file://` URI; None for object stores."""
    protocol, path = _split(uri)
    return path if protocol == "file" else None


# ---- schema-validated documents ----


def write_document(uri: str, document: BaseModel) -> None:
    """Write an evidence document as JSON (sorted keys, trailing newline) after validating it
    against its committed schema file."""
    data = document.model_dump(mode="json")
    problems = schema_problems(data, schema_name_for(type(document)))
    if problems:
        raise DocumentError(uri, problems)
    write_text(uri, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_document(uri: str, model: type[Document]) -> Document:
    return parse_document(uri, read_json(uri), model)


def parse_document(uri: str, data: Any, model: type[Document]) -> Document:
    """Validate already-read JSON against the model's schema file, then build the model."""
    problems = schema_problems(data, schema_name_for(model))
    if problems:
        raise DocumentError(uri, problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # what a JSON Schema cannot say, e.g. NaN
        raise DocumentError(uri, [_pydantic_problem(e) for e in exc.errors()]) from None


def write_jsonl(uri: str, documents: Sequence[BaseModel]) -> None:
    """Write documents one JSON object a line (e.g. metrics.jsonl), each validated; the whole file is
    rewritten atomically, as object stores cannot append."""
    lines = []
    for number, document in enumerate(documents, start=1):
        data = document.model_dump(mode="json")
        problems = schema_problems(data, schema_name_for(type(document)))
        if problems:
            raise DocumentError(f"{uri}:{number}", problems)
        lines.append(json.dumps(data, sort_keys=True, allow_nan=False) + "\n")
    write_text(uri, "".join(lines))


def read_jsonl(uri: str, model: type[Document]) -> list[Document]:
    documents = []
    for number, line in enumerate(read_text(uri).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{uri}:{number}", [f"not JSON: {exc}"]) from None
        documents.append(parse_document(f"{uri}:{number}", data, model))
    return documents


def _pydantic_problem(error: Any) -> str:
    return f"{'.'.join(str(part) for part in error['loc']) or '(document)'}: {error['msg']}"


# ---- locations ----


def _split(uri: str) -> tuple[str, str]:
    """(protocol, fsspec path) of a URI, or a BucketError saying what to fix."""
    if "://" not in uri:
        return "file", os.path.abspath(uri)
    scheme, rest = uri.split("://", 1)
    if scheme == "file":
        return "file", os.path.abspath(rest)
    if scheme not in ("s3", "gs"):
        raise BucketError(f"{uri}: unsupported scheme {scheme!r}; use a path, file://, s3:// or gs://")
    bucket = rest.split("/", 1)[0]
    if not bucket:
        raise BucketError(f"{uri}: no bucket name; write {scheme}://BUCKET/PREFIX")
    if "@" in bucket or ":" in bucket:
        # The URI itself would leak them, so it is not repeated here.
        raise BucketError(
            f"the {scheme}:// URI carries credentials (user:secret@); remove them and set them in the "
            "environment instead (see `tunesweep_evidence.bucket`)"
        )
    return scheme, rest.rstrip("/")


def _filesystem(protocol: str) -> AbstractFileSystem:
    # Listings are never cached: the driver, the operator and other trials write concurrently,
    # so a cached listing would hide new trials. Instances themselves are cached by fsspec per
    # distinct options (a changed endpoint gives a new instance).
    if protocol == "s3":
        return fsspec.filesystem("s3", use_listings_cache=False, **s3_options())
    return fsspec.filesystem(protocol, use_listings_cache=False)


def s3_options() -> dict[str, Any]:
    """s3fs options: endpoint, region and, from TUNESWEEP_S3_CREDENTIALS_DIR, the credentials."""
    files = _s3_credential_files()
    options: dict[str, Any] = {}
    if files:
        options["key"] = files["AWS_ACCESS_KEY_ID"]
        options["secret"] = files["AWS_SECRET_ACCESS_KEY"]
        if files.get("AWS_SESSION_TOKEN"):
            options["token"] = files["AWS_SESSION_TOKEN"]
    endpoint = (
        os.environ.get("TUNESWEEP_S3_ENDPOINT_URL")
        or files.get("AWS_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        if not endpoint.startswith(("http://", "https://")):
            raise BucketError(f"S3 endpoint {endpoint!r} must be an http:// or https:// URL")
        options["endpoint_url"] = endpoint
    region = files.get("AWS_REGION") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options


def _s3_credential_files() -> dict[str, str]:
    """The AWS_* files of TUNESWEEP_S3_CREDENTIALS_DIR (values stripped); {} when it is unset."""
    folder = os.environ.get(S3_CREDENTIALS_DIR_ENV, "").strip()
    if not folder:
        return {}
    found: dict[str, str] = {}
    for name in (*_SECRET_ENV, "AWS_ENDPOINT_URL", "AWS_REGION"):
        try:
            found[name] = (Path(folder) / name).read_text().strip()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BucketError(
                f"cannot read {name} in {folder} (TUNESWEEP_S3_CREDENTIALS_DIR): {exc}"
            ) from None
    missing = [n for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not found.get(n)]
    if missing:
        raise BucketError(
            f"TUNESWEEP_S3_CREDENTIALS_DIR={folder} lacks {' and '.join(missing)}: the credentials Secret "
            "must hold those keys"
        )
    return found


@contextlib.contextmanager
def _translated(uri: str, protocol: str, action: str, also_check: str = "") -> Iterator[None]:
    """Store errors become BucketErrors naming the URI and what to check, with secrets masked."""
    hint = _HINTS[protocol] + also_check
    try:
        yield
    except BucketError:
        raise
    except FileNotFoundError:
        raise ObjectNotFound(f"{uri}: not found") from None
    except PermissionError as exc:
        raise BucketError(f"{action} {uri}: access denied ({_masked(exc)}); {hint}") from None
    except Exception as exc:
        raise BucketError(f"{action} {uri}: {type(exc).__name__}: {_masked(exc)}; {hint}") from None


def _masked(exc: BaseException) -> str:
    message = str(exc)
    try:
        files = _s3_credential_files()
    except BucketError:
        files = {}
    for name in _SECRET_ENV:
        for secret in (os.environ.get(name), files.get(name)):
            if secret:
                message = message.replace(secret, "***")
    return message


def _replace_local(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f"{_TEMP_PREFIX}{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; evidence is meant to be read by others
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable across a power loss, not only visible.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
