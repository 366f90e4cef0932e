"""Reports: cost per config against its budget, durations per stage, SVG charts and empty states."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from runs import reports
from runs.models import Run
from runs.tests.factories import RunFactory

pytestmark = pytest.mark.django_db


def test_empty_states(client_as, own):
    body = client_as(own.user("viewer"), own.tenant).get(reverse("reports")).content.decode()
    assert 'data-testid="reports-no-cost"' in body and 'data-testid="reports-no-durations"' in body


def test_cost_accumulates_against_budget(client_as, own, other):
    own.account.monthly_budget = Decimal("100")
    own.account.budget_currency = "USD"
    own.account.save()
    today = timezone.localdate()
    early = RunFactory(config=own.dev, status="applied", cost_estimate={"totals": {"monthly_usd": 60}})
    RunFactory(config=own.dev, status="applied", cost_estimate={"totals": {"monthly_usd": 50}})
    RunFactory(config=own.dev, status="failed", cost_estimate={"totals": {"monthly_usd": 999}})
    RunFactory(config=other.dev, status="applied", cost_estimate={"totals": {"monthly_usd": 777}})
    Run.objects.filter(pk=early.pk).update(created_at=timezone.now() - timedelta(days=100))
    series = {s.config.name: s for s in reports.cost_by_config(own.user("viewer"), own.tenant, days=30)}
    dev = series["dev"]
    assert dev.points[0] == (today - timedelta(days=29), Decimal(60))  # applied before the window
    assert dev.latest == Decimal(110) and dev.over_budget
    assert series["prod"].latest == 0 and not series["prod"].has_cost
    body = client_as(own.user("viewer"), own.tenant).get(reverse("reports")).content.decode()
    assert "<svg" in body and "over budget" in body and "$110.00" in body and "777" not in body


def test_durations_p50_p95(own):
    for ms in (1000, 2000, 3000, 4000, 100_000):
        RunFactory(config=own.dev, stage_timings={"plan": ms, "pipeline_total": ms * 2, "apply": {"ms": 10}})
    report = reports.run_durations(own.user("viewer"), own.tenant, days=30)
    stages = {s.label: s for s in report.stages}
    assert stages["plan"].runs == 5 and stages["plan"].p50 == 3000 and stages["plan"].p95 > 4000
    assert stages["apply"].p50 == 10
    assert report.stages[-1].label == "pipeline_total" and len(report.weeks) >= 1
    svg = reports.stage_bars(report)
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg


def test_chart_escapes_labels(own):
    own.dev.name = "<script>x</script>"
    series = reports.CostSeries(
        config=own.dev, currency="INR", budget=Decimal(5), points=[(timezone.localdate(), Decimal(1))]
    )
    svg = reports.cost_chart(series)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "₹" in svg


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "admin"])
def test_reports_show_only_own_tenant(client_as, own, other, role):
    RunFactory(config=other.dev, stage_timings={"plan": 5000})
    body = client_as(own.user(role), own.tenant).get(reverse("reports") + "?days=90").content.decode()
    assert 'data-testid="reports-no-durations"' in body and other.dev.workspace not in body
