"""Runs, the IaC request flow (generate, plan, apply), approvals, artifacts and the audit log.

Reads go through `runs.selectors` (and the audit filtersets shared with the audit page and its CSV);
writes go through `runs.services` / `runs.approvals`, exactly as the pages do.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from portal.api.pagination import BySequencePagination
from portal.api.views import TenantAPIView
from runs import artifacts, exports, selectors, services
from runs.approvals import run_approve, run_reject
from runs.audit import audit_record
from runs.audit_views import filter_querystring
from runs.filtersets import AuditEventFilterSet, RunFilterSet
from runs.models import Artifact, ArtifactKind, AuditEvent, Run

from . import rows
from . import serializers as s


class RunScopeMixin:
    model = Run
    serializer_class = s.RunDetailSerializer

    def scope(self):
        return selectors.runs_for_user(self.ctx.user, tenant=self.ctx.tenant)

    def run_detail(self, run: Run, code: int = status.HTTP_200_OK) -> Response:
        run = self.scope().get(pk=run.pk)  # fresh, with the relations the serializer reads
        return Response(s.RunDetailSerializer(run).data, status=code)

    def run_for_request(self, data: dict, action: str) -> Run:
        """A new run for `request_text` on the config the body names (404 outside the tenant) or the
        active one, once the role allows `action`."""
        config = self.ctx.config_for(data.get("config_id"))
        self.ctx.require(action)
        return services.run_create(user=self.ctx.user, config_id=config.pk, request_text=data["request_text"])

    def run_from_body(self, run_id: int) -> Run:
        """A run named in the request body: 404 outside the caller's tenant, then the role check."""
        run = self.scope().get(pk=run_id)
        self.ctx.require(self.required_action())
        return run


# --- runs ------------------------------------------------------------------------------------------


class RunListView(RunScopeMixin, TenantAPIView):
    serializer_class = s.RunSerializer

    @extend_schema(
        operation_id="runs_list",
        responses=s.RunSerializer(many=True),
        summary="Runs of your tenant, newest first",
        parameters=[s.RunFilterSerializer],
    )
    def get(self, request):
        filters = self.validated(s.RunFilterSerializer, request.query_params)
        runs = selectors.runs_for_user(
            self.ctx.user,
            tenant=self.ctx.tenant,
            status=sorted(filters.get("status", [])) or None,
            config_id=filters.get("config"),
            kind=filters.get("kind"),
            requested_by_id=filters.get("requested_by"),
            state=filters.get("state"),
        )
        return self.paginated(rows.run_values(runs), rows=rows.run_rows)


class RunDetailView(RunScopeMixin, TenantAPIView):
    @extend_schema(
        operation_id="runs_retrieve", summary="A run: intent, gates, approvals, warnings, artifacts"
    )
    def get(self, request, pk: int):
        return Response(self.get_serializer(self.object).data)


class RunStatusView(RunScopeMixin, TenantAPIView):
    serializer_class = s.RunStatusSerializer

    @extend_schema(operation_id="runs_status", summary="A run's progress, read from the run row")
    def get(self, request, pk: int):
        return Response(s.RunStatusSerializer(selectors.run_status_payload(self.object)).data)


class RunEventListView(RunScopeMixin, TenantAPIView):
    serializer_class = s.RunEventSerializer
    pagination_class = BySequencePagination

    @extend_schema(
        operation_id="runs_events",
        responses=s.RunEventSerializer(many=True),
        summary="A run's timeline, oldest first",
    )
    def get(self, request, pk: int):
        return self.paginated(selectors.run_timeline(self.object))


class RunLogsView(RunScopeMixin, TenantAPIView):
    serializer_class = s.RunLogsSerializer

    @extend_schema(operation_id="runs_logs", summary="The live log tail and the apply log artifact")
    def get(self, request, pk: int):
        run = self.object
        data = {
            "id": run.pk,
            "status": run.status,
            "finished": run.is_finished,
            "log_tail": run.log_tail,
            "apply_log": artifacts.latest(run, ArtifactKind.APPLY_LOG),
        }
        return Response(s.RunLogsSerializer(data).data)


class RunCancelView(RunScopeMixin, TenantAPIView):
    actions = {"POST": "run.cancel"}

    @extend_schema(
        operation_id="runs_cancel", summary="Cancel an unfinished run", request=s.RunCancelSerializer
    )
    def post(self, request, pk: int):
        reason = self.validated(s.RunCancelSerializer)["reason"]
        run = services.run_cancel(user=self.ctx.user, run_id=self.object.pk, reason=reason)
        return self.run_detail(run)


# --- the IaC request flow ----------------------------------------------------------------------------


