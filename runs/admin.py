from django.contrib import admin

from .models import AuditChainHead, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only everywhere, the admin included."""

    list_display = ["created_at", "tenant", "actor_label", "action", "summary", "request_id"]
    list_filter = ["tenant", "action"]
    search_fields = ["summary", "actor_label", "request_id", "object_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(AuditEventAdmin):
    list_display = ["chain", "seq", "last_hash"]
    list_filter = []
    search_fields = ["chain"]
    date_hierarchy = None


# --- runs: read-mostly; state changes go through runs.services, never the admin ----------------------
from .models import (  # noqa: E402
    Approval,
    Artifact,
    GateResult,
    Notification,
    Run,
    RunEvent,
    TenantWebhook,
    WorkspaceLock,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RunEventInline(admin.TabularInline):
    model = RunEvent
    fields = ["seq", "from_status", "to_status", "message", "actor", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class GateResultInline(admin.TabularInline):
    model = GateResult
    fields = ["order", "name", "status", "summary", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ApprovalInline(admin.TabularInline):
    model = Approval
    fields = [
        "approver",
        "decision",
        "change_ticket",
        "plan_sha256",
        "config_version",
        "created_at",
        "voided_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "tenant", "config", "status", "kind", "requested_by", "created_at", "finished_at"]
    list_filter = ["status", "kind", "tenant"]
    search_fields = ["request_text", "plan_sha256", "workspace_key"]
    date_hierarchy = "created_at"
    inlines = [RunEventInline, GateResultInline, ApprovalInline]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["run", "approver", "decision", "change_ticket", "created_at", "voided_at"]
    list_filter = ["decision", "tenant"]


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    list_display = ["run", "kind", "size", "sha256", "created_at"]
    list_filter = ["kind", "tenant"]


@admin.register(WorkspaceLock)
class WorkspaceLockAdmin(ReadOnlyAdmin):
    """Force-unlocking is `runs.services.workspace_force_unlock` (admin role, Terraform lock id, audited)."""

    list_display = ["workspace_key", "run", "purpose", "acquired_at", "flagged", "flag_reason"]
    list_filter = ["flagged", "tenant"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["user", "kind", "message", "created_at", "read_at"]
    list_filter = ["kind", "tenant"]


@admin.register(TenantWebhook)
class TenantWebhookAdmin(admin.ModelAdmin):
    list_display = ["tenant", "url", "is_active", "last_status", "last_delivery_at"]
    readonly_fields = ["last_status", "last_error", "last_delivery_at"]
    exclude = ["secret"]
