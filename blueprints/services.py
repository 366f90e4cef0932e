"""Writes to blueprints. Each service runs in one transaction, locks what it changes and appends the
audit event in the same transaction. Versions are only ever created (and approved once), never edited.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.text import slugify

from blueprints.curated import curated
from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion
from blueprints.stacks import STACKS, parameter_errors, parameter_schema
from runs.audit import audit_record
from tenants.models import Membership
from tenants.roles import role_allows

# Keys of a run's composition spec that describe where it ran, not what it is; a blueprint drops them.
PLACEMENT_KEYS = ("region", "account_id", "workspace")
SYSTEM_TAG_PREFIX = "gantry:"


def spec_sha256(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _require(user, tenant, action: str) -> None:
    if tenant is None:
        if not (user is not None and user.is_authenticated and user.is_superuser):
            raise PermissionDenied("only platform administrators change platform blueprints")
        return
    if user is None or not user.is_authenticated:
        raise PermissionDenied("sign in first")
    role = Membership.objects.filter(tenant=tenant, user=user, tenant__is_active=True).values_list(
        "role", flat=True
    )
    if not role_allows(next(iter(role), None), action):
        raise PermissionDenied(f"your role in {tenant} does not allow {action}")


def blueprint_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The portable part of a run's composition spec: stack, parameters without the deployment's name
    and platform inputs, and the requester's tags (system tags dropped). Raises ValidationError."""
    stack_name = spec.get("stack")
    if stack_name not in STACKS:
        raise ValidationError(f"unknown stack {stack_name!r}")
    stack = STACKS[stack_name]
    parameters = {
        key: value
        for key, value in (spec.get("parameters") or {}).items()
        if key != stack.name_parameter and key not in stack.platform_inputs
    }
    errors = parameter_errors(stack_name, parameters)
    if errors:
        raise ValidationError("; ".join(errors))
    tags = {
        str(key): str(value)
        for key, value in (spec.get("tags") or {}).items()
        if not str(key).startswith(SYSTEM_TAG_PREFIX)
    }
    return {"stack": stack_name, "parameters": parameters, "tags": tags}


