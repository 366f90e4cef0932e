"""State changes for tenants, members, invitations, accounts and configs.

Each service runs in one transaction, locks what it changes, checks the change is allowed and writes the
audit event in the same transaction. Views and the API call these; nothing else writes these rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from runs.audit import audit_record

from .models import (
    MOTO_DEFAULT_ACCOUNT_ID,
    SANDBOX_ID_TAKEN,
    AccountMode,
    AwsAccount,
    Config,
    Invitation,
    Membership,
    Tenant,
    hash_invitation_code,
    new_invitation_code,
    random_account_id,
)
from .roles import Role, role_allows


def require(membership: Membership | None, action: str) -> None:
    """Raise PermissionDenied unless the membership's role allows `action`."""
    if membership is None or not role_allows(membership.role, action):
        raise PermissionDenied(f"Your role does not allow {action}.")


def _changes(instance, fields: dict[str, Any]) -> dict[str, list]:
    return {
        name: [getattr(instance, name), value]
        for name, value in fields.items()
        if getattr(instance, name) != value
    }


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


# --- tenants and members ---------------------------------------------------------------------------


@transaction.atomic
def tenant_create(*, name: str, owner) -> Tenant:
    name = name.strip()
    if not name:
        raise ValidationError({"tenant_name": "A tenant needs a name."})
    tenant = Tenant.objects.create(name=name, slug=_unique_slug(name))
    Membership.objects.create(tenant=tenant, user=owner, role=Role.ADMIN)
    audit_record(
        tenant=tenant, action="tenant.created", actor=owner, target=tenant, summary=f"Created {name}"
    )
    return tenant


@transaction.atomic
def tenant_update_settings(*, actor_membership: Membership, **fields: Any) -> Tenant:
    require(actor_membership, "tenant.manage")
    tenant = Tenant.objects.select_for_update().get(pk=actor_membership.tenant_id)
    changes = _changes(tenant, fields)
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save()
    audit_record(
        tenant=tenant,
        action="tenant.updated",
        actor=actor_membership.user,
        target=tenant,
        data={"changes": changes},
    )
    return tenant


def _lock_membership(membership_id: int, tenant: Tenant) -> Membership:
    return Membership.objects.select_for_update().select_related("user").get(pk=membership_id, tenant=tenant)


def _assert_admin_remains(tenant: Tenant, leaving: Membership) -> None:
    admins = (
        Membership.objects.select_for_update().filter(tenant=tenant, role=Role.ADMIN).exclude(pk=leaving.pk)
    )
    if not admins.exists():
        raise ValidationError("A tenant keeps at least one admin.")


@transaction.atomic
def membership_change_role(*, actor_membership: Membership, membership_id: int, role: str) -> Membership:
    require(actor_membership, "member.manage")
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    membership = _lock_membership(membership_id, actor_membership.tenant)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _assert_admin_remains(membership.tenant, membership)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        tenant=membership.tenant,
        action="member.role_changed",
        actor=actor_membership.user,
        target=membership,
        summary=f"{membership.user.email}: {old} → {role}",
        data={"user": membership.user.email, "from": old, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor_membership: Membership, membership_id: int) -> None:
    require(actor_membership, "member.manage")
    membership = _lock_membership(membership_id, actor_membership.tenant)
    if membership.role == Role.ADMIN:
        _assert_admin_remains(membership.tenant, membership)
    email = membership.user.email
    audit_record(
        tenant=membership.tenant,
        action="member.removed",
        actor=actor_membership.user,
        target=membership,
        summary=f"Removed {email}",
        data={"user": email, "role": membership.role},
    )
    membership.delete()


