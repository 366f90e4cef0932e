"""Worker crashes, for real: a `celery -A portal worker` process (file-system broker, SQLite file, the
embedded sandbox, real Terraform) is killed with SIGKILL, together with everything it started.

1. Killed while planning: once its lease has run out, a second delivery of the plan task (what the broker
   does for an unacknowledged plan message) to a new worker starts from a clean slate: the dead attempt's
   work dir, gate results and artifacts are gone, and the plan completes.
2. Killed while applying: the reconciler marks the run `interrupted` and flags the workspace lock; nothing
   re-applies it, and a second delivery of the apply task to a new worker does nothing.

The test process never uses Django's test database: seeding, approving, enqueueing and the reconciler run
as `manage.py shell` subprocesses on the same SQLite file as the workers; rows are read with sqlite3.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from iac.testing import PLUGIN_DIR
from portal.testing import services
from portal.testing.fixtures import gantry_var_dir, start_celery_worker  # noqa: F401
from portal.testing.requirements import requires

pytestmark = [
    pytest.mark.integration,
    pytest.mark.terraform,
    requires("terraform"),
]

SEED = """
import os
from iac.spec import build_spec
from runs.services import _create_run
from tenants.tests.factories import AwsAccountFactory, ConfigFactory, MembershipFactory, TenantFactory

tenant = TenantFactory(name="Crash Corp", slug="crash")
account = AwsAccountFactory(tenant=tenant, name="sandbox", account_id=os.environ["T_ACCOUNT_ID"])
config = ConfigFactory(tenant=tenant, account=account, name="dev", env="dev", workspace="crash-dev")
operator = MembershipFactory(tenant=tenant, role="operator", user__username="crash-operator").user
MembershipFactory(tenant=tenant, role="approver", user__username="crash-approver")
spec = build_spec("static_bucket", {"bucket_name": os.environ["T_BUCKET"], "force_destroy": True},
                  account=account, config=config)
run = _create_run(config=config, user=operator, request_text="crash test bucket", status="queued",
                  message="test", spec=spec.model_dump(mode="json"))
emit(run.pk)
"""

REDELIVER = """
import os
from runs import tasks
run_id, tenant_id = int(os.environ["T_RUN"]), int(os.environ["T_TENANT"])
getattr(tasks, os.environ["T_TASK"]).apply_async(kwargs={"run_id": run_id, "tenant_id": tenant_id})
emit("sent")
"""

APPROVE = """
import os
from django.contrib.auth import get_user_model
from runs.approvals import run_approve, warnings_to_acknowledge
from runs.models import Run
from runs.services import run_request_apply

