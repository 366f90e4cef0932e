"""The API's contract beyond permissions: token lifecycle at the door, the one error format, throttling,
cursor pagination, session use from the browser, and the schema and reference pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from runs.models import AuditEvent, Run
from runs.states import RunStatus
from runs.tests.factories import RunFactory
from tenants.context import SESSION_CONFIG
from tenants.models import ApiToken, Membership
from tenants.roles import Role
from tenants.tokens import token_create, token_revoke

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def token_for(world, role=Role.ADMIN, token_role=None, **kwargs) -> str:
    _, raw = token_create(
        user=world.user(role), tenant=world.tenant, name="t", role=token_role or role, **kwargs
    )
    return raw


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code and error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    return error


# --- tokens at the door ------------------------------------------------------------------------------


def test_token_acts_in_its_tenant_with_its_role(own):
    response = bearer(token_for(own, Role.APPROVER, token_role=Role.OPERATOR)).get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert (body["tenant"]["slug"], body["role"], body["auth"]) == ("acme", "operator", "token")


@pytest.mark.parametrize(
    "header, fragment",
    [
        ("Bearer", "Malformed"),
        ("Bearer a b", "Malformed"),
        ("Bearer gty_nope", "Unknown"),
        ("Bearer ghp_other", "start with gty_"),
    ],
)
def test_bad_credentials_are_401(own, header, fragment):
    response = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=header)
    error = assert_error(response, 401, "authentication_failed")
    assert fragment in error["message"]
    assert response["WWW-Authenticate"] == 'Bearer realm="gantry"'


def test_revoked_expired_and_former_member_tokens_are_401(own):
    user = own.user(Role.OPERATOR)
    revoked, raw_revoked = token_create(user=user, tenant=own.tenant, name="r", role=Role.VIEWER)
    token_revoke(user=user, token_id=revoked.pk)
    expired, raw_expired = token_create(user=user, tenant=own.tenant, name="e", role=Role.VIEWER)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    raw_member = token_for(own, Role.OPERATOR)
    Membership.objects.filter(user=user, tenant=own.tenant).delete()
    for raw, word in [(raw_revoked, "revoked"), (raw_expired, "expired"), (raw_member, "no longer a member")]:
        error = assert_error(bearer(raw).get("/api/v1/runs/"), 401, "authentication_failed")
        assert word in error["message"]


def test_token_role_cap_and_demotion(own):
    viewer_token_of_admin = bearer(token_for(own, Role.ADMIN, token_role=Role.VIEWER))
    path = f"/api/v1/configs/{own.dev.pk}/"
    assert_error(
        viewer_token_of_admin.patch(path, {"restricted": True}, format="json"), 403, "permission_denied"
    )
    admin_token = bearer(token_for(own, Role.ADMIN))
    Membership.objects.filter(pk=own.members[Role.ADMIN].pk).update(role=Role.OPERATOR)
    assert_error(admin_token.patch(path, {"restricted": True}, format="json"), 403, "permission_denied")
    own.dev.refresh_from_db()
    assert own.dev.restricted is False and own.dev.version == 1


# --- one error format ----------------------------------------------------------------------------


def test_validation_error_names_each_field(own):
    client = bearer(token_for(own))
    before = Run.objects.count()
    error = assert_error(
        client.post("/api/v1/iac/generate", {"request_text": ""}, format="json"), 400, "validation_error"
    )
    assert "request_text" in error["details"]
    error = assert_error(
        client.post(
            "/api/v1/configs/",
            {"name": "x", "account_id": own.account.pk, "workspace": "Bad Space"},
            format="json",
        ),
        400,
        "validation_error",
    )
    assert "workspace" in error["details"]
    assert Run.objects.count() == before


def test_service_validation_errors_are_400(own):
    """A duplicate config name is caught by the service's full_clean, not a 500."""
    error = assert_error(
        bearer(token_for(own)).post(
            "/api/v1/configs/",
            {"name": "dev", "account_id": own.account.pk, "workspace": "acme-dev"},
            format="json",
        ),
        400,
        "validation_error",
    )
    assert error["details"]


