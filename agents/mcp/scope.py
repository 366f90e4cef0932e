"""Lookups inside the token's tenant. A token is bound to one tenant: rows of the user's other tenants are
as invisible as anyone else's, and every miss reads "not found" (never "forbidden")."""

from __future__ import annotations

from runs.models import Run
from runs.selectors import runs_for_user
from tenants.models import Config
from tenants.selectors import first_config, visible_configs
from tenants.tokens import TokenIdentity

from .registry import ToolFailure


def run_in_scope(identity: TokenIdentity, run_id: int) -> Run:
    try:
        return (
            runs_for_user(identity.user, tenant=identity.tenant)
            .select_related("config__account")
            .get(pk=run_id)
        )
    except Run.DoesNotExist:
        raise ToolFailure(f"Run #{run_id} not found.", code="not_found") from None


def config_in_scope(identity: TokenIdentity, ref: str | int | None, *, action: str = "view") -> Config:
    """The config named `ref` (a name or an id) in the token's tenant; without `ref`, the first non-prod
    config the user may take `action` on (`run.create` for a tool that drafts runs).

    A config the user may see but not take a narrowed `action` on (a restricted prod config without a
    grant) is refused as forbidden rather than hidden: its name is on every page they can open."""
    user, tenant = identity.user, identity.tenant
    if ref in (None, ""):
        config = _first_allowed(identity, action)
        if config is None:
            raise ToolFailure(
                f"No config in {tenant.slug} is available to you; name one with `config`.", code="not_found"
            )
        return config
    configs = visible_configs(user, tenant).select_related("account", "tenant")
    text = str(ref).strip()
    config = configs.filter(pk=int(text)).first() if text.isdigit() else configs.filter(name=text).first()
    if config is None:
        raise ToolFailure(f"Config {text!r} not found in {tenant.slug}.", code="not_found")
    if action != "view" and not Config.objects.for_user(user, action).filter(pk=config.pk).exists():
        raise ToolFailure(
            f"Config {config.name} is restricted; you have not been granted {action} on it.", code="forbidden"
        )
    return config


def _first_allowed(identity: TokenIdentity, action: str) -> Config | None:
    configs = Config.objects.for_user(identity.user, action).filter(tenant=identity.tenant)
    return first_config(list(configs.select_related("account", "tenant").order_by("name")))
