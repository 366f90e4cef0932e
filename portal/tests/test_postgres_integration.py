"""Against a real PostgreSQL: the whole migration set, the append-only audit trigger, and a chain that two
concurrent writers cannot fork.

Everything Django-side runs in `manage.py` subprocesses with DATABASE_URL pointing at a fresh database;
the test itself talks to PostgreSQL with psycopg only (pytest-django's test database is not involved).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import psycopg
import pytest

from portal.testing import services

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SEED = """
from runs.audit import audit_record
from tenants.models import Tenant

tenant = Tenant.objects.create(name="Trigger Corp", slug="trigger-corp")
ids = [audit_record(tenant=tenant, action="test.event", summary=f"event {i}").pk for i in range(3)]
audit_record(tenant=None, action="test.platform", summary="a platform event")
race = Tenant.objects.create(name="Race Corp", slug="race")
emit({"tenant": tenant.pk, "ids": ids, "race": race.pk})
"""

WRITER = """
import os
import time
from pathlib import Path

from runs.audit import audit_record
from tenants.models import Tenant

tenant = Tenant.objects.get(slug=os.environ["T_SLUG"])
writer, count = os.environ["T_WRITER"], int(os.environ["T_COUNT"])
Path(os.environ["T_READY"]).touch()
go, deadline = Path(os.environ["T_GO"]), time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        raise SystemExit("no start signal")
    time.sleep(0.002)
for i in range(count):
    audit_record(tenant=tenant, action="test.concurrent", summary=f"{writer} #{i}", data={"writer": writer})
    time.sleep(0.003)
