"""The API permission matrix: every endpoint × role × own/other tenant, called with a personal access
token. Own tenant: the role's least action decides (success, or 403 with nothing changed). Another
tenant's ids: 404 for every role, with nothing changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from blueprints.models import Blueprint
from runs.audit import audit_record
from runs.models import Approval, AuditEvent, Run
from runs.tests.factories import planned_run
from tenants.models import Config
from tenants.roles import Role, role_allows
from tenants.tokens import token_create

pytestmark = pytest.mark.django_db

ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]


@dataclass
class Endpoint:
    method: str
    path: str  # placeholders: {run} {artifact} {event} {config} {prod} {account} {blueprint}
    action: str
    ok: int
    body: dict = field(default_factory=dict)
    other: bool = True  # has a tenant-specific id to swap for another tenant's

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "me", "view", 200, other=False),
    Endpoint("GET", "configs/", "view", 200, other=False),
    Endpoint("POST", "configs/", "config.manage", 201,
             {"name": "qa", "account_id": "{account}", "env": "dev", "workspace": "acme-qa"}),
    Endpoint("GET", "configs/{config}/", "view", 200),
    Endpoint("PATCH", "configs/{config}/", "config.manage", 200, {"default_tags": {"Team": "x"}}),
    Endpoint("DELETE", "configs/{prod}/", "config.manage", 204),
    Endpoint("GET", "configs/select", "view", 200, other=False),
    Endpoint("POST", "configs/select", "config.use", 200, {"config_id": "{config}"}),
    Endpoint("POST", "nl/intent", "run.create", 200,
             {"text": "create an s3 bucket named acme-logs", "config_id": "{config}"}),
    Endpoint("POST", "iac/generate", "run.create", 201,
             {"request_text": "create an s3 bucket named acme-logs", "config_id": "{config}"}),
    Endpoint("POST", "iac/plan", "run.plan", 201, {"run_id": "{run}"}),
    Endpoint("POST", "iac/apply", "run.apply", 409, {"run_id": "{run}"}),  # not approved yet: refused
    Endpoint("GET", "runs/", "view", 200, other=False),
    Endpoint("GET", "runs/{run}/", "view", 200),
    Endpoint("GET", "runs/{run}/status", "view", 200),
    Endpoint("GET", "runs/{run}/events", "view", 200),
    Endpoint("GET", "runs/{run}/logs", "view", 200),
    Endpoint("POST", "runs/{run}/cancel", "run.cancel", 200, {"reason": "not needed"}),
    Endpoint("GET", "approvals/", "view", 200, other=False),
    Endpoint("POST", "approvals/{run}/approve", "run.approve", 200, {"comment": "looks right"}),
    Endpoint("POST", "approvals/{run}/reject", "run.approve", 200, {"comment": "wrong bucket"}),
    Endpoint("GET", "artifacts/{artifact}", "view", 200),
    Endpoint("GET", "artifacts/{artifact}/download", "artifact.download", 200),
    Endpoint("GET", "audit", "audit.view", 200, other=False),
    Endpoint("GET", "audit/runs", "audit.view", 200, other=False),
    Endpoint("GET", "audit/{event}", "audit.view", 200),
    Endpoint("GET", "audit/export.csv", "audit.export", 200, other=False),
    Endpoint("GET", "blueprints/", "view", 200, other=False),
    Endpoint("GET", "blueprints/{blueprint}/", "view", 200),
]  # fmt: skip


def objects(world) -> dict[str, int]:
    run = planned_run(world)
    blueprint = Blueprint.objects.create(
        tenant=world.tenant, name=f"{world.tenant.slug} logs", slug="logs", stack="static_bucket"
    )
    return {
        "run": run.pk,
        "artifact": run.artifacts.first().pk,
        "event": audit_record(tenant=world.tenant, action="run.created", target=run).pk,
        "config": world.dev.pk,
        "prod": world.prod.pk,
        "account": world.account.pk,
        "blueprint": blueprint.pk,
    }


def fill(value, ids: dict[str, int]):
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    return value


def state() -> str:
    """A digest of everything an endpoint could change."""
    snapshot = {
        "runs": list(Run.objects.order_by("pk").values_list("pk", "status", "apply_requested_at")),
        "approvals": Approval.objects.count(),
        "configs": list(Config.objects.order_by("pk").values_list("pk", "version", "default_tags")),
        "audit": AuditEvent.objects.count(),
    }
    return hashlib.sha256(json.dumps(snapshot, default=str).encode()).hexdigest()


def token_client(world, role) -> APIClient:
    _, raw = token_create(user=world.user(role), tenant=world.tenant, name="matrix", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def call(client, endpoint: Endpoint, ids: dict[str, int]):
    path = "/api/v1/" + fill(endpoint.path, ids)
    body = fill(endpoint.body, ids)
    return client.generic(
        endpoint.method, path, json.dumps(body) if body else "", content_type="application/json"
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_own_tenant(own, other, endpoint, role):
    ids = objects(own)
    objects(other)
    client = token_client(own, role)
    before = state()
    response = call(client, endpoint, ids)
    if role_allows(role, endpoint.action):
        expected = endpoint.ok
        if endpoint.action == "run.approve" and role == Role.OPERATOR:
            expected = 403
        assert response.status_code == expected, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "permission_denied"
        assert state() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.other], ids=str)
def test_other_tenant_ids_are_not_found(own, other, endpoint, role):
    objects(own)
    foreign = objects(other)
    client = token_client(own, role)
    before = state()
    response = call(client, endpoint, foreign)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert state() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_no_credentials_is_401(own, endpoint):
    ids = objects(own)
    before = state()
    response = call(APIClient(), endpoint, ids)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert state() == before