class GenerateView(RunScopeMixin, TenantAPIView):
    actions = {"POST": "run.create"}
    role_checked_after_lookup = True

    @extend_schema(
        operation_id="iac_generate",
        summary="Request a change: a new run that generates, checks and plans the Terraform",
        request=s.RunRequestSerializer,
        responses={201: s.RunDetailSerializer},
    )
    def post(self, request):
        run = self.run_for_request(self.validated(s.RunRequestSerializer), "run.create")
        return self.run_detail(run, status.HTTP_201_CREATED)


class PlanView(RunScopeMixin, TenantAPIView):
    actions = {"POST": "run.plan"}
    role_checked_after_lookup = True

    @extend_schema(
        operation_id="iac_plan",
        summary="Plan again (a new run replacing `run_id`), or plan a new request",
        request=s.PlanSerializer,
        responses={201: s.RunDetailSerializer},
    )
    def post(self, request):
        data = self.validated(s.PlanSerializer)
        if "run_id" in data:
            run = self.run_from_body(data["run_id"])
            new = services.run_replan(user=self.ctx.user, run_id=run.pk)
        else:
            new = self.run_for_request(data, "run.plan")
        return self.run_detail(new, status.HTTP_201_CREATED)


class ApplyView(RunScopeMixin, TenantAPIView):
    actions = {"POST": "run.apply"}
    role_checked_after_lookup = True

    @extend_schema(
        operation_id="iac_apply",
        summary="Apply an approved plan (never without its approvals)",
        request=s.ApplySerializer,
        responses={202: s.RunDetailSerializer},
    )
    def post(self, request):
        run = self.run_from_body(self.validated(s.ApplySerializer)["run_id"])
        run = services.run_request_apply(user=self.ctx.user, run_id=run.pk)
        return self.run_detail(run, status.HTTP_202_ACCEPTED)


# --- approvals -------------------------------------------------------------------------------------


class ApprovalQueueView(RunScopeMixin, TenantAPIView):
    serializer_class = s.RunSerializer

    @extend_schema(
        operation_id="approvals_list",
        responses=s.RunSerializer(many=True),
        summary="Runs waiting for your approval",
    )
    def get(self, request):
        if not self.ctx.allows("run.approve"):
            return self.paginated(Run.objects.none())
        runs = selectors.runs_awaiting_my_approval(self.ctx.user, tenant=self.ctx.tenant)
        return self.paginated(rows.run_values(runs), rows=rows.run_rows)


class ApproveView(RunScopeMixin, TenantAPIView):
    actions = {"POST": "run.approve"}

    @extend_schema(
        operation_id="approvals_approve",
        summary="Approve exactly the plan of this run",
        request=s.ApproveSerializer,
        responses={200: s.RunDetailSerializer},
    )
    def post(self, request, pk: int):
        data = self.validated(s.ApproveSerializer)
        run_approve(
            user=self.ctx.user,
            run_id=self.object.pk,
            comment=data["comment"],
            change_ticket=data["change_ticket"],
            acknowledged_warnings=data["acknowledged_warnings"],
            plan_sha256=data.get("plan_sha256"),
        )
        return self.run_detail(self.object)


class RejectView(RunScopeMixin, TenantAPIView):
    actions = {"POST": "run.approve"}

    @extend_schema(
        operation_id="approvals_reject",
        summary="Reject the plan of this run",
        request=s.RejectSerializer,
        responses={200: s.RunDetailSerializer},
    )
    def post(self, request, pk: int):
        data = self.validated(s.RejectSerializer)
        run_reject(user=self.ctx.user, run_id=self.object.pk, comment=data["comment"])
        return self.run_detail(self.object)


# --- artifacts -------------------------------------------------------------------------------------


class ArtifactScopeMixin:
    model = Artifact
    serializer_class = s.ArtifactSerializer

    def scope(self):
        runs = selectors.runs_for_user(self.ctx.user, tenant=self.ctx.tenant).values("pk")
        return Artifact.objects.for_user(self.ctx.user, "view").filter(tenant=self.ctx.tenant, run__in=runs)


class ArtifactDetailView(ArtifactScopeMixin, TenantAPIView):
    @extend_schema(operation_id="artifacts_retrieve", summary="An artifact's metadata")
    def get(self, request, pk: int):
        return Response(self.get_serializer(self.object).data)


class ArtifactDownloadView(ArtifactScopeMixin, TenantAPIView):
    actions = {"GET": "artifact.download"}

    @extend_schema(
        operation_id="artifacts_download",
        summary="Download an artifact (audited, like the page's download)",
        responses={
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file, streamed"),
            302: OpenApiResponse(description="A short-lived pre-signed URL (S3 storage)"),
        },
    )
    def get(self, request, pk: int):
        artifact = artifacts.artifact_download(user=self.ctx.user, artifact_id=self.object.pk)
        return artifacts.download_response(artifact)


# --- audit -----------------------------------------------------------------------------------------