def test_malformed_json_unknown_path_and_wrong_method(own):
    client = bearer(token_for(own))
    assert_error(
        client.generic("POST", "/api/v1/iac/generate", "{nope", content_type="application/json"),
        400,
        "parse_error",
    )
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(client.delete("/api/v1/runs/"), 405, "method_not_allowed")
    assert_error(client.get("/api/v1/runs/99999999999999999999/"), 404, "not_found")
    assert_error(
        client.post("/api/v1/iac/generate", "text=x", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )


def test_illegal_transition_is_409_and_changes_nothing(own):
    run = RunFactory(config=own.dev, requested_by=own.user(Role.OPERATOR), status=RunStatus.APPLIED)
    error = assert_error(
        bearer(token_for(own)).post(f"/api/v1/runs/{run.pk}/cancel", {}, format="json"),
        409,
        "illegal_transition",
    )
    assert error["details"] == {"from_status": "applied", "to_status": "cancelled"}
    run.refresh_from_db()
    assert run.status == RunStatus.APPLIED


# --- throttling and pagination -----------------------------------------------------------------------


def test_each_token_has_its_own_bucket(own, settings):
    cache.clear()  # earlier tests' requests may have used the same token ids
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/min", "session": "3/min", "anon": "3/min"},
    }
    first, second = bearer(token_for(own)), bearer(token_for(own, Role.VIEWER))
    assert [first.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    response = first.get("/api/v1/me")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert second.get("/api/v1/me").status_code == 200


def test_cursor_pagination_walks_every_run_once(own):
    runs = [RunFactory(config=own.dev, requested_by=own.user(Role.OPERATOR)) for _ in range(7)]
    client = bearer(token_for(own, Role.VIEWER))
    seen, url = [], "/api/v1/runs/?page_size=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted((r.pk for r in runs), reverse=True)
    assert_error(client.get("/api/v1/runs/?cursor=bogus"), 404, "not_found")


def test_run_filters_are_validated(own):
    RunFactory(config=own.dev, status=RunStatus.FAILED)
    RunFactory(config=own.dev, status=RunStatus.QUEUED)
    client = bearer(token_for(own, Role.VIEWER))
    assert [r["status"] for r in client.get("/api/v1/runs/?status=failed").json()["results"]] == ["failed"]
    assert_error(client.get("/api/v1/runs/?status=bogus"), 400, "validation_error")


# --- the browser session -----------------------------------------------------------------------------


def test_session_uses_the_active_tenant_and_needs_csrf(own, other):
    user = own.user(Role.OPERATOR)
    Membership.objects.create(tenant=other.tenant, user=user, role=Role.VIEWER)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.session
    session["gantry_tenant_id"] = other.tenant.pk
    session.save()
    body = client.get("/api/v1/me").json()
    assert (body["tenant"]["slug"], body["role"], body["auth"]) == ("globex", "viewer", "session")
    error = assert_error(
        client.post("/api/v1/configs/select", {"config_id": other.dev.pk}, format="json"),
        403,
        "permission_denied",
    )
    assert "CSRF" in error["message"]


def test_session_select_persists_and_is_audited(own, client):
    user = own.user(Role.OPERATOR)
    api = APIClient()
    api.force_login(user)
    response = api.post("/api/v1/configs/select", {"config_id": own.prod.pk}, format="json")
    assert response.status_code == 200 and response.json()["persisted"] is True
    assert api.session[SESSION_CONFIG] == own.prod.pk
    assert AuditEvent.objects.filter(action="session.context_switched", actor=user).exists()
    assert api.get("/api/v1/configs/select").json()["config"]["id"] == own.prod.pk


def test_token_select_validates_without_persisting(own):
    response = bearer(token_for(own, Role.OPERATOR)).post(
        "/api/v1/configs/select", {"config_id": own.prod.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {**response.json(), "persisted": False}
    assert response.json()["config"]["id"] == own.prod.pk


def test_restricted_config_needs_a_grant(own):
    own.prod.restricted = True
    own.prod.save()
    client = bearer(token_for(own, Role.OPERATOR))
    assert_error(
        client.post("/api/v1/configs/select", {"config_id": own.prod.pk}, format="json"),
        403,
        "permission_denied",
    )
    before = Run.objects.count()
    assert_error(
        client.post(
            "/api/v1/iac/generate",
            {"request_text": "create an s3 bucket", "config_id": own.prod.pk},
            format="json",
        ),
        403,
        "permission_denied",
    )
    assert Run.objects.count() == before


# --- schema and reference page ---------------------------------------------------------------------


def test_schema_is_openapi3_with_bearer_security(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # against the OpenAPI 3 JSON schema
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for route in ["/api/v1/nl/intent", "/api/v1/iac/generate", "/api/v1/iac/plan", "/api/v1/iac/apply",
                  "/api/v1/audit", "/api/v1/artifacts/{id}", "/api/v1/configs/select"]:  # fmt: skip
        assert route in schema["paths"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert {"bearerAuth": []} in operation["security"], (method, path)
            assert "200" in operation["responses"] or {"201", "202", "204"} & set(operation["responses"])
            assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }


def test_reference_page_uses_local_swagger(own, client_as):
    html = client_as(own.user(Role.VIEWER), own.tenant).get("/api/docs/").content.decode()
    for asset in [
        "vendor/swagger-ui/swagger-ui.css",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "js/api-docs.js",
    ]:
        assert f"/static/{asset}" in html
    assert "//cdn" not in html and "unpkg" not in html
    assert 'data-schema-url="/api/schema/"' in html
