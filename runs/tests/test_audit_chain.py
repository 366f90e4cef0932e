"""The audit chain on SQLite, where nothing stops a writer from tampering: `verify_chain` and
`manage.py verify_audit` must notice.

(PostgreSQL's trigger, which refuses the tampering outright, is covered by
portal/tests/test_postgres_integration.py.)
"""

from __future__ import annotations

import io
import itertools
from unittest import mock

import pytest
from django.db import connections

from runs.audit import (
    GENESIS,
    PLATFORM_CHAIN,
    audit_record,
    chain_key,
    event_digest,
    verify_all,
    verify_chain,
)
from runs.management.commands.verify_audit import Command as VerifyAuditCommand
from runs.models import AuditChainHead, AuditEvent
from tenants.tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def record(tenant, n: int, prefix: str = "event") -> list[AuditEvent]:
    return [
        audit_record(tenant=tenant, action="test.event", summary=f"{prefix} {i}") for i in range(1, n + 1)
    ]


def verify_audit(*args: str) -> tuple[int, str, str]:
    """Run `manage.py verify_audit` as the command line does; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    command = VerifyAuditCommand(stdout=out, stderr=err)
    # run_from_argv closes every connection when it ends; keep the test's transaction open.
    with mock.patch.object(connections, "close_all"):
        try:
            command.run_from_argv(["manage.py", "verify_audit", *args])
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def tenants():
    return TenantFactory(slug="acme"), TenantFactory(slug="globex")


def test_each_tenant_has_its_own_chain_numbered_from_one(tenants):
    acme, globex = tenants
    for i in range(3):  # interleaved writes
        audit_record(tenant=acme, action="test.event", summary=f"acme {i}")
        if i < 2:
            audit_record(tenant=globex, action="test.event", summary=f"globex {i}")

    for tenant, count in ((acme, 3), (globex, 2)):
        events = list(AuditEvent.objects.filter(tenant=tenant).order_by("seq"))
        assert [e.seq for e in events] == list(range(1, count + 1))
        assert {e.chain for e in events} == {str(tenant.pk)} == {chain_key(tenant)}
        assert events[0].prev_hash == GENESIS
        for previous, event in itertools.pairwise(events):
            assert event.prev_hash == previous.hash  # each link names the one before it
        for event in events:
            assert event.hash == event_digest(event)
            assert len(event.hash) == 64
        head = AuditChainHead.objects.get(chain=str(tenant.pk))
        assert (head.seq, head.last_hash) == (count, events[-1].hash)
        report = verify_chain(str(tenant.pk))
        assert report.ok and report.checked == count

    assert all(report.ok for report in verify_all())


def test_identical_events_still_get_distinct_hashes(tenants):
    acme, _ = tenants
    first, second = (audit_record(tenant=acme, action="same", summary="same") for _ in range(2))
    assert first.hash != second.hash


def test_the_platform_chain_holds_events_without_a_tenant():
    events = [audit_record(tenant=None, action="platform.event", summary=f"p{i}") for i in range(3)]
    assert {e.chain for e in events} == {PLATFORM_CHAIN}
    assert all(e.tenant_id is None for e in events)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS and events[2].prev_hash == events[1].hash
    assert verify_chain(PLATFORM_CHAIN).ok
    code, out, _ = verify_audit("--chain", "platform")
    assert code == 0
    assert "chain platform: ok (3 events)" in out


def test_a_user_without_tenants_is_audited_on_the_platform_chain(tenants):
    from runs.audit import audit_record_for_user_tenants

    user = UserFactory()
    audit_record_for_user_tenants(user=user, action="auth.signed_in")
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.chain == PLATFORM_CHAIN and event.actor == user


@pytest.mark.parametrize(
    "change",
    [
        {"summary": "nothing to see here"},
        {"data": {"approved": True}},
        {"action": "run.approved"},
        {"request_id": "forged"},
    ],
)
def test_editing_a_row_is_caught_at_that_seq(tenants, change):
    acme, globex = tenants
    events = record(acme, 4)
    record(globex, 2)
    AuditEvent.objects.filter(pk=events[1].pk).update(**change)  # SQLite lets it through

    report = verify_chain(str(acme.pk))
    assert not report.ok
    assert (report.broken_at, report.checked) == (2, 1)
    assert report.reason == "content does not match its hash"
    assert verify_chain(str(globex.pk)).ok  # other tenants' chains are unaffected


def test_rehashing_an_edited_row_breaks_the_next_link(tenants):
    """A forger who recomputes the edited row's own hash is caught by the row after it."""
    acme, _ = tenants
    events = record(acme, 3)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.summary = "forged"
    AuditEvent.objects.filter(pk=forged.pk).update(summary=forged.summary, hash=event_digest(forged))

    report = verify_chain(str(acme.pk))
    assert (report.broken_at, report.reason) == (3, "previous-hash link does not match")


def test_deleting_a_middle_row_is_caught(tenants):
    acme, _ = tenants
    events = record(acme, 5)
    AuditEvent.objects.filter(pk=events[2].pk).delete()

    report = verify_chain(str(acme.pk))
    assert (report.broken_at, report.checked, report.reason) == (3, 2, "missing event #3")


def test_deleting_the_newest_row_is_caught_by_the_head(tenants):
    acme, _ = tenants
    events = record(acme, 3)
    AuditEvent.objects.filter(pk=events[-1].pk).delete()

    report = verify_chain(str(acme.pk))
    assert (report.broken_at, report.reason) == (3, "head says 3 events, found 2")


def test_verify_audit_exits_zero_when_every_chain_is_intact(tenants):
    acme, globex = tenants
    record(acme, 3)
    record(globex, 1)
    audit_record(tenant=None, action="platform.event")

    code, out, err = verify_audit()
    assert code == 0, out + err
    assert f"chain {acme.pk}: ok (3 events)" in out
    assert f"chain {globex.pk}: ok (1 events)" in out
    assert "chain platform: ok (1 events)" in out
    assert "3 chain(s) verified" in out
    assert err == ""


def test_verify_audit_exits_non_zero_naming_the_first_broken_link(tenants):
    acme, globex = tenants
    events = record(acme, 4)
    record(globex, 2)
    AuditEvent.objects.filter(pk=events[2].pk).update(summary="tampered")

    code, out, err = verify_audit()
    assert code == 1
    assert f"chain {acme.pk}: BROKEN at event #3: content does not match its hash (2 events verified" in out
    assert f"chain {globex.pk}: ok (2 events)" in out
    assert "CommandError: 1 audit chain(s) broken" in err

    code, out, _ = verify_audit("--chain", str(globex.pk))
    assert code == 0  # --chain checks just that chain

    code, out, _ = verify_audit("--chain", str(acme.pk))
    assert code == 1
    assert "BROKEN at event #3" in out


def test_verify_audit_reports_a_deleted_row_as_missing(tenants):
    acme, _ = tenants
    events = record(acme, 3)
    AuditEvent.objects.filter(pk=events[1].pk).delete()

    code, out, _ = verify_audit()
    assert code == 1
    assert f"chain {acme.pk}: BROKEN at event #2: missing event #2" in out
