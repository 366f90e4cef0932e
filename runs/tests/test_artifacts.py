"""Artifacts through default storage: tenant-prefixed random keys, sha256 and size, streaming, verify."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage

from runs import artifacts
from runs.artifacts import artifact_download
from runs.models import Artifact, AuditEvent
from runs.selectors import artifact_for_download
from runs.tests.factories import RunFactory


def test_store_records_digest_and_key(own, tmp_path):
    run = RunFactory(config=own.dev)
    a = artifacts.artifact_store(run=run, kind="plan_text", content="+ bucket\n", filename="plan.txt")
    b = artifacts.artifact_store(run=run, kind="plan_text", content="+ bucket\n", filename="plan.txt")
    assert a.sha256 == hashlib.sha256(b"+ bucket\n").hexdigest() and a.size == 9
    assert a.key.startswith(f"tenants/{own.tenant.pk}/runs/{run.pk}/plan_text/") and a.key != b.key
    assert a.content_type.startswith("text/plain")
    path = tmp_path / "plan.tfplan"
    path.write_bytes(b"\x00binary" * 1000)
    c = artifacts.artifact_store(run=run, kind="plan_file", content=path)
    assert c.size == 7000 and c.filename == "plan.tfplan"
    assert b"".join(artifacts.artifact_stream(c, chunk_size=1000)) == path.read_bytes()
    assert artifacts.artifact_read(c) == path.read_bytes()
    copied = artifacts.artifact_copy_to(c, tmp_path / "copy" / "plan.tfplan")
    assert copied.read_bytes() == path.read_bytes()


def test_tampered_artifact_fails_verification(own, tmp_path):
    run = RunFactory(config=own.dev)
    a = artifacts.artifact_store(run=run, kind="gate_report", content=b"{}")
    with default_storage.open(a.key, "wb") as handle:
        handle.write(b"{tampered}")
    with pytest.raises(artifacts.ArtifactIntegrityError):
        artifacts.artifact_read(a)
    with pytest.raises(artifacts.ArtifactIntegrityError):
        artifacts.artifact_copy_to(a, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unknown_kind_and_unsafe_names(own):
    run = RunFactory(config=own.dev)
    with pytest.raises(ValueError):
        artifacts.artifact_store(run=run, kind="secrets", content=b"x")
    a = artifacts.artifact_store(run=run, kind="apply_log", content=b"x", filename="../../etc/passwd")
    assert ".." not in a.key and a.key.startswith(f"tenants/{own.tenant.pk}/")


def test_local_storage_has_no_presigned_url(own):
    run = RunFactory(config=own.dev)
    a = artifacts.artifact_store(run=run, kind="plan_text", content=b"x")
    assert artifacts.presigned_url(a) is None


def test_presigned_url_when_storage_signs(own, monkeypatch):
    run = RunFactory(config=own.dev)
    a = artifacts.artifact_store(run=run, kind="plan_text", content=b"x")

    class Signing:
        def url(self, name, parameters=None, expire=None):
            return f"https://bucket/{name}?expires={expire}&disp={parameters['ResponseContentDisposition']}"

    monkeypatch.setattr(artifacts, "_storage", lambda: Signing())
    url = artifacts.presigned_url(a, expires_seconds=60)
    assert url.startswith(f"https://bucket/{a.key}?expires=60")


def test_download_is_scoped_and_audited(own, other):
    run = RunFactory(config=own.dev)
    a = artifacts.artifact_store(run=run, kind="plan_text", content=b"x")
    assert artifact_for_download(own.user("viewer"), a.pk) == a  # the selector only reads
    assert not AuditEvent.objects.filter(action="artifact.downloaded").exists()
    assert artifact_download(user=own.user("viewer"), artifact_id=a.pk) == a
    assert AuditEvent.objects.filter(action="artifact.downloaded", object_id=str(a.pk)).count() == 1
    with pytest.raises(Artifact.DoesNotExist):
        artifact_download(user=other.user("admin"), artifact_id=a.pk)
    assert AuditEvent.objects.filter(action="artifact.downloaded").count() == 1
