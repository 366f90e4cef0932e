"""Telling people: in-app notifications, email, and an optional per-tenant webhook.

A run awaiting approval notifies the tenant's approvers and admins who may act on its config; other events
(approved, rejected, applied, failed, blocked, stale, expired, interrupted) notify the requester. The
webhook receives every run event as JSON with `X-Gantry-Signature: sha256=<hex>`, an HMAC-SHA256 over
`<timestamp>.<body>` with the tenant's secret (timestamp in `X-Gantry-Timestamp`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from tenants.models import Membership
from tenants.roles import roles_allowed

from .models import Notification, Run, RunKind, TenantWebhook
from .states import RunStatus, label

logger = logging.getLogger(__name__)
S = RunStatus

SIGNATURE_HEADER = "X-Gantry-Signature"
TIMESTAMP_HEADER = "X-Gantry-Timestamp"
EVENT_HEADER = "X-Gantry-Event"


class WebhookError(Exception):
    def __init__(self, message: str, *, retry: bool = False) -> None:
        self.retry = retry
        super().__init__(message)


def approvers_for(run: Run):
    """Users who may approve this run: approver/admin role, and granted the config when it is restricted."""
    from django.contrib.auth import get_user_model

    user_ids = Membership.objects.filter(
        tenant_id=run.tenant_id, role__in=roles_allowed("run.approve"), tenant__is_active=True
    ).values_list("user_id", flat=True)
    users = get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)
    return [u for u in users if Run.objects.for_user(u, "run.approve").filter(pk=run.pk).exists()]


def _message(run: Run, event: str) -> str:
    config = run.config.name
    if run.kind == RunKind.DRIFT and event == S.AWAITING_APPROVAL:
        drifted = (run.plan_summary or {}).get("drifted", 0)
        return (
            f"Drift on {config}: {drifted} resource(s) changed outside Terraform (run #{run.pk}); "
            "reconcile it or accept it"
        )[:500]
    text = {
        S.AWAITING_APPROVAL: f"Run #{run.pk} on {config} awaits your approval",
        S.APPROVED: f"Run #{run.pk} on {config} was approved",
        S.REJECTED: f"Run #{run.pk} on {config} was rejected",
        S.APPLIED: f"Run #{run.pk} on {config} was applied",
        S.FAILED: f"Run #{run.pk} on {config} failed",
        S.BLOCKED: f"Run #{run.pk} on {config} was blocked by a gate",
        S.STALE: f"Run #{run.pk} on {config} is stale and cannot be applied",
        S.EXPIRED: f"Run #{run.pk} on {config}: the approval window passed",
        S.INTERRUPTED: f"Run #{run.pk} on {config} was interrupted (worker lost)",
    }.get(event, f"Run #{run.pk} on {config} is {label(event).lower()}")
    if run.error and event in (S.FAILED, S.BLOCKED, S.STALE):
        text += f": {run.error.splitlines()[0][:200]}"
    return text[:500]


def notify_run(run: Run, *, event: str) -> list[Notification]:
    """Create the notifications for `event`, email them and queue the tenant's webhook."""
    recipients = approvers_for(run) if event == S.AWAITING_APPROVAL else []
    if event != S.AWAITING_APPROVAL and run.requested_by_id and run.requested_by.is_active:
        recipients = [run.requested_by]
    message = _message(run, event)
    created = [
        Notification.objects.create(
            tenant_id=run.tenant_id, user=user, run=run, kind=f"run.{event}", message=message
        )
        for user in recipients
    ]
    emails = [u.email for u in recipients if u.email]
    if emails and event in (S.AWAITING_APPROVAL, S.FAILED, S.BLOCKED, S.INTERRUPTED, S.STALE):
        try:
            send_mail(
                subject=f"[Gantry] {message[:120]}",
                message=f"{message}\n\nRequest: {run.request_text[:500]}\n",
                from_email=None,
                recipient_list=emails,
                fail_silently=False,
            )
        except Exception:
            logger.exception("emailing about run #%s failed", run.pk)
    _queue_webhook(run, event)
    return created


def notification_mark_read(*, user, notification_ids: list[int] | None = None) -> int:
    qs = Notification.objects.for_user(user, "view").filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())


# --- webhooks -----------------------------------------------------------------------------------------


def webhook_payload(run: Run, event: str) -> dict[str, Any]:
    return {
        "event": f"run.{event}",
        "run": {
            "id": run.pk,
            "status": run.status,
            "kind": run.kind,
            "config": run.config.name,
            "env": run.config.env,
            "plan_sha256": run.plan_sha256,
            "error_category": run.error_category,
            "created_at": run.created_at.isoformat(),
        },
        "tenant": run.tenant.slug,
        "sent_at": timezone.now().isoformat(),
    }


def _queue_webhook(run: Run, event: str) -> None:
    hook = TenantWebhook.objects.filter(tenant_id=run.tenant_id, is_active=True).first()
    if hook is None or (hook.events and event not in hook.events):
        return
    from . import tasks

    tasks.dispatch_webhook(tenant_id=run.tenant_id, payload=webhook_payload(run, event))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _check_destination(url: str) -> None:
    """https to public addresses only, unless GANTRY_WEBHOOK_ALLOW_PRIVATE (tests, on-prem)."""
    parts = urllib.parse.urlsplit(url)
    allow_private = bool(getattr(settings, "GANTRY_WEBHOOK_ALLOW_PRIVATE", False))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError("webhook URL must be http(s)")
    if parts.scheme != "https" and not allow_private:
        raise WebhookError("webhook URL must use https")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise WebhookError(f"cannot resolve {parts.hostname}: {exc}", retry=True) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise WebhookError(f"{parts.hostname} resolves to a non-public address")


def deliver_webhook(*, tenant_id: int, payload: dict[str, Any], timeout: float = 10.0) -> str:
    """POST `payload` to the tenant's webhook; records the outcome on the webhook row."""
    hook = TenantWebhook.objects.filter(tenant_id=tenant_id, is_active=True).first()
    if hook is None:
        return "no webhook"
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - scheme checked in _check_destination
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Gantry-Webhook/1",
            EVENT_HEADER: str(payload.get("event", "")),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(hook.secret, timestamp, body),
        },
    )
    status, error = None, ""
    try:
        _check_destination(hook.url)
        opener = urllib.request.build_opener(_NoRedirect)
        with opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except WebhookError as exc:
        error = str(exc)
        _record(hook, status, error)
        raise
    except (urllib.error.URLError, OSError) as exc:
        error = str(getattr(exc, "reason", exc))
    _record(hook, status, error)
    if status is None or status >= 500:
        raise WebhookError(error or f"HTTP {status}", retry=True)
    if status >= 400:
        raise WebhookError(error or f"HTTP {status}")
    return "delivered"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect could point anywhere: refuse it
        return None


def _record(hook: TenantWebhook, status: int | None, error: str) -> None:
    TenantWebhook.objects.filter(pk=hook.pk).update(
        last_delivery_at=timezone.now(), last_status=status, last_error=error[:500]
    )
