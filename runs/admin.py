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
