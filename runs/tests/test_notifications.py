"""Notifications: approvers hear about runs awaiting approval, requesters about outcomes; the webhook is
signed with HMAC-SHA256 (checked against a local http.server on loopback)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from runs.models import Notification, TenantWebhook
from runs.notifications import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookError,
    deliver_webhook,
    notify_run,
    verify_signature,
    webhook_payload,
)
from runs.selectors import notifications_for_user
from runs.states import RunStatus
from runs.tests.factories import RunFactory, planned_run

S = RunStatus


def test_awaiting_approval_notifies_approvers_and_admins(own, other):
    run = planned_run(own)
    created = notify_run(run, event=S.AWAITING_APPROVAL)
    assert {n.user for n in created} == {own.user("approver"), own.user("admin")}
    assert all(n.tenant == own.tenant for n in created)
    assert sorted(mail.outbox[0].to) == sorted([own.user("approver").email, own.user("admin").email])
    assert notifications_for_user(other.user("admin")).count() == 0


def test_restricted_config_notifies_only_those_who_may_approve(own):
    own.prod.restricted = True
    own.prod.save()
    run = planned_run(own, env="prod")
    created = notify_run(run, event=S.AWAITING_APPROVAL)
    assert [n.user for n in created] == [own.user("admin")]


def test_failure_notifies_the_requester(own):
    run = RunFactory(
        config=own.dev, status=S.FAILED, requested_by=own.user("operator"), error="terraform said no"
    )
    created = notify_run(run, event=S.FAILED)
    assert [n.user for n in created] == [own.user("operator")]
    assert "terraform said no" in created[0].message
    assert mail.outbox and mail.outbox[0].to == [own.user("operator").email]


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 204

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.status = [], 204
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_is_signed(own, receiver, settings):
    settings.GANTRY_WEBHOOK_ALLOW_PRIVATE = True
    TenantWebhook.objects.create(tenant=own.tenant, url=receiver, secret="s3cret")
    run = planned_run(own)
    assert (
        deliver_webhook(tenant_id=own.tenant.pk, payload=webhook_payload(run, "awaiting_approval"))
        == "delivered"
    )
    headers, body = Receiver.received[0]
    assert verify_signature("s3cret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature("other", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["run"]["id"] == run.pk and json.loads(body)["tenant"] == own.tenant.slug
    hook = TenantWebhook.objects.get()
    assert hook.last_status == 204 and hook.last_error == ""


def test_webhook_errors_are_recorded_and_retryable(own, receiver, settings):
    settings.GANTRY_WEBHOOK_ALLOW_PRIVATE = True
    TenantWebhook.objects.create(tenant=own.tenant, url=receiver, secret="s")
    Receiver.status = 503
    with pytest.raises(WebhookError) as err:
        deliver_webhook(tenant_id=own.tenant.pk, payload={"event": "x"})
    assert err.value.retry and TenantWebhook.objects.get().last_status == 503
    Receiver.status = 404
    with pytest.raises(WebhookError) as err:
        deliver_webhook(tenant_id=own.tenant.pk, payload={"event": "x"})
    assert not err.value.retry


def test_webhook_refuses_private_addresses_by_default(own, receiver):
    TenantWebhook.objects.create(tenant=own.tenant, url=receiver.replace("http:", "https:"), secret="s")
    with pytest.raises(WebhookError, match="non-public"):
        deliver_webhook(tenant_id=own.tenant.pk, payload={"event": "x"})
    assert Receiver.received == []


def test_notify_queues_the_webhook(own, sent):
    TenantWebhook.objects.create(
        tenant=own.tenant, url="https://example.test/hook", secret="s", events=["failed"]
    )
    run = RunFactory(config=own.dev, status=S.FAILED, requested_by=own.user("operator"))
    notify_run(run, event=S.FAILED)
    notify_run(run, event=S.APPLIED)  # not subscribed
    assert [name for name, _ in sent] == ["webhook"]
    assert sent[0][1]["payload"]["event"] == "run.failed"


def test_mark_read(own):
    from runs.notifications import notification_mark_read

    run = planned_run(own)
    notify_run(run, event=S.AWAITING_APPROVAL)
    approver = own.user("approver")
    assert notification_mark_read(user=approver) == 1
    assert Notification.objects.filter(user=approver, read_at__isnull=True).count() == 0
    assert Notification.objects.filter(user=own.user("admin"), read_at__isnull=True).count() == 1