emit({"writer": writer, "done": count})
"""


@pytest.fixture(scope="module")
def seeded(postgres_dsn, migrated_postgres_template, tmp_path_factory):
    """A migrated database shared by this module's tests: one tenant with three events, one platform
    event, and a tenant without events for the concurrency test. Django talks to it only through
    `manage.py` subprocesses."""
    dsn = services.create_database(postgres_dsn, template=migrated_postgres_template)
    env = {"DATABASE_URL": dsn, "GANTRY_VAR_DIR": str(tmp_path_factory.mktemp("var"))}
    try:
        yield {"dsn": dsn, "env": env, **services.manage_shell(SEED, env)}
    finally:
        services.drop_database(postgres_dsn, dsn.rsplit("/", 1)[1])


def test_every_migration_applies_to_a_fresh_database(seeded):
    # The session's template database was created empty and migrated with `manage.py migrate`.
    result = services.run_manage(["migrate", "--check", "--noinput"], seeded["env"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr  # nothing left unapplied
    with psycopg.connect(seeded["dsn"]) as conn:
        triggers = {
            row[0]
            for row in conn.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'runs_auditevent'::regclass AND NOT tgisinternal"
            )
        }
    assert triggers == {"runs_auditevent_no_update_delete", "runs_auditevent_no_truncate"}


def _snapshot(conn):
    return conn.execute(
        "SELECT id, chain, seq, summary, data, prev_hash, hash FROM runs_auditevent ORDER BY id"
    ).fetchall()


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE runs_auditevent SET summary = 'tampered' WHERE id = %(id)s", "UPDATE"),
        ("UPDATE runs_auditevent SET summary = summary", "UPDATE"),
        ("DELETE FROM runs_auditevent WHERE id = %(id)s", "DELETE"),
        ("DELETE FROM runs_auditevent", "DELETE"),
        ("TRUNCATE runs_auditevent", "TRUNCATE"),
    ],
)
def test_the_trigger_refuses_to_change_audit_rows(seeded, statement, operation):
    with psycopg.connect(seeded["dsn"], autocommit=True) as conn:
        before = _snapshot(conn)
        assert len(before) >= 4
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=rf"append-only \({operation} refused\)"
        ):
            conn.execute(statement, {"id": seeded["ids"][1]})
        assert _snapshot(conn) == before


def test_verify_audit_passes_on_the_untouched_chains(seeded):
    with psycopg.connect(seeded["dsn"], autocommit=True) as conn:
        for statement in ("UPDATE runs_auditevent SET summary = 'x'", "DELETE FROM runs_auditevent"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    verified = services.run_manage(["verify_audit"], seeded["env"], check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"chain {seeded['tenant']}: ok (3 events)" in verified.stdout
    assert "chain platform: ok (1 events)" in verified.stdout
    assert "chain(s) verified" in verified.stdout


def test_concurrent_writers_never_fork_the_chain(seeded, tmp_path):
    """Two processes append 50 events each to one tenant's chain at once: seq 1..100, links intact."""
    dsn, env, tenant = seeded["dsn"], seeded["env"], seeded["race"]
    go = tmp_path / "go"
    writers = []
    for name in ("a", "b"):
        ready = tmp_path / f"ready-{name}"
        writer_env = services.child_env(
            {
                **env,
                "T_SLUG": "race",
                "T_WRITER": name,
                "T_COUNT": "50",
                "T_READY": str(ready),
                "T_GO": str(go),
            }
        )
        prelude = (
            f"import json as _json\nRESULT_MARKER = {services.RESULT_MARKER!r}\n"
            "def emit(value):\n    print(RESULT_MARKER + _json.dumps(value), flush=True)\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", prelude + WRITER],
            cwd=services.BASE_DIR,
            env=writer_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        writers.append((proc, ready))
    try:
        deadline = time.monotonic() + 120
        while not all(ready.exists() for _, ready in writers):
            assert all(proc.poll() is None for proc, _ in writers), [p.communicate() for p, _ in writers]
            assert time.monotonic() < deadline, "writers did not start"
            time.sleep(0.02)
        go.touch()
        for proc, _ in writers:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"writer failed:\n{out}\n{err}"
    finally:
        for proc, _ in writers:
            services.stop_process(proc, timeout=5)

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT seq, data->>'writer' FROM runs_auditevent WHERE chain = %s ORDER BY seq", (str(tenant),)
        ).fetchall()
        head = conn.execute("SELECT seq FROM runs_auditchainhead WHERE chain = %s", (str(tenant),)).fetchone()
    assert [seq for seq, _ in rows] == list(range(1, 101))
    assert head == (100,)
    order = [writer for _, writer in rows]
    assert order.count("a") == order.count("b") == 50
    switches = sum(1 for previous, current in itertools.pairwise(order) if previous != current)
    assert switches >= 2, f"the writers did not interleave, so the test proved nothing: {order}"

    verified = services.run_manage(["verify_audit", "--chain", str(tenant)], env, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"chain {tenant}: ok (100 events)" in verified.stdout


EXPORT = """
import csv
import io
import json

from django.db import connection

from iac.redaction import redact, register_secret
from runs import exports
from runs.audit import audit_record
from runs.models import AuditEvent
from tenants.models import Tenant

# Tiny blocks and cursor chunks: the read-ahead helper pulls dozens of times over 60 events.
exports.BLOCK_ROWS, exports.CHUNK_SIZE = 7, 5
register_secret("pg-export-secret-value")
tenant = Tenant.objects.create(name="Export Corp", slug="export-corp")
texts = ["plain", "a, comma", 'a "quote"', "two\\nlines", "=HYPERLINK(1)", "-1", "@x", "tab\\tin",
         "uses pg-export-secret-value", "₹1,500/day"]
for i in range(60):
    audit_record(tenant=tenant, action=f"export.{i % 3}", summary=texts[i % len(texts)] + f" #{i}",
                 data={"i": i, "note": texts[(i + 1) % len(texts)]} if i % 4 else {})
events = AuditEvent.objects.filter(tenant=tenant)

expected = io.StringIO()
writer = csv.writer(expected)
writer.writerow(exports.EVENT_COLUMNS)
with connection.cursor() as cursor:
    cursor.execute("SELECT id, data::text FROM runs_auditevent WHERE tenant_id = %s", [tenant.pk])
    data_text = dict(cursor.fetchall())
for e in events.order_by("-created_at", "-id"):
    cells = [e.pk, tenant.slug, e.created_at.isoformat(), e.actor_label, e.action, e.object_type,
             e.object_id, redact(e.summary), e.request_id, e.ip_address,
             "" if data_text[e.pk] == "{}" else redact(data_text[e.pk]), e.seq, e.hash]
    writer.writerow([exports.safe_cell(c) for c in cells])
produced = b"".join(exports.events_csv(events)).decode("utf-8-sig")

# A client that goes away after two blocks: the stream closes cleanly and leaves no cursor open.
stream = exports.events_csv(events)
next(stream), next(stream)
stream.close()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM pg_cursors")
    open_cursors = cursor.fetchone()[0]

# Runs: related rows fetched per block by `= ANY(array)`, finding and warning counts by jsonb_array_length.
from django.contrib.auth import get_user_model
from django.utils import timezone
from runs.models import Approval, Artifact, GateResult, Run
from tenants.models import AwsAccount, Config

account = AwsAccount.objects.create(tenant=tenant, name="sandbox", account_id="123456789012")
config = Config.objects.create(tenant=tenant, account=account, name="dev", workspace="export-dev")
approver = get_user_model().objects.create_user(username="approver", email="approver@export.test")
for i in range(20):
    run = Run.objects.create(tenant=tenant, config=config, request_text=texts[i % len(texts)],
                             workspace_key="export:dev", status="applied",
                             intent={"region": "ap-south-1", "i": i, "budget": {"currency": "INR"}} if i % 2 else {})
    for order, name in enumerate(["safety", "opa"][: i % 3]):
        GateResult.objects.create(tenant=tenant, run=run, name=name, status="pass", order=order,
                                  findings=[{"n": n} for n in range(i % 4)] if i != 7 else {"odd": "object"})
    for n in range(i % 3):
        Approval.objects.create(tenant=tenant, run=run, approver=approver, decision="approve",
                                plan_sha256=f"{i}-{n}", config_version=1, change_ticket="CHG-1" if n else "",
                                acknowledged_warnings=["a", "b"][:n], voided_at=timezone.now() if n == 2 else None)
    for kind in ["plan_file", "plan_text"][: i % 3]:
        Artifact.objects.create(tenant=tenant, run=run, kind=kind, key=f"k/{run.pk}/{kind}", sha256="0" * 64, size=1)
runs = Run.objects.filter(tenant=tenant).order_by("-created_at", "-id")
expected_runs = [",".join(exports.RUN_COLUMNS)]
for run in runs:
    gates = "; ".join(f"{g.name}:{g.status}" + (f" ({len(g.findings)} finding(s))" if isinstance(g.findings, list) and g.findings else "")
                      for g in run.gate_results.order_by("order", "id"))
    approvals = "; ".join(
        f"{a.decision} by {a.approver.email} at {a.created_at.isoformat(timespec='seconds')}"
        + (f" ticket {a.change_ticket}" if a.change_ticket else "")
        + (f" acknowledged {len(a.acknowledged_warnings)} warning(s)" if a.acknowledged_warnings else "")
        + (" (voided)" if a.voided_at else "") for a in run.approvals.order_by("created_at", "id"))
    artifacts = " ".join(f"{a.kind}=https://gantry.example/artifacts/{a.pk}/download" for a in run.artifacts.order_by("kind", "id"))
    expected_runs.append((gates, approvals, artifacts))
absolute = "https://gantry.example{}".format


def without_intent(text):  # the file as rows, the intent read as JSON (jsonb's key order vs sorted keys)
    rows = list(csv.DictReader(io.StringIO(text)))
    return [{**row, "intent": json.loads(row["intent"] or "{}")} for row in rows]


in_sql = b"".join(exports.runs_csv(runs, absolute=absolute)).decode("utf-8-sig")
in_python = b"".join(exports.runs_csv(runs, absolute=absolute, in_sql=False)).decode("utf-8-sig")
produced_runs = list(csv.DictReader(io.StringIO(in_sql)))
same_runs = [(r["gate_results"], r["approvals"], r["artifacts"]) for r in produced_runs] == expected_runs[1:]
emit({"same": produced == expected.getvalue(), "rows": produced.count("#"), "masked": "pg-export-secret" in produced,
      "open_cursors": open_cursors, "after_close": events.count(), "same_runs": same_runs,
      "both_ways": without_intent(in_sql) == without_intent(in_python),
      "intents": [json.loads(r["intent"] or "{}") for r in produced_runs] == [r.intent for r in runs],
      "runs": len(produced_runs), "cells": sum(bool(r["approvals"]) and bool(r["gate_results"]) for r in produced_runs)})
"""


def test_the_postgresql_export_reads_ahead_and_matches_the_csv_module(seeded):
    """On PostgreSQL the events export formats timestamps in SQL and reads each next block in a helper
    thread: the file is byte for byte what the csv module writes from the model instances, redacted and
    guarded, and a stream closed half-way leaves no cursor behind. The runs export's approvals, gates and
    artifacts cells are what the model instances say, and the file PostgreSQL writes them in
    (`runs.export_cells_sql`) is byte for byte the one the related rows joined in Python give."""
    result = services.manage_shell(EXPORT, seeded["env"])
    assert result == {
        "same": True, "rows": 60, "masked": False, "open_cursors": 0, "after_close": 60,
        "same_runs": True, "both_ways": True, "intents": True, "runs": 20, "cells": 13,
    }  # fmt: skip


SCOPED = """
from django.contrib.auth import get_user_model
from runs.audit import audit_record
from runs.models import Approval, Artifact, AuditEvent, Run
from tenants.models import AwsAccount, Config, Tenant

tenant = Tenant.objects.create(name="Scope Corp", slug="scope-corp")
account = AwsAccount.objects.create(tenant=tenant, name="sandbox", account_id="123456789012")
config = Config.objects.create(tenant=tenant, account=account, name="dev", workspace="scope-dev")
approver = get_user_model().objects.create_user(username="scope-approver", email="approver@scope.test")
run = Run.objects.create(tenant=tenant, config=config, request_text="x", workspace_key="scope:dev")
approval = Approval.objects.create(tenant=tenant, run=run, approver=approver, decision="approve",
                                   plan_sha256="a" * 64, config_version=1)
artifact = Artifact.objects.create(tenant=tenant, run=run, kind="plan_file", key="k/scope", sha256="0" * 64, size=1)
for target in (run, approval, artifact, config, account, None):
    audit_record(tenant=tenant, action="scope.test", target=target)
emit({"tenant": tenant.pk})
"""

READ_SCOPE = """
from runs.models import AuditEvent
emit(sorted([e.object_type, e.run_id, e.config_id] for e in AuditEvent.objects.filter(action="scope.test")))
"""


def test_the_scope_migration_fills_existing_events_and_keeps_the_log_append_only(
    postgres_dsn, migrated_postgres_template, tmp_path
):
    """Events written before the run/config columns existed get them from their targets: migrate back
    past 0006 (the columns go), forward again (the backfill sets the trigger aside for its own UPDATEs
    only), and the values equal what `audit_record` writes; the chain still verifies and the trigger
    refuses updates again."""
    dsn = services.create_database(postgres_dsn, template=migrated_postgres_template)
    env = {"DATABASE_URL": dsn, "GANTRY_VAR_DIR": str(tmp_path / "var")}
    try:
        tenant = services.manage_shell(SCOPED, env)["tenant"]
        written = services.manage_shell(READ_SCOPE, env)
        assert sum(1 for _, run_id, _ in written if run_id) == 3  # the run, its approval and artifact
        assert sum(1 for _, _, config_id in written if config_id) == 4  # and the config itself
        services.run_manage(["migrate", "runs", "0005", "--noinput"], env)
        services.run_manage(["migrate", "--noinput"], env)
        assert services.manage_shell(READ_SCOPE, env) == written
        verified = services.run_manage(["verify_audit", "--chain", str(tenant)], env, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        with (
            psycopg.connect(dsn, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("UPDATE runs_auditevent SET run_id = NULL")
    finally:
        services.drop_database(postgres_dsn, dsn.rsplit("/", 1)[1])