def _filtered(filterset_class, view: TenantAPIView, queryset):
    """Apply the audit page's filterset; its form errors become a 400 naming each parameter."""
    filterset = filterset_class(view.request.query_params, queryset=queryset, request=view.ctx)
    if not filterset.is_valid():
        raise drf.ValidationError({k: [str(e) for e in v] for k, v in filterset.errors.items()})
    return filterset


AUDIT_EVENT_FILTERS = [
    OpenApiParameter(name, OpenApiTypes.STR, description=description)
    for name, description in [
        ("user", "Actor (user id)"),
        ("account", "AWS account id"),
        ("config", "Config id"),
        ("agent", "Agent name"),
        ("action", "An action (run.applied) or a family (run.approval.*)"),
        ("request_id", "Request id"),
        ("q", "Free text"),
    ]
] + [
    OpenApiParameter("status", OpenApiTypes.STR, many=True, description="Runs reaching this status"),
    OpenApiParameter("created_after", OpenApiTypes.DATE, description="From this day (inclusive)"),
    OpenApiParameter("created_before", OpenApiTypes.DATE, description="To this day (inclusive)"),
]
AUDIT_RUN_FILTERS = [p for p in AUDIT_EVENT_FILTERS if p.name != "request_id"] + [
    OpenApiParameter("kind", OpenApiTypes.STR, description="Run kind")
]


class AuditScopeMixin:
    model = AuditEvent
    serializer_class = s.AuditEventSerializer
    read_action = "audit.view"
    actions = {"GET": "audit.view"}

    def scope(self):
        return selectors.audit_events_for_user(self.ctx.user, tenant=self.ctx.tenant)


class AuditEventListView(AuditScopeMixin, TenantAPIView):
    @extend_schema(
        operation_id="audit_list",
        responses=s.AuditEventSerializer(many=True),
        summary="Audit events, newest first",
        parameters=AUDIT_EVENT_FILTERS,
    )
    def get(self, request):
        events = _filtered(AuditEventFilterSet, self, self.scope()).qs
        return self.paginated(rows.audit_event_values(events), rows=rows.audit_event_rows)


class AuditRunListView(AuditScopeMixin, TenantAPIView):
    serializer_class = s.RunSerializer

    @extend_schema(
        operation_id="audit_runs",
        responses=s.RunSerializer(many=True),
        summary="Runs in the audit search",
        parameters=AUDIT_RUN_FILTERS,
    )
    def get(self, request):
        runs = selectors.audit_runs_for_user(self.ctx.user, tenant=self.ctx.tenant)
        runs = _filtered(RunFilterSet, self, runs).qs
        return self.paginated(rows.run_values(runs), rows=rows.run_rows)


class AuditEventDetailView(AuditScopeMixin, TenantAPIView):
    @extend_schema(operation_id="audit_retrieve", summary="One audit event")
    def get(self, request, pk: int):
        return Response(self.get_serializer(self.object).data)


class AuditExportView(AuditScopeMixin, TenantAPIView):
    """The same CSV as the audit page's export, for the same filters; the export is audited."""

    actions = {"GET": "audit.export"}
    pagination_class = None

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), "application/json"  # errors in JSON; the CSV itself is streamed as text/csv

    @extend_schema(
        operation_id="audit_export",
        summary="Export the filtered audit as CSV (streamed)",
        parameters=[
            OpenApiParameter("scope", OpenApiTypes.STR, enum=["runs", "events"], description="Default: runs"),
            *AUDIT_EVENT_FILTERS,
            OpenApiParameter("kind", OpenApiTypes.STR, description="Run kind (scope=runs)"),
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, UTF-8 with BOM")},
    )
    def get(self, request):
        scope = request.query_params.get("scope", "runs")
        if scope not in {"events", "runs"}:
            raise drf.ValidationError({"scope": ["Use runs or events."]})
        if scope == "runs":
            base = selectors.audit_runs_for_user(self.ctx.user, tenant=self.ctx.tenant, action="audit.export")
            filterset = _filtered(RunFilterSet, self, base)
            body = exports.runs_csv(filterset.qs, absolute=request.build_absolute_uri)
        else:
            base = selectors.audit_events_for_user(
                self.ctx.user, tenant=self.ctx.tenant, action="audit.export"
            )
            filterset = _filtered(AuditEventFilterSet, self, base)
            body = exports.events_csv(filterset.qs)
        audit_record(  # the same event as the page's export, before the first byte leaves
            tenant=self.ctx.tenant,
            action="audit.exported",
            actor=self.ctx.user,
            summary=f"CSV export of {'audit events' if scope == 'events' else 'runs'} (API)",
            data={
                "scope": scope,
                "filters": filter_querystring(request.query_params),
                "format": "csv",
                "via": "api",
            },
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        return exports.csv_response(
            request._request, body, f"gantry-{self.ctx.tenant.slug}-{scope}-{stamp}.csv"
        )
