"""Appending to and verifying the per-tenant, sha256-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from portal import request_context

from .models import AuditChainHead, AuditEvent

PLATFORM_CHAIN = "platform"
GENESIS = "0" * 64


def chain_key(tenant) -> str:
    return str(tenant.pk) if tenant is not None else PLATFORM_CHAIN


def _json_safe(data: dict | None) -> dict:
    return json.loads(json.dumps(data or {}, default=str))


def event_digest(event: AuditEvent) -> str:
    """sha256 over the previous link and every field a reader relies on."""
    body = {
        "chain": event.chain,
        "seq": event.seq,
        "tenant": event.tenant_id,
        "created_at": event.created_at.isoformat(),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "summary": event.summary,
        "data": event.data,
        "request_id": event.request_id,
        "ip_address": event.ip_address,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{event.prev_hash}:{canonical}".encode()).hexdigest()


def event_scope(target: models.Model | None) -> tuple[int | None, int | None]:
    """(run id, config id) an event about `target` belongs to: a run, a row of a run (approval,
    artifact, gate result, lock), or a config."""
    from tenants.models import Config

    from .models import Run

    if isinstance(target, Run):
        return target.pk, target.config_id
    if isinstance(target, Config):
        return None, target.pk
    run_id = getattr(target, "run_id", None)
    if run_id is None:
        return None, None
    run = target._meta.get_field("run").get_cached_value(target, default=None)
    if run is not None:  # the service that writes the event has usually loaded the run already
        return run_id, run.config_id
    # The target's own run, so the same tenant: no scoping to apply, only its config to read.
    return run_id, Run.objects.filter(pk=run_id).values_list("config_id", flat=True).first()


def audit_record(
    *,
    tenant,
    action: str,
    actor=None,
    target: models.Model | None = None,
    summary: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain, inside the caller's transaction when there is one."""
    ctx = request_context.current()
    chain = chain_key(tenant)
    run_id, config_id = event_scope(target)
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(chain=chain)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        event = AuditEvent(
            tenant=tenant,
            chain=chain,
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor=actor if actor is not None and actor.is_authenticated else None,
            actor_label=(getattr(actor, "email", "") or str(actor)) if actor is not None else "",
            action=action,
            object_type=target._meta.label_lower if target is not None else "",
            object_id=str(target.pk) if target is not None else "",
            summary=summary[:500],
            data=_json_safe(data),
            request_id=ctx.request_id,
            ip_address=ctx.ip_address,
            prev_hash=head.last_hash,
            run_id=run_id,
            config_id=config_id,
        )
        event.hash = event_digest(event)
        event.save(force_insert=True)
        head.seq, head.last_hash = event.seq, event.hash
        head.save(update_fields=["seq", "last_hash"])
    return event


def audit_record_for_user_tenants(*, user, action: str, summary: str = "", data: dict | None = None) -> None:
    """Events about a person rather than a tenant (sign-in, MFA) go to each tenant they belong to."""
    tenants = [m.tenant for m in user.memberships.select_related("tenant")] if user.pk else []
    for tenant in tenants or [None]:
        audit_record(tenant=tenant, action=action, actor=user, target=user, summary=summary, data=data)


@dataclass(frozen=True)
class ChainReport:
    chain: str
    checked: int
    broken_at: int | None = None  # seq of the first bad link
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(chain: str) -> ChainReport:
    """Walk one chain in order; report the first event whose link or content does not match."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    events: Iterable[AuditEvent] = AuditEvent.objects.filter(chain=chain).order_by("seq").iterator(2000)
    for event in events:
        if event.seq != expected_seq:
            return ChainReport(chain, checked, expected_seq, f"missing event #{expected_seq}")
        if event.prev_hash != expected_prev:
            return ChainReport(chain, checked, event.seq, "previous-hash link does not match")
        if event_digest(event) != event.hash:
            return ChainReport(chain, checked, event.seq, "content does not match its hash")
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = AuditChainHead.objects.filter(chain=chain).first()
    if head is not None and head.seq != checked:
        return ChainReport(chain, checked, checked + 1, f"head says {head.seq} events, found {checked}")
    return ChainReport(chain, checked)


def verify_all() -> list[ChainReport]:
    chains = AuditChainHead.objects.order_by("chain").values_list("chain", flat=True)
    return [verify_chain(chain) for chain in chains]
