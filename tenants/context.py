"""The active tenant and config of a browser session, and switching between them (audited)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied

from runs.audit import audit_record

from . import selectors
from .models import Config, Membership, Tenant

SESSION_TENANT = "gantry_tenant_id"
SESSION_CONFIG = "gantry_config_id"


@dataclass
class ActiveContext:
    memberships: list[Membership] = field(default_factory=list)
    membership: Membership | None = None
    config: Config | None = None
    configs: list[Config] = field(default_factory=list)

    @property
    def tenant(self) -> Tenant | None:
        return self.membership.tenant if self.membership else None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None


def resolve(request) -> ActiveContext:
    """Read the session's choice, falling back to the only tenant and its default config."""
    user = request.user
    ctx = ActiveContext(memberships=list(selectors.memberships_of(user)))
    if not ctx.memberships:
        return ctx
    chosen = request.session.get(SESSION_TENANT)
    ctx.membership = next((m for m in ctx.memberships if m.tenant_id == chosen), None)
    if ctx.membership is None and len(ctx.memberships) == 1:
        ctx.membership = ctx.memberships[0]
        request.session[SESSION_TENANT] = ctx.membership.tenant_id
    if ctx.membership is None:
        return ctx
    ctx.configs = list(selectors.context_configs(user, ctx.tenant).order_by("name"))
    config_id = request.session.get(SESSION_CONFIG)
    ctx.config = next((c for c in ctx.configs if c.pk == config_id), None)
    if ctx.config is None:
        ctx.config = selectors.first_config(ctx.configs)
        request.session[SESSION_CONFIG] = ctx.config.pk if ctx.config else None
    return ctx


def switch(request, *, tenant_id: int | None, config_id: int | None) -> ActiveContext:
    """Change the active tenant and/or config. Ids the user may not use are refused, not ignored."""
    user = request.user
    memberships = list(selectors.memberships_of(user))
    current_tenant = request.session.get(SESSION_TENANT)
    membership = next((m for m in memberships if m.tenant_id == (tenant_id or current_tenant)), None)
    if membership is None:
        raise PermissionDenied("You are not a member of that tenant.")
    config = None
    if config_id:
        config = selectors.context_configs(user, membership.tenant).filter(pk=config_id).first()
        if config is None:
            raise PermissionDenied("You may not use that config.")
    request.session[SESSION_TENANT] = membership.tenant_id
    request.session[SESSION_CONFIG] = config.pk if config else None
    audit_record(
        tenant=membership.tenant,
        action="session.context_switched",
        actor=user,
        target=config,
        summary=f"Active: {membership.tenant}" + (f" / {config.name}" if config else ""),
        data={"config_version": config.version if config else None},
    )
    return resolve(request)
