"""The audit filtersets narrow the scoped querysets, and never reach across tenants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.test import RequestFactory
from django.utils import timezone

from runs.audit import audit_record
from runs.filtersets import AuditEventFilterSet, RunFilterSet
from runs.models import Run
from runs.selectors import audit_events_for_user, audit_runs_for_user
from runs.tests.factories import RunFactory
from tenants.context import ActiveContext

pytestmark = pytest.mark.django_db


def query(params: dict) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in params.items():
        data.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return data


def request_for(user, world):
    request = RequestFactory().get("/audit/")
    request.user = user
    request.gantry = ActiveContext(memberships=[world.members["viewer"]], membership=world.members["viewer"])
    return request


def run_ids(who, world, **params):
    request = request_for(who, world)
    fs = RunFilterSet(query(params), queryset=audit_runs_for_user(who, tenant=world.tenant), request=request)
    assert fs.is_valid(), fs.errors
    return [run.pk for run in fs.qs]


def event_ids(who, world, **params):
    request = request_for(who, world)
    fs = AuditEventFilterSet(
        query(params), queryset=audit_events_for_user(who, tenant=world.tenant), request=request
    )
    assert fs.is_valid(), fs.errors
    return [event.pk for event in fs.qs]


@pytest.fixture
def runs(own, other):
    ops = own.user("operator")
    dev = RunFactory(
        config=own.dev, requested_by=ops, status="applied", agent="infra", request_text="bucket logs"
    )
    prod = RunFactory(config=own.prod, requested_by=own.user("admin"), status="failed", agent="cost")
    theirs = RunFactory(
        config=other.dev, requested_by=other.user("operator"), status="applied", agent="infra"
    )
    return dev, prod, theirs


def test_runs_scoped_and_filtered(own, runs):
    dev, prod, theirs = runs
    viewer = own.user("viewer")
    assert set(run_ids(viewer, own)) == {dev.pk, prod.pk}
    assert run_ids(viewer, own, status="applied") == [dev.pk]
    assert run_ids(viewer, own, status=["applied", "failed"]) == [prod.pk, dev.pk]
    assert run_ids(viewer, own, config=own.prod.pk) == [prod.pk]
    assert set(run_ids(viewer, own, account=own.account.pk)) == {dev.pk, prod.pk}
    assert run_ids(viewer, own, agent="cost") == [prod.pk]
    assert run_ids(viewer, own, user=own.user("operator").pk) == [dev.pk]
    assert run_ids(viewer, own, q="BUCKET LOGS") == [dev.pk]
    assert run_ids(viewer, own, q=f"#{prod.pk}") == [prod.pk]
    assert run_ids(viewer, own, q=str(theirs.pk)) == []


def test_other_tenants_ids_are_invalid_choices(own, other, runs):
    viewer = own.user("viewer")
    for params in ({"config": other.dev.pk}, {"account": other.account.pk}, {"user": other.user("admin").pk}):
        fs = RunFilterSet(
            query(params), queryset=audit_runs_for_user(viewer), request=request_for(viewer, own)
        )
        assert not fs.is_valid()
        assert list(fs.form.errors) == list(params)


def test_date_range_is_inclusive_and_checked(own, runs):
    dev, prod, _ = runs
    old = timezone.now() - timedelta(days=10)
    Run.objects.filter(pk=dev.pk).update(created_at=old)
    viewer = own.user("viewer")
    today = timezone.localdate()
    assert run_ids(viewer, own, created_after=today.isoformat()) == [prod.pk]
    day = timezone.localtime(old).date().isoformat()
    assert run_ids(viewer, own, created_after=day, created_before=day) == [dev.pk]
    fs = RunFilterSet(
        query({"created_after": today.isoformat(), "created_before": day}),
        queryset=audit_runs_for_user(viewer),
        request=request_for(viewer, own),
    )
    assert not fs.is_valid() and "created_before" in fs.form.errors


def test_run_action_filter_uses_audit_events(own, runs):
    _dev, prod, _ = runs
    audit_record(tenant=own.tenant, action="run.approval.approve", actor=own.user("approver"), target=prod)
    viewer = own.user("viewer")
    assert run_ids(viewer, own, action="run.approval.approve") == [prod.pk]
    assert run_ids(viewer, own, action="run.approval.*") == [prod.pk]
    fs = RunFilterSet(
        query({"action": "run; drop"}), queryset=audit_runs_for_user(viewer), request=request_for(viewer, own)
    )
    assert not fs.is_valid()


def test_events_filtered(own, other, runs):
    dev, prod, theirs = runs
    admin = own.user("admin")
    a = audit_record(tenant=own.tenant, action="run.applied", actor=admin, target=dev, summary="applied it")
    b = audit_record(tenant=own.tenant, action="run.approval.approve", actor=admin, target=prod)
    c = audit_record(tenant=own.tenant, action="config.updated", actor=own.user("viewer"), target=own.prod)
    x = audit_record(tenant=other.tenant, action="run.applied", actor=other.user("admin"), target=theirs)
    viewer = own.user("viewer")
    everything = event_ids(viewer, own)
    assert x.pk not in everything and {a.pk, b.pk, c.pk} <= set(everything)
    assert event_ids(viewer, own, action="run.applied") == [a.pk]
    assert event_ids(viewer, own, action="run.*") == [b.pk, a.pk]
    assert event_ids(viewer, own, status="applied") == [a.pk]
    assert event_ids(viewer, own, config=own.prod.pk) == [c.pk, b.pk]
    assert event_ids(viewer, own, agent="infra") == [a.pk]
    assert event_ids(viewer, own, user=viewer.pk) == [c.pk]
    assert event_ids(viewer, own, q="APPLIED IT") == [a.pk]
    assert event_ids(viewer, own, q=f"#{dev.pk}") == [a.pk]


def test_events_about_a_runs_rows_belong_to_its_run_and_config(own, runs):
    """An approval's or artifact's event carries its run and config, so the config, account, agent and
    `#id` filters find it with the run's own events; the account's own events too, another config's not."""
    from runs.audit import event_scope
    from runs.models import Approval, Artifact

    dev, prod, _ = runs
    admin = own.user("admin")
    approval = Approval.objects.create(
        tenant=own.tenant, run=prod, approver=own.user("approver"), decision="approve",
        plan_sha256="a" * 64, config_version=1,
    )  # fmt: skip
    artifact = Artifact.objects.create(
        tenant=own.tenant, run=prod, kind="plan_file", key="k/1", sha256="0", size=1
    )
    assert event_scope(approval) == event_scope(artifact) == event_scope(prod) == (prod.pk, own.prod.pk)
    assert event_scope(own.prod) == (None, own.prod.pk) and event_scope(admin) == event_scope(None) == (
        None,
        None,
    )
    approved = audit_record(tenant=own.tenant, action="run.approval.approve", actor=admin, target=approval)
    downloaded = audit_record(tenant=own.tenant, action="artifact.downloaded", actor=admin, target=artifact)
    about_dev = audit_record(tenant=own.tenant, action="run.applied", actor=admin, target=dev)
    about_account = audit_record(tenant=own.tenant, action="account.updated", actor=admin, target=own.account)
    viewer = own.user("viewer")
    assert event_ids(viewer, own, config=own.prod.pk) == [downloaded.pk, approved.pk]
    assert event_ids(viewer, own, agent="cost") == [downloaded.pk, approved.pk]
    assert event_ids(viewer, own, q=f"#{prod.pk}") == [downloaded.pk, approved.pk]
    assert event_ids(viewer, own, account=own.account.pk) == [
        about_account.pk, about_dev.pk, downloaded.pk, approved.pk,
    ]  # fmt: skip
    # and the runs filter by action sees the events about the run's rows
    assert run_ids(viewer, own, action="artifact.downloaded") == [prod.pk]