def _unique_slug(tenant, name: str) -> str:
    base = slugify(name)[:70] or "blueprint"
    taken = set(Blueprint.objects.filter(tenant=tenant, slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def blueprint_create_from_spec(
    *,
    tenant,
    user,
    spec: dict[str, Any],
    name: str,
    description: str = "",
    source_run_id: int | None = None,
    source_sha256: str | None = None,
) -> Blueprint:
    """ "Save as blueprint": a draft tenant blueprint with version 1 holding the portable part of
    ``spec`` (see ``blueprint_spec``). ``source_sha256`` is the rendered source's digest when known,
    else the digest of the stored spec."""
    _require(user, tenant, "blueprint.create")
    name = (name or "").strip()
    if not name:
        raise ValidationError("a blueprint needs a name")
    portable = blueprint_spec(spec)
    stack = STACKS[portable["stack"]]
    with transaction.atomic():
        blueprint = Blueprint.objects.create(
            tenant=tenant,
            name=name[:120],
            slug=_unique_slug(tenant, name),
            description=description,
            stack=stack.name,
            resource_types=sorted(stack.resource_types),
            parameter_schema=parameter_schema(stack.name),
            defaults=portable["parameters"],
            status=BlueprintStatus.DRAFT,
            source_run_id=source_run_id,
            created_by=user,
        )
        version = BlueprintVersion.objects.create(
            blueprint=blueprint,
            number=1,
            spec=portable,
            source_sha256=source_sha256 or spec_sha256(portable),
            created_by=user,
        )
        audit_record(
            tenant=tenant,
            action="blueprint.created",
            actor=user,
            target=blueprint,
            summary=f"Saved blueprint {blueprint.name} ({stack.name})",
            data={"version": version.number, "sha256": version.source_sha256, "run_id": source_run_id},
        )
    return blueprint


def blueprint_add_version(
    *, blueprint: Blueprint, user, spec: dict[str, Any], source_sha256: str | None = None
) -> BlueprintVersion:
    """A new (unapproved) version; earlier versions, approved or not, stay as they are."""
    _require(user, blueprint.tenant, "blueprint.create")
    portable = blueprint_spec(spec)
    if portable["stack"] != blueprint.stack:
        raise ValidationError(f"this blueprint is a {blueprint.stack}; the spec is a {portable['stack']}")
    with transaction.atomic():
        locked = Blueprint.objects.select_for_update().get(pk=blueprint.pk)
        number = (locked.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = BlueprintVersion.objects.create(
            blueprint=locked,
            number=number,
            spec=portable,
            source_sha256=source_sha256 or spec_sha256(portable),
            created_by=user,
        )
        audit_record(
            tenant=locked.tenant,
            action="blueprint.version_added",
            actor=user,
            target=locked,
            summary=f"Added version {number} to blueprint {locked.name}",
            data={"version": number, "sha256": version.source_sha256},
        )
    return version


def blueprint_approve(
    *, blueprint: Blueprint, user, version: BlueprintVersion | None = None
) -> BlueprintVersion:
    """Approve ``version`` (default: the latest). The blueprint becomes reusable with the approved
    version's parameters as its defaults. Refuses self-approval when the tenant forbids it."""
    _require(user, blueprint.tenant, "blueprint.approve")
    with transaction.atomic():
        locked = Blueprint.objects.select_for_update().get(pk=blueprint.pk)
        target = (
            locked.versions.select_for_update().get(pk=version.pk)
            if version is not None
            else locked.versions.select_for_update().order_by("-number").first()
        )
        if target is None:
            raise ValidationError("this blueprint has no version to approve")
        if target.approved_at is not None:
            raise ValidationError(f"version {target.number} is already approved")
        tenant = locked.tenant
        if tenant is not None and tenant.forbid_self_approval and target.created_by_id == user.pk:
            raise PermissionDenied("you cannot approve a blueprint version you created")
        target.approved_by = user
        target.approved_at = timezone.now()
        target.save(update_fields=["approved_by", "approved_at"])
        latest_approved = locked.versions.filter(approved_at__isnull=False).order_by("-number").first()
        locked.status = BlueprintStatus.APPROVED
        locked.defaults = dict(latest_approved.spec.get("parameters", {}))
        locked.save(update_fields=["status", "defaults", "updated_at"])
        audit_record(
            tenant=tenant,
            action="blueprint.approved",
            actor=user,
            target=locked,
            summary=f"Approved blueprint {locked.name} version {target.number}",
            data={"version": target.number, "sha256": target.source_sha256},
        )
    return target


def blueprint_record_use(
    *, blueprint: Blueprint, user=None, tenant=None, run_id: int | None = None
) -> Blueprint:
    """Count one reuse of an approved blueprint (by a run, when given). The audit event goes to the
    blueprint's tenant, or for a platform blueprint to ``tenant`` (the tenant reusing it)."""
    with transaction.atomic():
        locked = Blueprint.objects.select_for_update().get(pk=blueprint.pk)
        if locked.status != BlueprintStatus.APPROVED:
            raise ValidationError("only approved blueprints can be reused")
        Blueprint.objects.filter(pk=locked.pk).update(usage_count=F("usage_count") + 1)
        locked.refresh_from_db(fields=["usage_count"])
        if locked.tenant is not None:
            if tenant is not None and tenant.pk != locked.tenant_id:
                raise PermissionDenied("this blueprint belongs to another tenant")
            tenant = locked.tenant
        audit_record(
            tenant=tenant,
            action="blueprint.used",
            actor=user,
            target=locked,
            summary=f"Reused blueprint {locked.name}",
            data={"run_id": run_id, "usage_count": locked.usage_count},
        )
    return locked


def blueprint_load_curated(*, user=None) -> dict[str, list[str]]:
    """Create or refresh the platform blueprints from ``data/curated.json``. Idempotent: an unchanged
    entry is left alone; a changed one gets a new, approved version (earlier versions stay)."""
    report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    now = timezone.now()
    for entry in curated():
        stack = STACKS[entry["stack"]]
        spec = {"stack": stack.name, "parameters": entry["defaults"], "tags": {}}
        sha = spec_sha256(spec)
        with transaction.atomic():
            blueprint = Blueprint.objects.select_for_update().filter(tenant=None, slug=entry["slug"]).first()
            fields = {
                "name": entry["name"],
                "description": entry["description"],
                "stack": stack.name,
                "resource_types": sorted(entry.get("resource_types") or stack.resource_types),
                "parameter_schema": parameter_schema(stack.name),
                "defaults": entry["defaults"],
                "status": BlueprintStatus.APPROVED,
            }
            if blueprint is None:
                try:
                    with transaction.atomic():
                        blueprint = Blueprint.objects.create(tenant=None, slug=entry["slug"], **fields)
                except IntegrityError:  # loaded concurrently
                    report["unchanged"].append(entry["slug"])
                    continue
                number, outcome = 1, "created"
            else:
                latest = blueprint.latest_version()
                same_meta = all(getattr(blueprint, key) == value for key, value in fields.items())
                if latest is not None and latest.source_sha256 == sha and same_meta:
                    report["unchanged"].append(entry["slug"])
                    continue
                for key, value in fields.items():
                    setattr(blueprint, key, value)
                blueprint.save()
                if latest is not None and latest.source_sha256 == sha:
                    number = 0
                else:
                    number = (latest.number if latest else 0) + 1
                outcome = "updated"
            if number:
                BlueprintVersion.objects.create(
                    blueprint=blueprint,
                    number=number,
                    spec=spec,
                    source_sha256=sha,
                    created_by=user if user is not None and user.is_authenticated else None,
                    approved_at=now,
                )
            audit_record(
                tenant=None,
                action=f"blueprint.curated_{outcome}",
                actor=user,
                target=blueprint,
                summary=f"Curated blueprint {blueprint.slug} {outcome}",
                data={"version": number, "sha256": sha},
            )
            report[outcome].append(entry["slug"])
    return report


def blueprint_save_from_run(*, user, run_id: int, name: str, description: str = "") -> Blueprint:
    """ "Save as blueprint" from an applied change run (operator and up): a draft blueprint of the run's
    tenant whose version 1 holds the portable part of the run's spec and the rendered source's sha256.
    Another tenant's run raises ``Run.DoesNotExist`` (404) and changes nothing; a role that may not
    create blueprints raises PermissionDenied."""
    from runs.models import Run, RunKind
    from runs.states import RunStatus

    with transaction.atomic():
        run = Run.objects.for_user(user, "view").select_related("tenant").select_for_update().get(pk=run_id)
        _require(user, run.tenant, "blueprint.create")
        if run.status != RunStatus.APPLIED or run.kind != RunKind.CHANGE:
            raise ValidationError(
                f"Only an applied change can be saved as a blueprint; run #{run.pk} is {run.get_status_display()}."
            )
        if (run.spec or {}).get("stack") not in STACKS:
            raise ValidationError(f"Run #{run.pk} did not apply a curated stack; there is nothing to save.")
        return blueprint_create_from_spec(
            tenant=run.tenant,
            user=user,
            spec=run.spec,
            name=name,
            description=description,
            source_run_id=run.pk,
            source_sha256=run.source_sha256 or None,
        )
