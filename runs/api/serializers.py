"""Serializers for runs, their timeline, gates, approvals, artifacts and the audit log."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.api.serializers import ReadModelSerializer
from runs import selectors
from runs.approvals import live_approvals, warnings_to_acknowledge
from runs.models import Approval, Artifact, AuditEvent, GateResult, Run, RunEvent, RunKind
from runs.states import RunStatus
from tenants.api.serializers import ConfigRefSerializer

MAX_ID = 2**63 - 1
SENSITIVE = "(sensitive)"


def _email(user) -> str | None:
    return getattr(user, "email", None) if user is not None else None


class GateSerializer(ReadModelSerializer):
    class Meta:
        model = GateResult
        fields = ["name", "status", "summary", "findings", "duration_ms", "order"]


class ApprovalSerializer(ReadModelSerializer):
    approver = serializers.SerializerMethodField()

    class Meta:
        model = Approval
        fields = [
            "id",
            "approver",
            "decision",
            "comment",
            "change_ticket",
            "plan_sha256",
            "config_version",
            "acknowledged_warnings",
            "created_at",
            "voided_at",
            "void_reason",
        ]

    @extend_schema_field(serializers.EmailField())
    def get_approver(self, approval) -> str | None:
        return _email(approval.approver)


class WarningSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Pass this in acknowledged_warnings when approving.")
    gate = serializers.CharField()
    rule = serializers.CharField()
    message = serializers.CharField()
    address = serializers.CharField()
    severity = serializers.CharField()


class ArtifactSerializer(ReadModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Artifact
        fields = [
            "id",
            "run",
            "kind",
            "filename",
            "content_type",
            "size",
            "sha256",
            "created_at",
            "download_url",
        ]

    @extend_schema_field(serializers.CharField())
    def get_download_url(self, artifact) -> str:
        return reverse("api_artifact_download", args=[artifact.pk])


class RunSerializer(ReadModelSerializer):
    config = ConfigRefSerializer(read_only=True)
    requested_by = serializers.SerializerMethodField()
    finished = serializers.BooleanField(source="is_finished", read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "status",
            "finished",
            "kind",
            "request_text",
            "config",
            "requested_by",
            "agent",
            "parser",
            "replaces",
            "parent",
            "has_changes",
            "plan_summary",
            "cost_estimate",
            "approvals_required",
            "approval_deadline",
            "apply_requested_at",
            "error",
            "error_category",
            "created_at",
            "updated_at",
            "finished_at",
        ]

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_requested_by(self, run) -> str | None:
        return _email(run.requested_by)


class RunDetailSerializer(RunSerializer):
    gates = serializers.SerializerMethodField()
    approvals = serializers.SerializerMethodField()
    approvals_given = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [
            *RunSerializer.Meta.fields,
            "intent",
            "belief",
            "clarification",
            "spec",
            "spec_sha256",
            "source_sha256",
            "plan_sha256",
            "config_version",
            "gate_digest",
            "stage_timings",
            "outputs",
            "gates",
            "approvals",
            "approvals_given",
            "warnings",
            "artifacts",
        ]

    def to_representation(self, run):
        self._gates = list(selectors.run_gates(run))  # read once: listed, and the source of the warnings
        return super().to_representation(run)

    @extend_schema_field(GateSerializer(many=True))
    def get_gates(self, run):
        return GateSerializer(self._gates, many=True).data

    @extend_schema_field(ApprovalSerializer(many=True))
    def get_approvals(self, run):
        return ApprovalSerializer(selectors.run_approvals(run), many=True).data

    @extend_schema_field(serializers.IntegerField())
    def get_approvals_given(self, run) -> int:
        return live_approvals(run).count() if run.plan_sha256 else 0

    @extend_schema_field(WarningSerializer(many=True))
    def get_warnings(self, run):
        return [w.to_dict() for w in warnings_to_acknowledge(run, gates=self._gates)]

    @extend_schema_field(ArtifactSerializer(many=True))
    def get_artifacts(self, run):
        return ArtifactSerializer(selectors.run_artifacts(run), many=True).data

    @extend_schema_field(serializers.DictField())
    def get_outputs(self, run) -> dict:
        """Terraform outputs, with the ones Terraform marks sensitive masked."""
        return {
            name: {**value, "value": SENSITIVE}
            if isinstance(value, dict) and value.get("sensitive")
            else value
            for name, value in (run.outputs or {}).items()
        }


class RunStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    finished = serializers.BooleanField()
    stage_timings = serializers.DictField()
    error = serializers.CharField(allow_blank=True)
    error_category = serializers.CharField(allow_blank=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class RunEventSerializer(ReadModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = RunEvent
        fields = ["seq", "from_status", "to_status", "message", "data", "actor", "created_at"]

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_actor(self, event) -> str | None:
        return _email(event.actor)


class RunLogsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    finished = serializers.BooleanField()
    log_tail = serializers.CharField(
        allow_blank=True, help_text="The last lines of the current stage, redacted."
    )
    apply_log = ArtifactSerializer(allow_null=True)


class RunFilterSerializer(serializers.Serializer):
    """Query parameters of the runs list (the same selector the runs page uses)."""

    status = serializers.MultipleChoiceField(choices=RunStatus.choices, required=False)
    config = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    kind = serializers.ChoiceField(choices=RunKind.choices, required=False)
    requested_by = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    state = serializers.ChoiceField(choices=["active", "waiting", "finished"], required=False)


class RunCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RunRequestSerializer(serializers.Serializer):
    request_text = serializers.CharField(max_length=10_000, help_text="The change, in plain language.")
    config_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Default: the active config."
    )


class PlanSerializer(serializers.Serializer):
    run_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Re-plan this run as a new one."
    )
    request_text = serializers.CharField(
        max_length=10_000, required=False, help_text="Or plan a new request (with config_id)."
    )
    config_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)

    def validate(self, data):
        if ("run_id" in data) == ("request_text" in data):
            raise serializers.ValidationError("Give either run_id (re-plan) or request_text (a new plan).")
        return data


class ApplySerializer(serializers.Serializer):
    run_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    change_ticket = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    acknowledged_warnings = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list, max_length=500
    )
    plan_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$", required=False, help_text="The plan you reviewed; refused if it changed since."
    )


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, help_text="Why the plan is rejected.")


class AuditEventSerializer(ReadModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "summary",
            "data",
            "request_id",
            "ip_address",
            "prev_hash",
            "hash",
        ]
