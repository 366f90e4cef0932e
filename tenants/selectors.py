"""Scoped reads for tenants: what a user may see and use."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AwsAccount, Config, Invitation, Membership


def memberships_of(user) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, tenant__is_active=True).select_related("tenant")


def usable_configs(user, tenant) -> QuerySet[Config]:
    """Configs in `tenant` the user may plan with: role allows it and any guardian narrowing admits them."""
    return Config.objects.for_user(user, "config.use").filter(tenant=tenant).select_related("account")


def visible_configs(user, tenant) -> QuerySet[Config]:
    return Config.objects.for_user(user, "view").filter(tenant=tenant).select_related("account")


def context_configs(user, tenant) -> QuerySet[Config]:
    """What the header's config picker offers: the configs the user may plan with, or, for a viewer who
    plans with none, every config they may look at (the active config then only frames what they read)."""
    usable = usable_configs(user, tenant)
    return usable if usable.exists() else visible_configs(user, tenant)


def visible_accounts(user, tenant) -> QuerySet[AwsAccount]:
    return AwsAccount.objects.for_user(user, "view").filter(tenant=tenant)


def tenant_members(user, tenant) -> QuerySet[Membership]:
    return Membership.objects.for_user(user, "view").filter(tenant=tenant).select_related("user")


def tenant_invitations(user, tenant) -> QuerySet[Invitation]:
    return (
        Invitation.objects.for_user(user, "member.manage").filter(tenant=tenant).select_related("created_by")
    )


def first_config(configs: list[Config]) -> Config | None:
    """The one to start on: the first non-prod config, else the first."""
    return next((c for c in configs if c.env != "prod"), configs[0] if configs else None)


def default_config(user, tenant) -> Config | None:
    """The first usable non-prod config, else any usable one."""
    return first_config(list(usable_configs(user, tenant).order_by("name")))


def session_start_config(user, tenant) -> Config | None:
    """The config a new portal session in `tenant` starts on (what the header's picker shows first)."""
    return first_config(list(context_configs(user, tenant).order_by("name")))
