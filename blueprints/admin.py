from django.contrib import admin

from blueprints.models import Blueprint, BlueprintVersion


class BlueprintVersionInline(admin.TabularInline):
    model = BlueprintVersion
    extra = 0
    can_delete = False
    fields = ["number", "source_sha256", "created_by", "approved_by", "approved_at", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # versions are created by services only


@admin.register(Blueprint)
class BlueprintAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tenant", "stack", "status", "usage_count", "updated_at"]
    list_filter = ["status", "stack"]
    search_fields = ["name", "slug", "description"]
    readonly_fields = ["usage_count", "status", "created_by", "created_at", "updated_at", "source_run_id"]
    inlines = [BlueprintVersionInline]


@admin.register(BlueprintVersion)
class BlueprintVersionAdmin(admin.ModelAdmin):
    list_display = ["blueprint", "number", "source_sha256", "approved_at"]
    readonly_fields = [
        "blueprint",
        "number",
        "spec",
        "source_sha256",
        "created_by",
        "approved_by",
        "approved_at",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
