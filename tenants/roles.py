"""Roles and the one table that maps every action to the least role allowed to take it."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    APPROVER = "approver", "Approver"
    ADMIN = "admin", "Admin"


RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}

# action -> least role. Views, API views, MCP tools, exports and tasks name one of these.
ACTIONS: dict[str, Role] = {
    "view": Role.VIEWER,
    "audit.view": Role.VIEWER,
    "audit.export": Role.VIEWER,
    "artifact.download": Role.VIEWER,
    "aws.read": Role.VIEWER,  # list and describe resources in the account behind a config
    "config.use": Role.OPERATOR,
    "run.create": Role.OPERATOR,
    "run.plan": Role.OPERATOR,
    "run.cancel": Role.OPERATOR,
    "run.apply": Role.OPERATOR,
    "blueprint.create": Role.OPERATOR,
    "run.approve": Role.APPROVER,
    "blueprint.approve": Role.APPROVER,
    "account.manage": Role.ADMIN,
    "config.manage": Role.ADMIN,
    "member.manage": Role.ADMIN,
    "policy.manage": Role.ADMIN,
    "budget.manage": Role.ADMIN,
    "tenant.manage": Role.ADMIN,
    "workspace.force_unlock": Role.ADMIN,
}

# Actions on a config that a django-guardian grant narrows: on a restricted config (prod, say) only admins
# and members granted `tenants.use_config` on it may take them, whatever their role allows elsewhere.
CONFIG_NARROWED_ACTIONS = frozenset(
    {"config.use", "aws.read", "run.create", "run.plan", "run.apply", "run.approve", "run.cancel"}
)


def least_role(action: str) -> Role:
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"Unknown action {action!r}; add it to tenants.roles.ACTIONS") from None


def roles_allowed(action: str) -> list[str]:
    """Every role at or above the action's least role."""
    floor = RANK[least_role(action)]
    return [role.value for role, rank in RANK.items() if rank >= floor]


def role_allows(role: str | None, action: str) -> bool:
    return role is not None and role in roles_allowed(action)