# --- invitations -----------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(
    *, actor_membership: Membership, role: str, email: str = "", days: int = 7
) -> tuple[Invitation, str]:
    """Returns the invitation and its code; only the code's hash is stored, so show it now."""
    require(actor_membership, "member.manage")
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if not 1 <= days <= 30:
        raise ValidationError({"days": "An invitation lasts between 1 and 30 days."})
    code = new_invitation_code()
    invitation = Invitation.objects.create(
        tenant=actor_membership.tenant,
        email=email.strip().lower(),
        code_hash=hash_invitation_code(code),
        code_hint=code[-4:],
        role=role,
        expires_at=timezone.now() + timedelta(days=days),
        created_by=actor_membership.user,
    )
    audit_record(
        tenant=invitation.tenant,
        action="invitation.created",
        actor=actor_membership.user,
        target=invitation,
        summary=f"Invited {email or 'anyone with the code'} as {role}",
        data={"email": invitation.email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, code


class InvitationError(ValidationError):
    pass


@transaction.atomic
def invitation_accept(*, code: str, user) -> Membership:
    """Single use, unexpired, unrevoked, for this address if it names one; joining twice is refused."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("tenant")
        .filter(code_hash=hash_invitation_code(code))
        .first()
    )
    if invitation is None:
        raise InvitationError("This invitation code is not valid.")
    if invitation.status != "pending":
        raise InvitationError(f"This invitation is {invitation.status}.")
    if invitation.email and invitation.email != (user.email or "").lower():
        raise InvitationError("This invitation was issued to another email address.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
    except IntegrityError:
        raise InvitationError(f"You are already a member of {invitation.tenant}.") from None
    invitation.accepted_by, invitation.accepted_at = user, timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    audit_record(
        tenant=invitation.tenant,
        action="invitation.accepted",
        actor=user,
        target=invitation,
        summary=f"{user.email} joined as {invitation.role}",
        data={"role": invitation.role},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, actor_membership: Membership, invitation_id: int) -> Invitation:
    require(actor_membership, "member.manage")
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id, tenant=actor_membership.tenant)
    if invitation.status != "pending":
        raise ValidationError(f"This invitation is already {invitation.status}.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        tenant=invitation.tenant, action="invitation.revoked", actor=actor_membership.user, target=invitation
    )
    return invitation


# --- AWS accounts ----------------------------------------------------------------------------------


def _save_validated(instance) -> None:
    instance.full_clean()
    instance.save()


def new_sandbox_account_id() -> str:
    """A 12-digit id no other account holds: each sandbox account gets its own moto account."""
    while True:
        candidate = random_account_id()
        if (
            candidate != MOTO_DEFAULT_ACCOUNT_ID
            and not AwsAccount.objects.filter(account_id=candidate).exists()
        ):
            return candidate


def _check_account(account: AwsAccount) -> None:
    if not account.account_id:
        if account.mode != AccountMode.SANDBOX:
            raise ValidationError({"account_id": "Accounts in aws mode need their 12-digit AWS account id."})
        account.account_id = new_sandbox_account_id()
    if account.mode == AccountMode.SANDBOX:
        holders = AwsAccount.objects.filter(mode=AccountMode.SANDBOX, account_id=account.account_id)
        if holders.exclude(pk=account.pk).exists():
            # Says nothing about who holds it: the holder may be another tenant.
            raise ValidationError({"account_id": SANDBOX_ID_TAKEN})
    if account.mode == "aws" and not account.role_arn:
        raise ValidationError({"role_arn": "Accounts in aws mode need the role ARN Gantry assumes."})
    if account.role_arn and account.role_arn.split(":")[4] != account.account_id:
        raise ValidationError({"role_arn": "The role ARN belongs to another account id."})


@transaction.atomic
def account_create(*, actor_membership: Membership, **fields: Any) -> AwsAccount:
    require(actor_membership, "account.manage")
    account = AwsAccount(tenant=actor_membership.tenant, **fields)
    _check_account(account)
    _save_validated(account)
    audit_record(
        tenant=account.tenant,
        action="account.created",
        actor=actor_membership.user,
        target=account,
        summary=f"Added AWS account {account}",
        data={"mode": account.mode, "account_id": account.account_id},
    )
    return account


@transaction.atomic
def account_update(*, actor_membership: Membership, account_pk: int, **fields: Any) -> AwsAccount:
    require(actor_membership, "account.manage")
    account = AwsAccount.objects.select_for_update().get(pk=account_pk, tenant=actor_membership.tenant)
    changes = _changes(account, fields)
    for name, value in fields.items():
        setattr(account, name, value)
    _check_account(account)
    _save_validated(account)
    if changes:
        # A config's effective settings come partly from its account: those configs change version too.
        Config.objects.filter(account=account).update(version=F("version") + 1)
        audit_record(
            tenant=account.tenant,
            action="account.updated",
            actor=actor_membership.user,
            target=account,
            data={"changes": changes},
        )
    return account


@transaction.atomic
def account_delete(*, actor_membership: Membership, account_pk: int) -> None:
    require(actor_membership, "account.manage")
    account = AwsAccount.objects.select_for_update().get(pk=account_pk, tenant=actor_membership.tenant)
    if account.configs.exists():
        raise ValidationError("Delete or move this account's configs first.")
    audit_record(
        tenant=account.tenant,
        action="account.deleted",
        actor=actor_membership.user,
        target=account,
        summary=f"Deleted AWS account {account}",
    )
    account.delete()


@transaction.atomic
def account_record_verification(*, account_pk: int, identity: str = "", error: str = "") -> AwsAccount:
    """Called by the verification task: stores the outcome of reaching the account."""
    account = AwsAccount.objects.select_for_update().get(pk=account_pk)
    account.last_verified_at = timezone.now()
    account.last_verified_identity = identity[:2048]
    account.last_verification_error = error
    account.save(update_fields=["last_verified_at", "last_verified_identity", "last_verification_error"])
    audit_record(
        tenant=account.tenant,
        action="account.verified" if not error else "account.verification_failed",
        target=account,
        summary=identity or error[:200],
    )
    return account


# --- configs ---------------------------------------------------------------------------------------


def _check_config(config: Config) -> None:
    if config.account.tenant_id != config.tenant_id:
        raise ValidationError({"account": "Choose one of this tenant's accounts."})
    if config.region_override and config.region_override not in config.account.regions:
        raise ValidationError(
            {"region_override": f"{config.region_override} is not allowed for account {config.account.name}."}
        )


def _lock_config(config_id: int, tenant: Tenant) -> Config:
    return Config.objects.select_for_update().select_related("account").get(pk=config_id, tenant=tenant)


@transaction.atomic
def config_create(*, actor_membership: Membership, **fields: Any) -> Config:
    require(actor_membership, "config.manage")
    config = Config(tenant=actor_membership.tenant, **fields)
    _check_config(config)
    _save_validated(config)
    audit_record(
        tenant=config.tenant,
        action="config.created",
        actor=actor_membership.user,
        target=config,
        summary=f"Created config {config}",
        data={"version": config.version},
    )
    return config


@transaction.atomic
def config_update(*, actor_membership: Membership, config_id: int, **fields: Any) -> Config:
    """Every change bumps the version, which voids approvals given against the old one."""
    require(actor_membership, "config.manage")
    config = _lock_config(config_id, actor_membership.tenant)
    changes = _changes(config, fields)
    if not changes:
        return config
    for name, value in fields.items():
        setattr(config, name, value)
    _check_config(config)
    config.version += 1
    _save_validated(config)
    audit_record(
        tenant=config.tenant,
        action="config.updated",
        actor=actor_membership.user,
        target=config,
        summary=f"{config.name} is now version {config.version}",
        data={"changes": changes, "version": config.version},
    )
    return config


@transaction.atomic
def config_delete(*, actor_membership: Membership, config_id: int) -> None:
    require(actor_membership, "config.manage")
    config = _lock_config(config_id, actor_membership.tenant)
    audit_record(
        tenant=config.tenant,
        action="config.deleted",
        actor=actor_membership.user,
        target=config,
        summary=f"Deleted config {config}",
    )
    config.delete()


@transaction.atomic
def config_set_grant(*, actor_membership: Membership, config_id: int, user_id: int, granted: bool) -> Config:
    """Grant or withdraw one member's use of a restricted config (a django-guardian object permission)."""
    require(actor_membership, "config.manage")
    config = _lock_config(config_id, actor_membership.tenant)
    member = Membership.objects.select_related("user").filter(tenant=config.tenant, user_id=user_id).first()
    if member is None:
        raise ValidationError("Only members of this tenant can be granted a config.")
    (assign_perm if granted else remove_perm)("tenants.use_config", member.user, config)
    audit_record(
        tenant=config.tenant,
        action="config.granted" if granted else "config.grant_revoked",
        actor=actor_membership.user,
        target=config,
        summary=f"{member.user.email} {'may' if granted else 'may no longer'} use {config.name}",
        data={"user": member.user.email},
    )
    return config
