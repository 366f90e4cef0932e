"""A real `celery -A portal worker` process verifies a sandbox AWS account against a moto server.

(a) embedded defaults: no broker configured (the file-system broker under GANTRY_VAR_DIR) and SQLite in
    the same var dir, shared by the producer and the worker;
(b) production shape: a real Redis broker and PostgreSQL.

The test process never uses Django's test database here: migrations, seeding and enqueueing run as
`manage.py` subprocesses with the same environment as the worker, and results are read with
sqlite3/psycopg directly.
"""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from portal.testing import services

pytestmark = [pytest.mark.integration]

ACCOUNT_ID = "246813579024"

SEED = """
import os
from tenants.models import AwsAccount, Tenant

tenant = Tenant.objects.create(name="Worker Corp", slug="worker-corp")
account = AwsAccount.objects.create(
    tenant=tenant, name="sandbox", account_id=os.environ["T_ACCOUNT_ID"], mode="sandbox",
    default_region="us-east-1",
)
emit(account.pk)
"""

ENQUEUE = """
import os
from django.conf import settings
from tenants.tasks import account_verify

account_verify.delay(int(os.environ["T_ACCOUNT_PK"]))
emit(settings.CELERY_BROKER_URL)
"""

RESULT_SQL = (
    "SELECT last_verified_at, last_verified_identity, last_verification_error "
    "FROM tenants_awsaccount WHERE id = {}"
)
AUDIT_SQL = "SELECT action, summary FROM runs_auditevent WHERE object_type = 'tenants.awsaccount'"


def _verify_through_worker(env, start_celery_worker, read):
    """Seed an account, start a worker, enqueue account_verify, wait for the row; returns (row, audit)."""
    account_pk = services.manage_shell(SEED, {**env, "T_ACCOUNT_ID": ACCOUNT_ID})
    worker = start_celery_worker(env)
    broker = services.manage_shell(ENQUEUE, {**env, "T_ACCOUNT_PK": str(account_pk)})
    try:
        row = services.wait_for(
            lambda: (r := read(RESULT_SQL.format(int(account_pk)))[0]) and r[0] is not None and r,
            timeout=90,
            message="the worker recording the verification",
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; worker log:\n{worker.log_tail()}") from exc
    return broker, row, read(AUDIT_SQL), worker


def _assert_verified(row, audit, worker):
    verified_at, identity, error = row
    assert error == "", f"{error}\n{worker.log_tail()}"
    assert ACCOUNT_ID in identity
    assert identity == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/GantrySandbox/gantry-worker-corp-portal"
    assert verified_at
    assert [action for action, _ in audit] == ["account.verified"]
    assert "tenants.account_verify" in worker.log()  # the task really ran in the worker process


def test_worker_on_the_default_filesystem_broker_and_sqlite(
    gantry_var_dir, moto_endpoint, start_celery_worker
):
    env = {
        "GANTRY_VAR_DIR": str(gantry_var_dir),
        "GANTRY_SANDBOX_ENDPOINT": moto_endpoint,
        # No DATABASE_URL, REDIS_URL or CELERY_BROKER_URL: the embedded defaults.
    }
    services.run_manage(["migrate", "--noinput"], env)
    database = gantry_var_dir / "gantry.sqlite3"
    assert database.exists()

    def read(sql):
        with sqlite3.connect(database, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    broker, row, audit, worker = _verify_through_worker(env, start_celery_worker, read)
    assert broker == "filesystem://"  # the producer used the default broker
    _assert_verified(row, audit, worker)
    # Both processes shared the var dir's queue folder; the message was consumed.
    assert not list((gantry_var_dir / "celery" / "queue").iterdir())


@pytest.mark.postgres
@pytest.mark.redis
def test_worker_on_redis_and_postgres(
    gantry_var_dir, moto_endpoint, redis_url, migrated_postgres, start_celery_worker
):
    env = {
        "GANTRY_VAR_DIR": str(gantry_var_dir),
        "GANTRY_SANDBOX_ENDPOINT": moto_endpoint,
        "DATABASE_URL": migrated_postgres,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
    }

    def read(sql):
        with psycopg.connect(migrated_postgres) as conn:
            return conn.execute(sql).fetchall()

    broker, row, audit, worker = _verify_through_worker(env, start_celery_worker, read)
    assert broker == redis_url
    _assert_verified(row, audit, worker)
