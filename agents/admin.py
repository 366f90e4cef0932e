from django.contrib import admin

from .models import LlmUsage


@admin.register(LlmUsage)
class LlmUsageAdmin(admin.ModelAdmin):
    """Model calls per tenant and run: tokens, cost and outcome. Metering records are read-only."""

    list_display = [
        "created_at",
        "tenant",
        "run_id",
        "model",
        "outcome",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    ]
    list_filter = ["tenant", "outcome", "model"]
    search_fields = ["model", "detail"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
