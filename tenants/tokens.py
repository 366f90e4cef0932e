"""Personal access tokens for the REST API and the MCP server.

A token is shown once (`gty_…`), stored as its sha256 hash, bound to one tenant and never worth more than
its owner's current role there: the effective role is recomputed at every request, so demoting or removing
a member takes effect on their tokens immediately.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from runs.audit import audit_record

from .models import ApiToken, Membership, Tenant, hash_token
from .roles import RANK, Role

TOKEN_PREFIX = "gty_"  # noqa: S105 (a public marker, not a secret)
PREFIX_LENGTH = 12  # "gty_" and 8 random characters: enough to tell tokens apart in a list
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per token


class TokenInvalid(Exception):
    """The presented token is unknown, revoked, expired, or its owner lost access to the tenant."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TokenIdentity:
    token: ApiToken | None  # None when the platform's operator acts as the member (`manage.py tool`)
    user: object
    tenant: Tenant
    role: str  # the lower of the token's role and the owner's current membership role


def member_identity(user, tenant: Tenant) -> TokenIdentity:
    """The identity of `user` acting in `tenant` without a token: exactly their membership role there, as
    a token of theirs with that role would have. Raises TokenInvalid when they may not act there."""
    if not user.is_active or not tenant.is_active:
        raise TokenInvalid(f"{user.email} or {tenant.slug} is deactivated.")
    membership = Membership.objects.filter(user=user, tenant=tenant).first()
    if membership is None:
        raise TokenInvalid(f"{user.email} is not a member of {tenant.slug}.")
    return TokenIdentity(token=None, user=user, tenant=tenant, role=membership.role)


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def lower_role(a: str, b: str) -> str:
    return a if RANK[Role(a)] <= RANK[Role(b)] else b


def token_status(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at:
        return "revoked"
    if token.expires_at and token.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


# --- reads -----------------------------------------------------------------------------------------


def tokens_visible(user, tenant: Tenant) -> QuerySet[ApiToken]:
    """The user's own tokens in `tenant`; an admin sees every member's, to revoke a leaked one."""
    qs = ApiToken.objects.for_user(user, "view").filter(tenant=tenant).select_related("user")
    if Membership.objects.filter(user=user, tenant=tenant, role=Role.ADMIN).exists():
        return qs
    return qs.filter(user=user)


# --- writes ----------------------------------------------------------------------------------------


@transaction.atomic
def token_create(
    *, user, tenant: Tenant, name: str, role: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Returns the token row and its raw value; only the hash is stored, so show the value now."""
    membership = Membership.objects.filter(user=user, tenant=tenant, tenant__is_active=True).first()
    if membership is None or not user.is_active:
        raise PermissionDenied("You are not a member of this tenant.")
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "A token needs a name."
    elif len(name) > ApiToken._meta.get_field("name").max_length:
        errors["name"] = "Use at most 100 characters."
    if role not in Role.values:
        errors["role"] = f"Unknown role {role!r}; use one of {', '.join(Role.values)}."
    elif RANK[Role(role)] > RANK[Role(membership.role)]:
        errors["role"] = f"Your role in {tenant} is {membership.role}; a token cannot have more."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    raw = new_token_value()
    token = ApiToken.objects.create(
        tenant=tenant,
        user=user,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        token_hash=hash_token(raw),
        role=role,
        expires_at=expires_at,
    )
    audit_record(
        tenant=tenant,
        action="token.created",
        actor=user,
        target=token,
        summary=f"API token {name} ({token.prefix}…) as {role}",
        data={
            "name": name,
            "prefix": token.prefix,
            "role": role,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, raw


@transaction.atomic
def token_revoke(*, user, token_id: int) -> ApiToken:
    """The owner revokes their token; a tenant admin may revoke any token of that tenant.

    Raises ApiToken.DoesNotExist for a token the user may not see (the caller answers 404)."""
    admin_tenants = Membership.objects.filter(user=user, role=Role.ADMIN).values("tenant_id")
    token = (
        ApiToken.objects.for_user(user, "view")
        .select_for_update()
        .filter(Q(user=user) | Q(tenant__in=admin_tenants))
        .select_related("tenant", "user")
        .get(pk=token_id)
    )
    if token.revoked_at:
        raise ValidationError("This token is already revoked.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        tenant=token.tenant,
        action="token.revoked",
        actor=user,
        target=token,
        summary=f"Revoked API token {token.name} ({token.prefix}…) of {token.user.email}",
        data={"name": token.name, "prefix": token.prefix, "owner": token.user.email},
    )
    return token


def token_authenticate(raw: str) -> TokenIdentity:
    """Resolve a presented token to who is calling, in which tenant, with which effective role."""
    raw = (raw or "").strip()
    if not raw.startswith(TOKEN_PREFIX):
        raise TokenInvalid("Not a Gantry API token (they start with gty_).")
    # One indexed query: the token (by its unique hash), its owner, tenant and the owner's membership role.
    membership_role = Membership.objects.filter(user=OuterRef("user_id"), tenant=OuterRef("tenant_id"))
    token = (
        ApiToken.objects.select_related("user", "tenant")
        .annotate(membership_role=Subquery(membership_role.values("role")[:1]))
        .filter(token_hash=hash_token(raw))
        .first()
    )
    if token is None:
        raise TokenInvalid("Unknown API token.")
    now = timezone.now()
    status = token_status(token, now)
    if status != "active":
        raise TokenInvalid(f"This API token is {status}.")
    if not token.user.is_active or not token.tenant.is_active:
        raise TokenInvalid("This API token's owner or tenant is deactivated.")
    membership_role = token.membership_role
    if membership_role is None:
        raise TokenInvalid("This API token's owner is no longer a member of its tenant.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # A plain UPDATE outside any lock: concurrent requests may both write, which is harmless.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return TokenIdentity(
        token=token, user=token.user, tenant=token.tenant, role=lower_role(token.role, membership_role)
    )
