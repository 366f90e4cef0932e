"""The header's approvals badge: how many runs wait for the signed-in member's decision."""

from __future__ import annotations

from tenants.roles import role_allows

from .selectors import runs_awaiting_my_approval


def approvals_waiting(request) -> dict[str, int]:
    """One COUNT, only for signed-in members whose role may approve in the active tenant."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "gantry"):
        return {}
    membership = request.gantry.membership
    if membership is None or not role_allows(membership.role, "run.approve"):
        return {}
    return {"approvals_waiting": runs_awaiting_my_approval(user, tenant=membership.tenant).count()}
