"""The API's cheap read paths: list rows built from `.values()` render exactly what the serializers (the
schema's source of truth) render, and list and detail cost a fixed number of queries, whatever the size."""

from __future__ import annotations

import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from portal.api.serializers import CachedFieldsMixin
from runs.api import rows
from runs.api.serializers import AuditEventSerializer, RunDetailSerializer, RunSerializer
from runs.audit import audit_record
from runs.models import AuditEvent, Run, RunStatus
from runs.tests.factories import RunFactory, gate, planned_run, warning
from tenants.roles import Role
from tenants.tokens import token_create

pytestmark = pytest.mark.django_db


def api(world, role) -> APIClient:
    _, raw = token_create(user=world.user(role), tenant=world.tenant, name="rows", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.get("/api/v1/runs/")  # the token's first use writes last_used_at; later calls don't
    return client


def varied_runs(world) -> list[Run]:
    """Runs covering every shape a row can take: nulls, links to other runs, finished, JSON columns."""
    first = planned_run(world, cost_estimate={"monthly_usd": "1.20"}, plan_summary={"add": 1})
    replan = planned_run(world, env="prod", replaces=first, parent=first, error="boom", error_category="x")
    finished = RunFactory(
        config=world.dev,
        requested_by=None,
        status=RunStatus.APPLIED,
        finished_at=timezone.now(),
        apply_requested_at=timezone.now(),
        agent="s3",
        parser="rules",
    )
    return [first, replan, finished]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_run_rows_render_exactly_what_the_serializer_renders(own, zone):
    varied_runs(own)
    runs = Run.objects.filter(tenant=own.tenant).order_by("-created_at", "-id")
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        expected = [dict(row) for row in RunSerializer(runs, many=True).data]
        actual = rows.run_rows(list(rows.run_values(runs)))
    assert actual == expected
    assert [list(row) for row in actual] == [list(row) for row in expected]  # same keys, same order


def test_audit_rows_render_exactly_what_the_serializer_renders(own):
    audit_record(
        tenant=own.tenant, action="run.created", actor=own.user(Role.ADMIN), summary="one", data={"a": [1]}
    )
    audit_record(tenant=own.tenant, action="token.created", actor=None, summary="two")
    events = AuditEvent.objects.filter(tenant=own.tenant).order_by("-created_at", "-id")
    expected = [dict(row) for row in AuditEventSerializer(events, many=True).data]
    assert len(expected) >= 2
    assert rows.audit_event_rows(list(rows.audit_event_values(events))) == expected


def test_list_endpoint_answers_with_the_serializer_shape(own):
    varied_runs(own)
    body = api(own, Role.VIEWER).get("/api/v1/runs/?page_size=2").json()
    assert len(body["results"]) == 2 and body["next"]
    newest = Run.objects.filter(tenant=own.tenant).order_by("-created_at", "-id")[:2]
    assert body["results"] == [dict(row) for row in RunSerializer(newest, many=True).data]
    rest = api(own, Role.VIEWER).get(body["next"]).json()
    assert [row["id"] for row in rest["results"]] == [
        run.pk for run in Run.objects.filter(tenant=own.tenant).order_by("-created_at", "-id")[2:]
    ]


def queries_for(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


def test_run_list_costs_two_queries_whatever_the_page_size_and_never_counts(own):
    client = api(own, Role.VIEWER)
    planned_run(own)
    few = queries_for(client, "/api/v1/runs/")
    for _ in range(12):
        planned_run(own)
    many = queries_for(client, "/api/v1/runs/?page_size=10")
    assert len(few) == len(many) == 2  # the token (with its member's role), then one page of runs
    assert not any("COUNT(" in sql.upper() for sql in many)
    page = many[-1]
    assert '"intent"' not in page and '"log_tail"' not in page and '"spec"' not in page  # no large columns


def test_audit_lists_and_approval_queue_cost_a_fixed_number_of_queries(own, django_assert_num_queries):
    admin, approver = api(own, Role.ADMIN), api(own, Role.APPROVER)
    counts = []
    for _ in range(2):
        planned_run(own)
        audit_record(tenant=own.tenant, action="run.created", actor=own.user(Role.OPERATOR), summary="x")
        counts.append(len(queries_for(approver, "/api/v1/approvals/")))
        with django_assert_num_queries(2):  # the token, then one page
            assert admin.get("/api/v1/audit?page_size=100").json()["results"]
        with django_assert_num_queries(2):
            assert admin.get("/api/v1/audit/runs").json()["results"]
    # Approving is narrowed to the configs one may use: django-guardian may first resolve its permission
    # (content types, cached after the first call); the page itself stays one query whatever its size.
    assert counts[0] >= counts[1] == 2
    assert len(approver.get("/api/v1/approvals/").json()["results"]) == 2


def test_run_detail_costs_a_fixed_number_of_queries(own, django_assert_num_queries):
    client = api(own, Role.VIEWER)
    lean = planned_run(own, gates=[gate("safety")])
    rich = planned_run(
        own,
        gates=[gate("safety"), gate("checkov", "warn", [warning("CKV_1"), warning("CKV_2")]), gate("opa")],
    )
    # token, run, gates (also the warnings), approvals, live approvals, artifacts
    for run in (lean, rich):
        with django_assert_num_queries(6):
            body = client.get(f"/api/v1/runs/{run.pk}/").json()
        assert len(body["gates"]) == len(run.gate_results.all())
    assert [w["rule"] for w in body["warnings"]] == ["CKV_1", "CKV_2"]
    assert body == dict(RunDetailSerializer(Run.objects.get(pk=rich.pk)).data)


def test_cached_fields_are_per_instance_and_bound_to_it():
    one, two = RunSerializer(context={"n": 1}), RunSerializer(context={"n": 2})
    assert list(one.fields) == RunSerializer.Meta.fields
    assert one.fields["config"] is not two.fields["config"]
    assert one.fields["config"].parent is one and two.fields["config"].parent is two
    assert one.fields["config"].context == {"n": 1} and two.fields["config"].context == {"n": 2}
    prototype = CachedFieldsMixin._fields_prototype[RunSerializer]
    assert all(getattr(field, "parent", None) is None for field in prototype.values())  # never bound
