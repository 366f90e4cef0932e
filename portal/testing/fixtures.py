"""pytest fixtures over `portal.testing.services`. Import the ones a module needs, explicitly:

    from portal.testing.fixtures import postgres_dsn, redis_url  # noqa: F401

Servers are session-scoped (started once, on first use, stopped at session end); databases and workers
are per test. A missing program skips the test with the reason, unless GANTRY_REQUIRE_SERVICES=1 (CI),
which turns it into a failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.testing import services


def _start(stack: contextlib.ExitStack, manager):
    try:
        return stack.enter_context(manager)
    except services.ServiceUnavailable as exc:
        if os.environ.get("GANTRY_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"required test service unavailable: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a throw-away PostgreSQL server's `postgres` database (superuser, trust auth)."""
    with contextlib.ExitStack() as stack:
        yield _start(stack, services.postgres_server())


@pytest.fixture
def new_postgres_database(postgres_dsn):
    """new_postgres_database() -> DSN of a fresh, empty database, dropped after the test."""
    created: list[str] = []

    def create(name: str | None = None) -> str:
        dsn = services.create_database(postgres_dsn, name)
        created.append(dsn.rsplit("/", 1)[1])
        return dsn

    yield create
    for name in created:
        services.drop_database(postgres_dsn, name)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """redis://127.0.0.1:PORT/0 of a throw-away redis-server without persistence."""
    with contextlib.ExitStack() as stack:
        yield _start(stack, services.redis_server())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT of moto's ThreadedMotoServer running in this process."""
    with contextlib.ExitStack() as stack:
        yield _start(stack, services.moto_server())


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
            return _start(stack, services.celery_worker(env, **options))

        yield start
