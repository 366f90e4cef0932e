"""Races against a real PostgreSQL (SQLite ignores FOR UPDATE, so these only mean something here).

Several `manage.py shell` processes start together on a signal file:
- four approvals of one prod run (an approver double-clicking, a second approver, an admin) with two
  required: the run becomes `approved` exactly once and nobody holds two live approvals;
- three deliveries of the same apply task: exactly one applies, the others do nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest

from portal.testing import services
from portal.testing.fixtures import (  # noqa: F401
    migrated_postgres,
    migrated_postgres_template,
    new_postgres_database,
    postgres_dsn,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SEED = """
from conftest import build_world
from runs.tests.factories import planned_run
from runs.models import Approval, Run
from runs.states import RunStatus

world = build_world("race")
second = world.members["approver"].__class__.objects.create(
    tenant=world.tenant, user=type(world.user("admin")).objects.create(username="race-approver2", email="a2@race.test"),
    role="approver",
)
prod = planned_run(world, env="prod")
dev = planned_run(world, env="dev", status=RunStatus.APPROVED)
Approval.objects.create(
    tenant=world.tenant, run=dev, approver=world.user("approver"), decision="approve", plan_sha256=dev.plan_sha256,
    spec_sha256=dev.spec_sha256, source_sha256=dev.source_sha256, config_version=dev.config_version,
    gate_digest=dev.gate_digest,
)
emit({"prod": prod.pk, "dev": dev.pk, "tenant": world.tenant.pk, "users": {
    "approver": world.user("approver").pk, "admin": world.user("admin").pk, "approver2": second.user.pk}})
"""

WAIT = """
import os, time
from pathlib import Path
Path(os.environ["T_READY"]).touch()
go, deadline = Path(os.environ["T_GO"]), time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        raise SystemExit("no start signal")
    time.sleep(0.002)
"""

APPROVE = (
    WAIT
    + """
from django.contrib.auth import get_user_model
from runs.approvals import run_approve
user = get_user_model().objects.get(pk=int(os.environ["T_USER"]))
try:
    approval = run_approve(user=user, run_id=int(os.environ["T_RUN"]), change_ticket="CHG-9")
    emit({"approval": approval.pk if approval else None})
except Exception as exc:
    emit({"error": type(exc).__name__, "message": str(exc)})
"""
)

APPLY = (
    WAIT
    + """
from types import SimpleNamespace
from runs import terraform_engine, worker

class Fake:
    def terraform_env(self, *a, **k):
        return {}
    def apply_plan(self, workdir, planfile, sha, **kwargs):
        with open(os.environ["T_APPLIED"], "a") as handle:
            handle.write(sha + "\\n")
        time.sleep(0.5)
        return SimpleNamespace(ok=True, message="", category=None, duration_ms=500)

terraform_engine._pipeline = lambda: Fake()
terraform_engine._prepare_apply_workdir = lambda run, pipeline, spec: Path(os.environ["T_READY"]).parent
from iac.spec import CompositionSpec
CompositionSpec.parse = classmethod(lambda cls, data: SimpleNamespace(region="ap-south-1"))
emit({"result": worker.run_apply(int(os.environ["T_RUN"]), tenant_id=int(os.environ["T_TENANT"]))})
"""
)


@pytest.fixture
def seeded(migrated_postgres, tmp_path):  # noqa: F811
    env = {"DATABASE_URL": migrated_postgres, "GANTRY_VAR_DIR": str(tmp_path / "var")}
    (tmp_path / "var").mkdir()
    return {"dsn": migrated_postgres, "env": env, **services.manage_shell(SEED, env)}


def race(code: str, env: dict, jobs: list[dict], tmp_path) -> list[dict]:
    go = tmp_path / "go"
    procs = []
    prelude = (
        f"import json as _json\nRESULT_MARKER = {services.RESULT_MARKER!r}\n"
        "def emit(value):\n    print(RESULT_MARKER + _json.dumps(value, default=str), flush=True)\n"
    )
    for n, job in enumerate(jobs):
        ready = tmp_path / f"ready-{n}"
        child = services.child_env({**env, **job, "T_READY": str(ready), "T_GO": str(go)})
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", prelude + code],
            cwd=services.BASE_DIR, env=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        procs.append((proc, ready))
    results = []
    try:
        deadline = time.monotonic() + 120
        while not all(ready.exists() for _, ready in procs):
            assert all(p.poll() is None for p, _ in procs), [p.communicate() for p, _ in procs]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        go.touch()
        for proc, _ in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"{out}\n{err}"
            line = next(x for x in reversed(out.splitlines()) if x.startswith(services.RESULT_MARKER))
            import json

            results.append(json.loads(line[len(services.RESULT_MARKER) :]))
    finally:
        for proc, _ in procs:
            services.stop_process(proc, timeout=5)
    return results


def test_racing_approvals_approve_exactly_once(seeded, tmp_path):
    users, run = seeded["users"], str(seeded["prod"])
    jobs = [
        {"T_USER": str(users["approver"]), "T_RUN": run},
        {"T_USER": str(users["approver"]), "T_RUN": run},  # the double click
        {"T_USER": str(users["approver2"]), "T_RUN": run},
        {"T_USER": str(users["admin"]), "T_RUN": run},
    ]
    results = race(APPROVE, seeded["env"], jobs, tmp_path)
    assert all("approval" in r or r["error"] == "IllegalTransition" for r in results), results
    with psycopg.connect(seeded["dsn"]) as conn:
        status = conn.execute("SELECT status FROM runs_run WHERE id = %s", (seeded["prod"],)).fetchone()[0]
        approved_events = conn.execute(
            "SELECT count(*) FROM runs_runevent WHERE run_id = %s AND to_status = 'approved'",
            (seeded["prod"],),
        ).fetchone()[0]
        per_user = conn.execute(
            "SELECT approver_id, count(*) FROM runs_approval WHERE run_id = %s AND voided_at IS NULL "
            "GROUP BY approver_id",
            (seeded["prod"],),
        ).fetchall()
    assert status == "approved" and approved_events == 1
    assert all(count == 1 for _, count in per_user) and len(per_user) >= 2
    verified = services.run_manage(["verify_audit"], seeded["env"], check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_duplicate_apply_deliveries_apply_once(seeded, tmp_path):
    applied = tmp_path / "applied.txt"
    job = {"T_RUN": str(seeded["dev"]), "T_TENANT": str(seeded["tenant"]), "T_APPLIED": str(applied)}
    results = race(APPLY, seeded["env"], [job, job, job], tmp_path)
    outcomes = sorted(r["result"] for r in results)
    assert outcomes == ["applied", "noop", "noop"], outcomes
    assert len(applied.read_text().splitlines()) == 1
    with psycopg.connect(seeded["dsn"]) as conn:
        assert conn.execute("SELECT count(*) FROM runs_appliedplan").fetchone()[0] == 1
        assert (
            conn.execute("SELECT status FROM runs_run WHERE id = %s", (seeded["dev"],)).fetchone()[0]
            == "applied"
        )