users = get_user_model().objects
run = Run.objects.get(pk=int(os.environ["T_RUN"]))
keys = [w.key for w in warnings_to_acknowledge(run)]
run_approve(user=users.get(username="crash-approver"), run_id=run.pk, acknowledged_warnings=keys)
emit(run_request_apply(user=users.get(username="crash-operator"), run_id=run.pk).status)
"""

APPLY_DONE = re.compile(r"Task runs\.run_apply\[[^\]]+\] succeeded in [\d.]+s: '(\w+)'")

RECONCILE = """
from runs.reconciler import reconcile
emit(reconcile().as_dict())
"""


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (terraform runs in its own session, so a process-group kill would
    miss it)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def sigkill_tree(worker) -> None:
    """What a lost machine looks like: the worker, its pool processes and their terraform, all at once."""
    tree = [worker.pid, *descendants(worker.pid)]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.process.wait(timeout=30)
    services.wait_for(lambda: not any(Path(f"/proc/{p}").exists() and _alive(p) for p in tree),
                      timeout=30, message="every killed process gone")  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def crash_env(gantry_var_dir, endpoint):  # noqa: F811
    env = {
        "GANTRY_VAR_DIR": str(gantry_var_dir),
        "GANTRY_SANDBOX_ENDPOINT": endpoint,
        "TERRAFORM_PLUGIN_DIR": PLUGIN_DIR,
        "GANTRY_HEARTBEAT_SECONDS": "1",
        "GANTRY_RUN_LEASE_SECONDS": "6",
        "GANTRY_HEARTBEAT_TIMEOUT_SECONDS": "8",
        "GANTRY_EMAIL_VERIFICATION": "none",
    }
    services.run_manage(["migrate", "--noinput"], env)
    return env


def test_sigkill_during_plan_then_apply(crash_env, gantry_var_dir, start_celery_worker):  # noqa: F811
    env = crash_env
    database = gantry_var_dir / "gantry.sqlite3"

    def row(sql, *params):
        with sqlite3.connect(database, timeout=30) as conn:
            return conn.execute(sql, params).fetchone()

    def rows(sql, *params):
        with sqlite3.connect(database, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def run_state(run_id):
        status, lease, timings, attempt = row(
            "SELECT status, worker_lease, stage_timings, attempt FROM runs_run WHERE id = ?", run_id
        )
        return status, lease, json.loads(timings or "{}"), attempt

    def wait_status(run_id, statuses, worker, timeout=300):
        try:
            return services.wait_for(lambda: run_state(run_id)[0] in statuses and run_state(run_id),
                                     timeout=timeout, message=f"run in {statuses}")  # fmt: skip
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {run_state(run_id)}\n{worker.log_tail(80)}") from exc

    bucket = f"crash-{os.getpid()}-{int(time.time())}"
    run_id = services.manage_shell(SEED, {**env, "T_ACCOUNT_ID": "314159265358", "T_BUCKET": bucket})
    tenant_id = row("SELECT tenant_id FROM runs_run WHERE id = ?", run_id)[0]
    workdir = gantry_var_dir / "work" / f"run-{run_id}"

    def redeliver(task: str) -> None:
        services.manage_shell(REDELIVER, {**env, "T_RUN": str(run_id), "T_TENANT": str(tenant_id),
                                          "T_TASK": task})  # fmt: skip

    # --- 1. killed while planning ---------------------------------------------------------------------
    first = start_celery_worker(env)
    # Killed during `terraform init`: before any terraform command holds the state lock (a plan killed
    # mid-way leaves Terraform's lock behind, which only an admin may clear).
    services.wait_for(lambda: any(_is_terraform(p, b"init") for p in descendants(first.pid)),
                      timeout=300, interval=0.05, message="terraform init running")  # fmt: skip
    sigkill_tree(first)
    status, lease, timings, killed_attempt = run_state(run_id)
    assert status == "validating" and lease
    assert workdir.is_dir()
    (workdir / "left-by-the-dead-attempt.tf").write_text("# must not survive a retry\n")
    time.sleep(7)  # the lease (6 s) runs out; the heartbeat timeout is not reached by then: no reconciler

    second = start_celery_worker(env)
    redeliver("run_plan")  # what the broker does with an unacknowledged plan message
    status, lease, timings, attempt = wait_status(run_id, {"awaiting_approval", "failed", "blocked"}, second)
    assert status == "awaiting_approval", row("SELECT error FROM runs_run WHERE id = ?", run_id)
    assert attempt == killed_attempt + 1 and lease == ""  # exactly one more attempt took the run
    assert not (workdir / "left-by-the-dead-attempt.tf").exists()  # the retried stage started clean
    gates = [name for (name,) in rows("SELECT name FROM runs_gateresult WHERE run_id = ?", run_id)]
    assert sorted(gates) == sorted(set(gates)) and "opa" in gates
    kinds = [kind for (kind,) in rows("SELECT kind FROM runs_artifact WHERE run_id = ?", run_id)]
    assert sorted(kinds) == sorted(set(kinds)) and "plan_file" in kinds
    assert {"render", "validate", "plan", "opa"} <= set(timings)

    # --- 2. killed while applying ---------------------------------------------------------------------
    assert services.manage_shell(APPROVE, {**env, "T_RUN": str(run_id)}) == "approved"
    wait_status(run_id, {"applying"}, second, timeout=120)
    services.wait_for(lambda: any(_is_terraform(p, b"apply") for p in descendants(second.pid)),
                      timeout=120, interval=0.05, message="terraform apply running")  # fmt: skip
    sigkill_tree(second)
    assert run_state(run_id)[0] == "applying"

    time.sleep(9)  # past the heartbeat timeout (8 s)
    report = services.manage_shell(RECONCILE, env)
    assert report["interrupted"] == [run_id], report
    status, lease, timings, attempt = run_state(run_id)
    assert status == "interrupted" and lease == ""
    flagged, reason = row("SELECT flagged, flag_reason FROM runs_workspacelock WHERE run_id = ?", run_id)
    assert flagged and "applying" in reason
    assert services.manage_shell(RECONCILE, env)["interrupted"] == []  # nothing re-applies it

    third = start_celery_worker(env)
    redeliver("run_apply")  # a second delivery of the same apply task
    outcome = services.wait_for(lambda: APPLY_DONE.search(third.log()), timeout=120,
                                message="the redelivered apply handled")  # fmt: skip
    assert outcome.group(1) == "noop", third.log_tail()
    assert run_state(run_id)[0] == "interrupted"
    assert row("SELECT COUNT(*) FROM runs_appliedplan WHERE run_id = ?", run_id)[0] == 1
    applying = rows("SELECT id FROM runs_runevent WHERE run_id = ? AND to_status = 'applying'", run_id)
    assert len(applying) == 1
    assert row("SELECT flagged FROM runs_workspacelock WHERE run_id = ?", run_id)[0]


def _is_terraform(pid: int, command: bytes) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return len(argv) > 1 and argv[0].endswith(b"terraform") and argv[1] == command
