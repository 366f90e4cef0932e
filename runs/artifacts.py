"""Run artifacts through Django's default storage (local files by default, S3 in production).

Keys are tenant-prefixed and carry a random component (`tenants/<tenant>/runs/<run>/<kind>/<random>-<name>`),
so a key is never guessable and never shared across tenants. Every artifact records its sha256 and size;
downloads stream in chunks (or use a short-lived pre-signed URL where the storage offers one) and can be
verified against the recorded digest. `artifact_download` is the one way a person downloads: the scoped
lookup (`runs.selectors.artifact_for_download`) plus the audit event.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .audit import audit_record
from .models import Artifact, Run

CHUNK = 64 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

CONTENT_TYPES = {
    "source_archive": "application/gzip",
    "plan_file": "application/octet-stream",
    "plan_json_redacted": "application/json",
    "plan_text": "text/plain; charset=utf-8",
    "gate_report": "application/json",
    "cost_report": "application/json",
    "apply_log": "text/plain; charset=utf-8",
}


class ArtifactIntegrityError(Exception):
    pass


def _storage():
    # Looked up per call so tests (and settings overrides) get the current default storage.
    return default_storage


def artifact_key(run: Run, kind: str, filename: str) -> str:
    name = _SAFE_NAME.sub("-", filename).strip("-.")[:80] or kind
    return f"tenants/{run.tenant_id}/runs/{run.pk}/{kind}/{secrets.token_hex(12)}-{name}"


def _digest(handle: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


def artifact_store(
    *,
    run: Run,
    kind: str,
    content: bytes | str | Path | IO[bytes],
    filename: str = "",
    content_type: str = "",
) -> Artifact:
    """Write `content` (bytes, text, a file path or a binary file object) and record it."""
    if kind not in CONTENT_TYPES:
        raise ValueError(f"Unknown artifact kind {kind!r}")
    if isinstance(content, str):
        content = content.encode()
    if isinstance(content, Path):
        filename = filename or content.name
        with content.open("rb") as handle:
            return _store_handle(run, kind, handle, filename, content_type)
    handle = io.BytesIO(content) if isinstance(content, bytes) else content
    return _store_handle(run, kind, handle, filename or kind, content_type)


def _store_handle(run: Run, kind: str, handle: IO[bytes], filename: str, content_type: str) -> Artifact:
    sha256, size = _digest(handle)
    key = _storage().save(artifact_key(run, kind, filename), File(handle, name=filename))
    return Artifact.objects.create(
        tenant_id=run.tenant_id,
        run=run,
        kind=kind,
        key=key,
        sha256=sha256,
        size=size,
        content_type=content_type or CONTENT_TYPES[kind],
        filename=Path(filename).name[:200],
    )


def latest(run: Run, kind: str) -> Artifact | None:
    return Artifact.objects.filter(run=run, kind=kind).order_by("-created_at", "-id").first()


def artifact_open(artifact: Artifact) -> IO[bytes]:
    return _storage().open(artifact.key, "rb")


def artifact_read(artifact: Artifact, *, verify: bool = True) -> bytes:
    with artifact_open(artifact) as handle:
        data = handle.read()
    if verify and hashlib.sha256(data).hexdigest() != artifact.sha256:
        raise ArtifactIntegrityError(f"{artifact.kind} of run #{artifact.run_id} does not match its sha256")
    return data


def artifact_sha256(artifact: Artifact) -> str:
    """The digest of what storage holds now (not what was recorded)."""
    with artifact_open(artifact) as handle:
        return _digest(handle)[0]


def artifact_stream(artifact: Artifact, *, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Chunks of the stored file; hand to FileResponse / StreamingHttpResponse. The file closes at the end."""
    handle = artifact_open(artifact)
    try:
        yield from iter(lambda: handle.read(chunk_size), b"")
    finally:
        handle.close()


def artifact_copy_to(artifact: Artifact, path: Path, *, verify: bool = True) -> Path:
    """Materialise an artifact on local disk (the apply worker rebuilds its work dir this way)."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with artifact_open(artifact) as src, path.open("wb") as dst:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            digest.update(chunk)
            dst.write(chunk)
    if verify and digest.hexdigest() != artifact.sha256:
        path.unlink(missing_ok=True)
        raise ArtifactIntegrityError(f"{artifact.kind} of run #{artifact.run_id} does not match its sha256")
    return path


def presigned_url(artifact: Artifact, *, expires_seconds: int = 300) -> str | None:
    """A short-lived direct URL when the storage can sign one (S3); None means: stream it instead."""
    storage = _storage()
    try:
        parameters = inspect.signature(storage.url).parameters
    except (TypeError, ValueError):
        return None
    if "expire" not in parameters:
        return None  # local files: MEDIA_URL is not served, downloads go through a checked view
    disposition = f'attachment; filename="{artifact.filename or artifact.kind}"'
    return storage.url(
        artifact.key,
        parameters={"ResponseContentDisposition": disposition, "ResponseContentType": artifact.content_type},
        expire=expires_seconds,
    )


def artifact_delete_for_run(run: Run, *, kinds: list[str] | None = None) -> int:
    """Remove a run's artifacts (a retried attempt discards the dead attempt's files)."""
    qs = Artifact.objects.filter(run=run)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    count = 0
    for artifact in qs:
        _storage().delete(artifact.key)
        artifact.delete()
        count += 1
    return count


@transaction.atomic
def artifact_download(*, user, artifact_id: int) -> Artifact:
    """The artifact `user` may download (else Artifact.DoesNotExist: 404), with the download audited.

    The event is written before any byte leaves, so a download is never unrecorded."""
    from .selectors import artifact_for_download

    artifact = artifact_for_download(user, artifact_id)
    audit_record(
        tenant=artifact.tenant,
        action="artifact.downloaded",
        actor=user,
        target=artifact,
        summary=f"{artifact.kind} of run #{artifact.run_id}",
        data={"kind": artifact.kind, "sha256": artifact.sha256, "run": artifact.run_id},
    )
    return artifact


def download_response(artifact: Artifact) -> HttpResponse:
    """The response that hands `artifact` to the client: a redirect to a short-lived pre-signed URL
    where the storage signs one (S3), else the file streamed with its size and sha256. The caller has
    already checked the permission and recorded the download (`artifact_download`)."""
    url = presigned_url(artifact)
    if url:
        return HttpResponseRedirect(url)
    response = StreamingHttpResponse(artifact_stream(artifact), content_type=artifact.content_type)
    response["Content-Disposition"] = content_disposition_header(True, artifact.filename or artifact.kind)
    response["Content-Length"] = str(artifact.size)
    response["X-Content-SHA256"] = artifact.sha256
    response["X-Content-Type-Options"] = "nosniff"
    return response
