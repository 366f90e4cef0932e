"""What the operator commands (`tool`, `approve`, `apply`) share: finding the member they act as, and
printing results. A command is the platform's own operator, but it acts AS the named user: the same
services, the same role checks and grants, the same audit as that user in the portal."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError

from runs.approvals import RunStale
from runs.states import IllegalTransition
from tenants.models import Tenant


def user_by_email(email: str):
    email = (email or "").strip()
    if not email:
        raise CommandError("Name the user to act as with --user EMAIL.")
    user = get_user_model().objects.filter(email__iexact=email).first()
    if user is None:
        raise CommandError(f"No user {email}.")
    if not user.is_active:
        raise CommandError(f"User {email} is deactivated.")
    return user


def tenant_by_slug(slug: str) -> Tenant:
    slug = (slug or "").strip()
    if not slug:
        raise CommandError("Name the tenant with --tenant SLUG.")
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"No tenant {slug}.")
    return tenant


def service_error(exc: Exception) -> CommandError | None:
    """A refusal from a run service as the message a person reads; None for anything unexpected."""
    if isinstance(exc, ValidationError):
        return CommandError(" ".join(exc.messages))
    if isinstance(exc, PermissionDenied):
        return CommandError(str(exc) or "Not allowed.")
    if isinstance(exc, IllegalTransition | RunStale):
        return CommandError(str(exc))
    return None


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def as_text(value: Any, indent: int = 0) -> str:
    """A nested result as indented `key: value` lines, for people (`--json` gives the exact structure)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines += [f"{pad}{key}:", as_text(item, indent + 1)]
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]"
        lines = []
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = as_text(item, indent + 1).splitlines()
                lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return str(value)
