"""Audit pages: permission matrix (role × own/other tenant), search, pagination, export, compliance and
saved searches."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from runs.audit import audit_record
from runs.models import Approval, AuditEvent, Run, SavedSearch
from runs.tests.factories import RunFactory, planned_run, warning
from tenants.roles import Role

pytestmark = pytest.mark.django_db

ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def world(own, other):
    mine = RunFactory(config=own.dev, requested_by=own.user("operator"), status="applied", agent="infra")
    theirs = RunFactory(
        config=other.dev, requested_by=other.user("operator"), status="applied", agent="infra"
    )
    mine_event = audit_record(
        tenant=own.tenant, action="run.applied", actor=own.user("operator"), target=mine
    )
    their_event = audit_record(
        tenant=other.tenant, action="run.applied", actor=other.user("admin"), target=theirs
    )
    return {"mine": mine, "theirs": theirs, "mine_event": mine_event, "their_event": their_event}


PAGES = [
    ("audit_search", {}, ""),
    ("audit_search", {}, "?scope=events"),
    ("compliance_report", {}, ""),
    ("reports", {}, ""),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,kwargs,query", PAGES)
def test_every_role_reads_the_audit_pages_of_own_tenant(
    client_as, own, other, world, role, name, kwargs, query
):
    response = client_as(own.user(role), own.tenant).get(reverse(name, kwargs=kwargs) + query)
    assert response.status_code == 200
    body = response.content.decode()
    if name == "audit_search":
        assert other.tenant.slug not in body and f"#{world['theirs'].pk}<" not in body


def test_anonymous_is_sent_to_sign_in(client, world):
    for name in ("audit_search", "audit_export", "compliance_report", "reports"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("audit_event_detail", args=[world["mine_event"].pk])).status_code == 302


@pytest.mark.parametrize("role", ROLES)
def test_event_detail_own_tenant_ok_other_tenant_404(client_as, own, world, role):
    client = client_as(own.user(role), own.tenant)
    response = client.get(reverse("audit_event_detail", args=[world["mine_event"].pk]))
    assert response.status_code == 200 and b"Hash matches its content" in response.content
    assert client.get(reverse("audit_event_detail", args=[world["their_event"].pk])).status_code == 404


def test_platform_chain_events_are_not_visible(client_as, own, world):
    platform = audit_record(tenant=None, action="platform.note")
    client = client_as(own.user("admin"), own.tenant)
    assert client.get(reverse("audit_event_detail", args=[platform.pk])).status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_export_streams_only_own_tenant_rows_and_is_audited(client_as, own, world, role):
    user = own.user(role)
    before = AuditEvent.objects.filter(tenant=own.tenant, action="audit.exported").count()
    response = client_as(user, own.tenant).get(reverse("audit_export"))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert [row["request_id"] for row in rows] == [str(world["mine"].pk)]
    assert rows[0]["tenant"] == own.tenant.slug
    exported = AuditEvent.objects.filter(tenant=own.tenant, action="audit.exported")
    assert exported.count() == before + 1 and exported.first().actor == user


def test_events_export_is_exactly_the_filtered_rows(client_as, own, world):
    admin = own.user("admin")
    audit_record(tenant=own.tenant, action="config.updated", actor=admin, target=own.dev, summary="=cmd|calc")
    client = client_as(own.user("viewer"), own.tenant)
    rows = read_csv(client.get(reverse("audit_export") + "?scope=events&action=config.*"))
    assert [row["action"] for row in rows] == ["config.updated"]
    assert rows[0]["summary"] == "'=cmd|calc"  # neutralised
    everything = read_csv(client.get(reverse("audit_export") + "?scope=events"))
    ids = {int(row["event_id"]) for row in everything}
    assert world["their_event"].pk not in ids and world["mine_event"].pk in ids
    assert all(row["tenant"] == own.tenant.slug for row in everything)
    page = client.get(reverse("audit_search") + "?scope=events").content.decode()
    for event_id in ids:  # what the page shows is what the file holds (fewer than a page here)
        assert reverse("audit_event_detail", args=[event_id]) in page


def test_export_with_invalid_filter_is_400_and_not_audited(client_as, own, other, world):
    client = client_as(own.user("viewer"), own.tenant)
    before = AuditEvent.objects.filter(action="audit.exported").count()
    response = client.get(reverse("audit_export") + f"?config={other.dev.pk}")
    assert response.status_code == 400 and b"config" in response.content
    assert AuditEvent.objects.filter(action="audit.exported").count() == before


def test_search_filters_and_rejects_other_tenant_ids(client_as, own, other, world):
    client = client_as(own.user("viewer"), own.tenant)
    body = client.get(reverse("audit_search") + "?status=failed").content.decode()
    assert 'data-testid="audit-empty"' in body
    body = client.get(reverse("audit_search") + f"?config={other.dev.pk}").content.decode()
    assert 'data-testid="audit-invalid"' in body


def test_htmx_request_gets_only_the_results_partial(client_as, own, world):
    client = client_as(own.user("viewer"), own.tenant)
    response = client.get(reverse("audit_search"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and 'data-testid="audit-table"' in body


def test_keyset_pagination_walks_every_row_once(client_as, own, settings):
    start = timezone.now() - timedelta(days=1)
    runs = [RunFactory(config=own.dev, requested_by=own.user("operator")) for _ in range(7)]
    # Ties on created_at across a page boundary must not lose or repeat rows.
    for index, run in enumerate(runs):
        Run.objects.filter(pk=run.pk).update(created_at=start + timedelta(minutes=index // 3))
    import runs.audit_views as views

    views.PAGE_SIZE, original = 3, views.PAGE_SIZE
    try:
        client = client_as(own.user("viewer"), own.tenant)
        seen, url, pages = [], reverse("audit_search"), 0
        while url:
            response = client.get(url)
            page = response.context["page"]
            seen += [run.pk for run in page.rows]
            url = f"{reverse('audit_search')}?older={page.older}" if page.older else None
            pages += 1
            if page.older is None:
                last = page
        assert pages == 3
        expected = list(
            Run.objects.filter(tenant=own.tenant).order_by("-created_at", "-id").values_list("pk", flat=True)
        )
        assert seen == expected
        back = client.get(f"{reverse('audit_search')}?newer={last.newer}").context["page"]
        assert [run.pk for run in back.rows] == expected[3:6]
        bad = client.get(f"{reverse('audit_search')}?older=not-a-cursor")
        assert bad.status_code == 200 and [r.pk for r in bad.context["page"].rows] == expected[:3]
        assert "not valid" in bad.content.decode()
    finally:
        views.PAGE_SIZE = original


@pytest.mark.parametrize("role", ROLES)
def test_compliance_downloads(client_as, own, role):
    run = planned_run(
        own,
        gates=[{"name": "cost", "status": "fail", "summary": "over ₹1,500/day", "findings": [{"rule": "x"}]}],
    )
    Approval.objects.create(
        tenant=own.tenant,
        run=run,
        approver=own.user("approver"),
        decision="approve",
        plan_sha256="a" * 64,
        config_version=1,
        acknowledged_warnings=["opa:tags → missing"],
        change_ticket="CHG-1",
    )
    Run.objects.filter(pk=run.pk).update(
        status="applied", cost_estimate={"currency": "INR", "totals": {"monthly": 1234.5, "monthly_usd": 15}}
    )
    client = client_as(own.user(role), own.tenant)
    page = client.get(reverse("compliance_report"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "CHG-1" in body and "Verified" in body and "₹1,234.50" in body
    pdf = client.get(reverse("compliance_report") + "?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv_response = client.get(reverse("compliance_report") + "?format=csv")
    text = csv_response.content.decode("utf-8-sig")
    assert "Approvals" in text and own.user("approver").email in text and "CHG-1" in text
    downloads = AuditEvent.objects.filter(tenant=own.tenant, action="audit.compliance_downloaded")
    assert sorted(downloads.values_list("data__format", flat=True)) == ["csv", "pdf"]


def test_compliance_bad_period_and_format(client_as, own):
    client = client_as(own.user("viewer"), own.tenant)
    response = client.get(reverse("compliance_report") + "?period=2026-13")
    assert response.status_code == 302
    assert client.get(reverse("compliance_report") + "?format=xls").status_code == 400
    assert not AuditEvent.objects.filter(action="audit.compliance_downloaded").exists()


def test_compliance_only_counts_own_tenant(client_as, own, other, world):
    body = client_as(own.user("viewer"), own.tenant).get(reverse("compliance_report")).content.decode()
    assert 'Runs by status <span class="text-muted fw-normal">(1)' in body


@pytest.mark.parametrize("role", ROLES)
def test_saved_searches_per_user_and_tenant(client_as, own, other, role):
    user = own.user(role)
    client = client_as(user, own.tenant)
    response = client.post(
        reverse("saved_search_create"),
        {"name": "Prod failures", "scope": "runs", "query": f"status=failed&config={own.prod.pk}&older=xyz"},
    )
    assert response.status_code == 302
    search = SavedSearch.objects.get(user=user, tenant=own.tenant)
    assert search.query == f"config={own.prod.pk}&status=failed"  # cursor dropped, filters kept
    page = client.get(reverse("audit_search")).content.decode()
    assert "Prod failures" in page
    # someone else's saved search: 404 and still there
    theirs = SavedSearch.objects.create(tenant=other.tenant, user=other.user("admin"), name="x", query="")
    colleague = SavedSearch.objects.create(
        tenant=own.tenant, user=own.user("admin") if role != "admin" else own.user("viewer"), name="y"
    )
    for pk in (theirs.pk, colleague.pk):
        assert client.post(reverse("saved_search_delete", args=[pk])).status_code == 404
    assert SavedSearch.objects.filter(pk__in=[theirs.pk, colleague.pk]).count() == 2
    assert client.post(reverse("saved_search_delete", args=[search.pk])).status_code == 302
    assert not SavedSearch.objects.filter(pk=search.pk).exists()
    actions = list(AuditEvent.objects.filter(tenant=own.tenant, actor=user).values_list("action", flat=True))
    assert "audit.search_saved" in actions and "audit.search_deleted" in actions


def test_saved_search_needs_a_name(client_as, own):
    client = client_as(own.user("viewer"), own.tenant)
    client.post(reverse("saved_search_create"), {"name": " ", "scope": "runs", "query": "status=failed"})
    assert not SavedSearch.objects.exists()


def test_get_on_saved_search_endpoints_is_refused(client_as, own):
    client = client_as(own.user("viewer"), own.tenant)
    assert client.get(reverse("saved_search_create")).status_code == 405


def test_warning_helper_shape():
    assert warning("opa:x")["blocking"] is False
