"""X-Request-ID: a sane incoming id is echoed, anything else is replaced by a generated one, and the id
(with the client address) lands on every audit event written while the request runs."""

from __future__ import annotations

import logging
import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from portal.logging import RequestIdFilter
from portal.middleware import RequestIdMiddleware
from runs.audit import audit_record
from runs.models import AuditEvent
from tenants.models import Tenant
from tenants.tests.factories import UserFactory

GENERATED = re.compile(r"^[0-9a-f]{32}$")

pytestmark = pytest.mark.django_db


def test_a_sane_request_id_is_echoed(client):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="lb-7f3a:9c2e.01_x")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "lb-7f3a:9c2e.01_x"


def test_a_missing_request_id_is_generated_fresh_each_time(client):
    first = client.get(reverse("healthz"))["X-Request-ID"]
    second = client.get(reverse("healthz"))["X-Request-ID"]
    assert GENERATED.match(first) and GENERATED.match(second)
    assert first != second


@pytest.mark.parametrize(
    "bad",
    [
        "short",  # fewer than 8 characters
        "x" * 65,  # longer than 64
        "has spaces in it",
        "evil\r\nSet-Cookie: a=b",  # header injection
        "<script>alert(1)</script>",
        "ünïcödé-request-id",
        "",
    ],
)
def test_a_bad_request_id_is_replaced(client, bad):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID=bad)
    assert response.status_code == 200
    assert GENERATED.match(response["X-Request-ID"])
    assert response["X-Request-ID"] != bad


def test_audit_events_written_during_a_request_carry_its_id(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("tenant_create"), {"name": "Request Corp"}, HTTP_X_REQUEST_ID="req-audit-0001"
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-audit-0001"
    event = AuditEvent.objects.get(action="tenant.created")
    assert event.tenant == Tenant.objects.get(name="Request Corp")
    assert event.request_id == "req-audit-0001"
    assert event.ip_address == "127.0.0.1"
    assert event.actor == user


def test_a_replaced_id_is_the_one_the_audit_event_carries(client):
    client.force_login(UserFactory())
    response = client.post(reverse("tenant_create"), {"name": "Bad Header"}, HTTP_X_REQUEST_ID="no good")
    event = AuditEvent.objects.get(action="tenant.created")
    assert GENERATED.match(event.request_id)
    assert event.request_id == response["X-Request-ID"]


def test_the_request_context_ends_with_the_request(client):
    client.get(reverse("healthz"), HTTP_X_REQUEST_ID="req-finished-01")
    event = audit_record(tenant=None, action="test.outside_request")
    assert event.request_id == ""
    assert event.ip_address is None


def test_log_records_carry_the_request_id():
    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record.request_id)

    def view(request):
        logging.getLogger("gantry.test").warning("inside the view")
        return HttpResponse("ok")

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("gantry.test")
    logger.addHandler(handler)
    try:
        RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="req-logged-0001"))
        logger.warning("after the request")
    finally:
        logger.removeHandler(handler)
    assert seen == ["req-logged-0001", "-"]
