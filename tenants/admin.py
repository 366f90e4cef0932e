"""Django admin for platform staff, with tenant filters on every tenant-owned model."""

from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from .models import AwsAccount, Config, Invitation, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "is_active",
        "mfa_required_for_privileged",
        "freeform_composition",
        "created_at",
    ]
    list_filter = ["is_active", "mfa_required_for_privileged", "freeform_composition"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["tenant", "email", "role", "status", "expires_at", "accepted_by"]
    list_filter = ["tenant", "role"]
    search_fields = ["email", "tenant__name"]
    readonly_fields = ["code_hash", "code_hint", "accepted_by", "accepted_at"]


@admin.register(AwsAccount)
class AwsAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "account_id", "mode", "default_region", "last_verified_at"]
    list_filter = ["tenant", "mode", "default_region"]
    search_fields = ["name", "alias", "account_id", "tenant__name"]
    readonly_fields = ["external_id", "last_verified_at", "last_verified_identity", "last_verification_error"]


@admin.register(Config)
class ConfigAdmin(GuardedModelAdmin):
    list_display = ["name", "tenant", "account", "env", "workspace", "version", "restricted"]
    list_filter = ["tenant", "env", "restricted"]
    search_fields = ["name", "workspace", "tenant__name"]
    readonly_fields = ["version"]

    def save_model(self, request, obj, form, change):
        # Any change is a new version, as in the portal, so approvals given against the old one go stale.
        if change and form.changed_data:
            obj.version += 1
        super().save_model(request, obj, form, change)
