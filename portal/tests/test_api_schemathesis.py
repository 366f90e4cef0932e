"""Property-based tests of the live OpenAPI schema with schemathesis: every operation, read-only and
mutating, called in-process (WSGI) with an admin token of the own tenant, must never answer 5xx and
must answer exactly as the schema documents (status codes, content types, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.wsgi import application
from runs.tests.factories import planned_run
from tenants.roles import Role
from tenants.tokens import token_create

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 12  # per operation: enough to reach the error paths, fast enough for the suite


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch, settings):
    from runs import tasks

    monkeypatch.setattr(tasks, "dispatch", lambda name, **kwargs: None)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/min", "session": "100000/min", "anon": "100000/min"},
    }


def operations():
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_conforms(own, other):
    planned_run(own)
    planned_run(other)
    _, raw = token_create(user=own.user(Role.ADMIN), tenant=own.tenant, name="fuzz", role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {raw}"}
    failures: list[str] = []
    for operation in operations():

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
