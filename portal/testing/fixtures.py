"""pytest fixtures over `portal.testing.services`. Import the ones you need, explicitly, into a conftest.py
(`portal/tests/conftest.py` does) or into the test module itself:

    from portal.testing.fixtures import postgres_dsn, redis_url  # noqa: F401

(In a test module, a parameter named like an imported fixture makes ruff report F811; a conftest avoids
that. A session-scoped fixture imported into two places runs twice, once per place.)

Servers are session-scoped (started once, on first use, stopped at session end); databases and workers
are per test. A missing program skips the test with the reason, unless GANTRY_REQUIRE_SERVICES=1 (CI),
which turns it into a failure.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.testing import services
from portal.testing.requirements import unavailable


def start_or_skip(stack: contextlib.ExitStack, manager):
    """Enter a `services` context manager on `stack`; skip (or fail, in CI) when its program is missing."""
    try:
        return stack.enter_context(manager)
    except services.ServiceUnavailable as exc:
        unavailable(f"test service unavailable: {exc}")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a throw-away PostgreSQL server's `postgres` database (superuser, trust auth)."""
    with contextlib.ExitStack() as stack:
        yield start_or_skip(stack, services.postgres_server())


@pytest.fixture
def new_postgres_database(postgres_dsn):
    """new_postgres_database(template=None) -> DSN of a fresh database (a copy of `template` if given),
    dropped after the test."""
    created: list[str] = []

    def create(name: str | None = None, *, template: str | None = None) -> str:
        dsn = services.create_database(postgres_dsn, name, template=template)
        created.append(dsn.rsplit("/", 1)[1])
        return dsn

    yield create
    for name in created:
        services.drop_database(postgres_dsn, name)


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_dsn, tmp_path_factory) -> Iterator[str]:
    """Name of a database on which `manage.py migrate` ran every migration, once per session.

    Tests never write to it: `migrated_postgres` hands out copies.
    """
    dsn = services.create_database(postgres_dsn, f"gantry_template_{uuid.uuid4().hex[:8]}")
    name = dsn.rsplit("/", 1)[1]
    var_dir = tmp_path_factory.mktemp("migrate-var")
    try:
        services.run_manage(["migrate", "--noinput"], {"DATABASE_URL": dsn, "GANTRY_VAR_DIR": str(var_dir)})
        yield name
    finally:
        services.drop_database(postgres_dsn, name)


@pytest.fixture
def migrated_postgres(new_postgres_database, migrated_postgres_template) -> str:
    """DSN of a fully migrated database of this test's own (a copy of the session's template)."""
    return new_postgres_database(template=migrated_postgres_template)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """redis://127.0.0.1:PORT/0 of a throw-away redis-server without persistence."""
    with contextlib.ExitStack() as stack:
        yield start_or_skip(stack, services.redis_server())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT of moto's ThreadedMotoServer running in this process."""
    with contextlib.ExitStack() as stack:
        yield start_or_skip(stack, services.moto_server())


@pytest.fixture
def gantry_var_dir(tmp_path) -> Path:
    """A private GANTRY_VAR_DIR for subprocesses (SQLite file, file-system broker, secret key, media)."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def start_celery_worker(tmp_path):
    """start_celery_worker(env, **options) -> services.Worker; every worker is stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(env, **options) -> services.Worker:
            options.setdefault("log_dir", tmp_path / "worker-logs")
            return start_or_skip(stack, services.celery_worker(env, **options))

        yield start
