"""Audit pages: the search over runs and audit events (HTMX partial refresh, plain GET without JS), an
event's detail, the streamed CSV export, the compliance report (page, CSV, PDF), saved searches and the
reports page. Reads go through `runs.selectors` and `runs.filtersets`, the same ones the API uses."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from agents.router import AGENTS
from portal.mixins import TenantMixin
from tenants.services import require

from . import compliance, reports, saved_searches, selectors
from .audit import audit_record, event_digest
from .exports import csv_response, events_csv, runs_csv
from .filtersets import AuditEventFilterSet, RunFilterSet
from .models import AuditEvent, SavedSearch
from .states import RunStatus

PAGE_SIZE = 50
CURSOR_PARAMS = ("older", "newer")


def scope_of(params: QueryDict) -> str:
    return "events" if params.get("scope") == "events" else "runs"


def audit_filterset(request, scope: str, *, action: str = "audit.view"):
    """The filterset of `scope` bound to the request's query, over the active tenant's scoped rows."""
    tenant = request.gantry.tenant
    if scope == "events":
        base = selectors.audit_events_for_user(request.user, tenant=tenant, action=action)
        return AuditEventFilterSet(request.GET, queryset=base, request=request)
    base = selectors.audit_runs_for_user(request.user, tenant=tenant, action=action)
    return RunFilterSet(request.GET, queryset=base, request=request)


def filter_querystring(params: QueryDict, *, drop: tuple[str, ...] = CURSOR_PARAMS) -> str:
    kept = params.copy()
    for key in drop:
        kept.pop(key, None)
    return kept.urlencode()


class AuditSearchView(TenantMixin, TemplateView):
    """One view for the page and its HTMX partial (the results), as DESIGN.md asks."""

    action = "audit.view"
    template_name = "runs/audit_search.html"
    partial_template = "runs/audit_results.html"

    def get_template_names(self):
        htmx = getattr(self.request, "htmx", None)
        return [self.partial_template if htmx and not htmx.boosted else self.template_name]

    def get_context_data(self, **kwargs):
        request = self.request
        scope = scope_of(request.GET)
        filterset = audit_filterset(request, scope)
        page, estimate, cursor_error = None, None, ""
        if filterset.is_valid():
            rows = filterset.qs
            try:
                page = selectors.keyset_page(
                    rows,
                    older_than=request.GET.get("older", ""),
                    newer_than=request.GET.get("newer", ""),
                    size=PAGE_SIZE,
                )
            except selectors.InvalidCursor as exc:
                cursor_error = str(exc)
                page = selectors.keyset_page(rows, size=PAGE_SIZE)
            estimate = selectors.estimate_rows(rows)
        query = filter_querystring(request.GET)
        return super().get_context_data(
            scope=scope,
            filterset=filterset,
            page=page,
            estimate=estimate,
            cursor_error=cursor_error,
            query=query,
            scope_query={
                s: filter_querystring(request.GET, drop=(*CURSOR_PARAMS, "scope")) + f"&scope={s}"
                for s in ("runs", "events")
            },
            agents=[agent.name for agent in AGENTS],
            statuses=RunStatus.choices,
            saved=saved_searches.saved_searches_for(request.user, self.tenant),
            is_filtered=bool(filterset.is_valid() and filterset.active_filters),
            **kwargs,
        )


class AuditEventDetailView(TenantMixin, TemplateView):
    action = "audit.view"
    template_name = "runs/audit_event_detail.html"

    def get_context_data(self, **kwargs):
        try:
            event = selectors.audit_event_for_user(self.request.user, kwargs["pk"], tenant=self.tenant)
        except AuditEvent.DoesNotExist:
            raise Http404("No such audit event.") from None
        neighbours = AuditEvent.objects.filter(chain=event.chain, seq__in=[event.seq - 1, event.seq + 1])
        by_seq = {e.seq: e.pk for e in neighbours.only("pk", "seq")}
        return super().get_context_data(
            event=event,
            digest_ok=event_digest(event) == event.hash,
            data_json=json.dumps(event.data, indent=2, sort_keys=True, ensure_ascii=False),
            previous_id=by_seq.get(event.seq - 1),
            next_id=by_seq.get(event.seq + 1),
            run_id=int(event.object_id)
            if event.object_type == "runs.run" and event.object_id.isdigit()
            else None,
            **kwargs,
        )


class AuditExportView(TenantMixin, View):
    """`/audit/export.csv?<the page's filters>`: exactly the filtered rows, streamed. Audited before the
    first byte leaves."""

    action = "audit.export"

    def get(self, request):
        scope = scope_of(request.GET)
        filterset = audit_filterset(request, scope, action=self.action)
        if not filterset.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.form.errors.items())
            return HttpResponse(
                f"Cannot export: {errors}", status=400, content_type="text/plain; charset=utf-8"
            )
        audit_record(
            tenant=self.tenant,
            action="audit.exported",
            actor=request.user,
            summary=f"CSV export of {'audit events' if scope == 'events' else 'runs'}",
            data={"scope": scope, "filters": filter_querystring(request.GET), "format": "csv"},
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        name = f"gantry-{self.tenant.slug}-{scope}-{stamp}.csv"
        if scope == "events":
            return csv_response(request, events_csv(filterset.qs), name)
        return csv_response(request, runs_csv(filterset.qs, absolute=request.build_absolute_uri), name)


class ComplianceReportView(TenantMixin, TemplateView):
    """`?period=2026-11` (or 2026-Q4, 2026); `&format=csv` or `&format=pdf` downloads it (audited)."""

    action = "audit.view"
    template_name = "runs/audit_compliance.html"
    formats = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}

    def get(self, request, *args, **kwargs):
        try:
            period = compliance.Period.parse(request.GET.get("period"))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("compliance_report")
        fmt = request.GET.get("format", "")
        if fmt and fmt not in self.formats:
            return HttpResponse("Unknown format; use csv or pdf.", status=400, content_type="text/plain")
        if fmt:
            require(self.membership, "audit.export")
        report = compliance.compliance_report(request.user, self.tenant, period)
        if not fmt:
            return self.render_to_response(
                self.get_context_data(
                    report=report,
                    chain_text=compliance.chain_summary(report.chain),
                    periods=compliance.recent_months(),
                )
            )
        audit_record(
            tenant=self.tenant,
            action="audit.compliance_downloaded",
            actor=request.user,
            summary=f"Compliance report {period.label} ({fmt.upper()})",
            data={"period": period.label, "format": fmt, "chain_ok": report.chain.ok},
        )
        body = compliance.compliance_csv(report) if fmt == "csv" else compliance.compliance_pdf(report)
        response = HttpResponse(body, content_type=self.formats[fmt])
        response["Content-Disposition"] = (
            f'attachment; filename="gantry-{self.tenant.slug}-compliance-{period.label}.{fmt}"'
        )
        response["Cache-Control"] = "no-store"
        return response


class SavedSearchCreateView(TenantMixin, View):
    action = "audit.view"

    def post(self, request):
        scope = scope_of(request.POST)
        params = QueryDict(request.POST.get("query", ""))
        try:
            search = saved_searches.saved_search_save(
                user=request.user,
                tenant=self.tenant,
                name=request.POST.get("name", ""),
                scope=scope,
                params=params,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(f"{reverse('audit_search')}?{params.urlencode()}")
        messages.success(request, f"Saved the search “{search.name}”.")
        return redirect(saved_search_url(search))


class SavedSearchDeleteView(TenantMixin, View):
    action = "audit.view"

    def post(self, request, pk: int):
        try:
            saved_searches.saved_search_delete(user=request.user, tenant=self.tenant, search_id=pk)
        except SavedSearch.DoesNotExist:
            raise Http404("No such saved search.") from None
        messages.success(request, "Deleted the saved search.")
        return redirect("audit_search")


def saved_search_url(search: SavedSearch) -> str:
    query = QueryDict(search.query, mutable=True)
    query["scope"] = search.scope
    return f"{reverse('audit_search')}?{query.urlencode()}"


class ReportsView(TenantMixin, TemplateView):
    action = "view"
    template_name = "reports/reports.html"

    def get_context_data(self, **kwargs):
        try:
            days = int(self.request.GET.get("days", 30))
        except ValueError:
            days = 30
        days = days if days in reports.WINDOWS else 30
        costs = reports.cost_by_config(self.request.user, self.tenant, days=days)
        durations = reports.run_durations(self.request.user, self.tenant, days=days)
        return super().get_context_data(
            days=days,
            windows=reports.WINDOWS,
            costs=[(s, reports.cost_chart(s)) for s in costs],
            has_cost=any(series.has_cost for series in costs),
            durations=durations,
            duration_chart=reports.duration_chart(durations) if durations.weeks else None,
            stage_chart=reports.stage_bars(durations) if durations.stages else None,
            **kwargs,
        )
