"""Who is calling, in which tenant, with which role.

A token carries its tenant and an effective role (the lower of the token's and the owner's current
membership role). A browser session uses the active tenant of `request.gantry`. Every API query is
narrowed to this tenant, and every action is checked against this role *before* the service runs (the
service then checks the membership role too), so a token never does more than it was issued for.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.exceptions import PermissionDenied, ValidationError

from tenants.models import ApiToken, Config, Tenant
from tenants.roles import role_allows
from tenants.tokens import TokenIdentity


@dataclass(frozen=True)
class ApiContext:
    user: object
    tenant: Tenant
    role: str
    token: ApiToken | None = None
    session_config: Config | None = None  # the browser session's active config

    @property
    def via_token(self) -> bool:
        return self.token is not None

    @property
    def gantry(self) -> ApiContext:
        """The context stands in for the request given to the shared filtersets (`request.user`,
        `request.gantry.tenant`): the request's own `gantry` is the browser's active tenant, which on a
        token call may not be the token's, and resolving it costs queries and a session write."""
        return self

    def allows(self, action: str) -> bool:
        return role_allows(self.role, action)

    def config_for(self, config_id: int | None) -> Config:
        """The config a request names (in this tenant, else 404), or the active one when it names none.
        Whether the caller may *use* it is the service's check (403)."""
        from tenants.selectors import default_config, visible_configs

        if config_id is not None:
            return visible_configs(self.user, self.tenant).get(pk=config_id)  # DoesNotExist → 404
        config = self.session_config or default_config(self.user, self.tenant)
        if config is None:
            raise ValidationError({"config_id": ["No usable config in this tenant; pass config_id."]})
        return config

    def require(self, action: str) -> None:
        if not self.allows(action):
            source = "token" if self.via_token else "role"
            raise PermissionDenied(f"Your {source} ({self.role}) does not allow {action}.")


def api_context(request) -> ApiContext:
    """The context of an authenticated API request; PermissionDenied when a session has no tenant."""
    cached = getattr(request, "_gantry_api_context", None)
    if cached is not None:
        return cached
    if isinstance(request.auth, TokenIdentity):
        identity = request.auth
        ctx = ApiContext(user=identity.user, tenant=identity.tenant, role=identity.role, token=identity.token)
    else:
        active = request._request.gantry
        if active.membership is None:
            raise PermissionDenied("Choose an active tenant first (the header's tenant picker).")
        ctx = ApiContext(
            user=request.user, tenant=active.tenant, role=active.role, session_config=active.config
        )
    request._gantry_api_context = ctx
    return ctx
