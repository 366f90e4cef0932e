"""Factories for runs, and a helper that builds a run already planned and awaiting approval."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import factory
from django.db import transaction
from django.utils import timezone

from runs import artifacts
from runs.locks import workspace_key_for
from runs.models import GateResult, Run, RunEvent
from runs.services import approval_window, approvals_required_for, spec_digest
from runs.states import RunStatus
from runs.terraform_engine import TerraformEngine

SPEC = {"stack": "static_bucket", "parameters": {"bucket_name": "acme-logs"}, "region": "ap-south-1"}
PLAN_BYTES = b"fake terraform plan file"


def _source_archive() -> bytes:
    """A rendered-source archive as the Terraform engine stores it (one file), so the apply guard's
    digest of its content is real."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b'resource "aws_s3_bucket" "logs" { bucket = "acme-logs" }\n'
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


SOURCE_BYTES = _source_archive()
SOURCE_SHA256 = TerraformEngine().source_digest(SOURCE_BYTES)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    config = None
    tenant = factory.LazyAttribute(lambda o: o.config.tenant)
    request_text = "create an s3 bucket named acme-logs"
    workspace_key = factory.LazyAttribute(lambda o: workspace_key_for(o.config))
    status = RunStatus.QUEUED
    approvals_required = factory.LazyAttribute(lambda o: approvals_required_for(o.config.env))
    last_event_seq = 0


def gate(name, status="pass", findings=()):
    return {"name": name, "status": status, "summary": f"{name} {status}", "findings": list(findings)}


def warning(rule, address="aws_s3_bucket.this", message="heads up"):
    return {"rule": rule, "message": message, "severity": "low", "address": address, "blocking": False}


def planned_run(
    world, *, env="dev", requester=None, gates=None, status=RunStatus.AWAITING_APPROVAL, **fields
):
    """A run as the plan worker leaves it: spec, plan and source stored, gates recorded, awaiting approval."""
    config = world.prod if env == "prod" else world.dev
    requester = requester or world.user("operator")
    gates = gates if gates is not None else [gate("safety"), gate("opa"), gate("cost")]
    digest = hashlib.sha256(json.dumps(gates, sort_keys=True).encode()).hexdigest()
    with transaction.atomic():
        run = RunFactory(
            config=config,
            requested_by=requester,
            status=status,
            spec=SPEC,
            spec_sha256=spec_digest(SPEC),
            config_version=config.version,
            gate_digest=digest,
            has_changes=True,
            awaiting_approval_since=timezone.now(),
            approval_deadline=timezone.now() + approval_window(),
            **fields,
        )
        plan = artifacts.artifact_store(run=run, kind="plan_file", content=PLAN_BYTES, filename="plan.tfplan")
        source = artifacts.artifact_store(run=run, kind="source_archive", content=SOURCE_BYTES)
        Run.objects.filter(pk=run.pk).update(plan_sha256=plan.sha256, source_sha256=SOURCE_SHA256)
        for order, g in enumerate(gates):
            GateResult.objects.create(
                tenant=run.tenant,
                run=run,
                name=g["name"],
                status=g["status"],
                findings=g["findings"],
                order=order,
            )
        RunEvent.objects.create(tenant=run.tenant, run=run, seq=1, from_status="", to_status=status)
        Run.objects.filter(pk=run.pk).update(last_event_seq=1)
    assert source.sha256
    run.refresh_from_db()
    return run
