"""A client built with the official MCP SDK, over both transports, against real processes.

stdio: the SDK's `stdio_client` spawns `manage.py mcp --token …`; HTTP: uvicorn serves
`portal.asgi:application` on a free loopback port and the SDK's `streamable_http_client` talks to `/mcp`
with a bearer token. Behind both: a SQLite file database in a private GANTRY_VAR_DIR, a real Celery worker
(file-system broker) and the embedded AWS sandbox (moto), where Terraform really plans. Each transport
lists the tools and runs generate → plan → request_apply; a viewer's token cannot plan; another tenant's
run is not found; every call leaves an audit event.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from portal.testing import services
from portal.testing.fixtures import gantry_var_dir, moto_endpoint, start_celery_worker  # noqa: F401
from portal.testing.requirements import requires

pytestmark = [
    pytest.mark.integration,
    pytest.mark.terraform,
    requires("terraform"),
]

SEED = """
import os
from django.contrib.auth import get_user_model
from runs.models import Run
from tenants.models import AwsAccount, Config, Membership, Tenant
from tenants.tokens import token_create

User = get_user_model()
tokens, ids = {}, {}
for slug, account_id in (("acme", "135792468013"), ("globex", "135792468014")):
    tenant = Tenant.objects.create(name=slug.title(), slug=slug)
    account = AwsAccount.objects.create(
        tenant=tenant, name="sandbox", account_id=account_id, mode="sandbox", default_region="us-east-1"
    )
    config = Config.objects.create(tenant=tenant, account=account, name="dev", env="dev", workspace=f"{slug}-dev")
    for role in ("viewer", "operator", "approver"):
        user = User.objects.create_user(username=f"{slug}-{role}", email=f"{role}@{slug}.test", password="x-Pass-12345")
        Membership.objects.create(tenant=tenant, user=user, role=role)
        if role != "approver":
            tokens[f"{slug}-{role}"] = token_create(user=user, tenant=tenant, name="mcp", role=role)[1]
    ids[f"{slug}-run"] = Run.objects.create(
        tenant=tenant, config=config, request_text="an old request", workspace_key=f"{slug}-dev", status="failed"
    ).pk
emit({"tokens": tokens, "ids": ids})
"""

EXPECTED_TOOLS = {
    "nl_intent", "generate", "request", "validate", "plan", "request_apply", "run_status", "list_runs", "plan_summary",
    "search_audit", "list_blueprints", "ec2_list_instances", "ec2_describe_instance", "ecs_list_clusters",
    "ecs_list_services", "rds_list_db_instances", "cloudwatch_list_alarms", "cloudwatch_get_metric_statistics",
    "ec2_start_instance", "ec2_stop_instance", "ecs_update_service", "rds_create_snapshot", "ops_request", "ops_run",
    "ops_status", "ops_cancel",
}  # fmt: skip
PLAN_DEADLINE_SECONDS = 600


@pytest.fixture
def stack(gantry_var_dir, moto_endpoint, start_celery_worker):  # noqa: F811
    env = {
        "GANTRY_VAR_DIR": str(gantry_var_dir),
        "GANTRY_SANDBOX_ENDPOINT": moto_endpoint,
        "TERRAFORM_PLUGIN_DIR": os.environ.get("TERRAFORM_PLUGIN_DIR", ""),
    }
    services.run_manage(["migrate", "--noinput"], env)
    seeded = services.manage_shell(SEED, env)
    worker = start_celery_worker(env)
    database = gantry_var_dir / "gantry.sqlite3"

    def audited(slug: str) -> list[tuple[str, str]]:
        with sqlite3.connect(database, timeout=30) as conn:
            rows = conn.execute(
                "SELECT e.data FROM runs_auditevent e JOIN tenants_tenant t ON t.id = e.tenant_id "
                "WHERE e.action = 'mcp.tool_called' AND t.slug = ? ORDER BY e.seq",
                (slug,),
            ).fetchall()
        return [(json.loads(r[0])["tool"], json.loads(r[0])["outcome"]) for r in rows]

    return env, seeded, worker, audited


async def _flow(session: ClientSession, bucket: str, other_run: int) -> list[tuple[str, str]]:
    """generate → plan → request_apply; returns the (tool, outcome) calls made, in order."""
    calls: list[tuple[str, str]] = []

    async def call(name, arguments):
        result = await session.call_tool(name, arguments)
        calls.append((name, result.content[0].text.split(":", 1)[0] if result.is_error else "ok"))
        return result

    await session.initialize()
    listed = {tool.name for tool in (await session.list_tools()).tools}
    assert listed == EXPECTED_TOOLS

    created = await call("generate", {"request": f"create an s3 bucket named {bucket}", "config": "dev"})
    assert not created.is_error, created.content
    run = created.structured_content["run"]
    assert run["status"] == "queued", run

    with anyio.fail_after(PLAN_DEADLINE_SECONDS):
        while True:
            planned = await call("plan", {"run_id": run["id"], "wait_seconds": 20})
            assert not planned.is_error, planned.content
            if not planned.structured_content["planning"]:
                break
    status = planned.structured_content["run"]["status"]
    assert status == "awaiting_approval", planned.structured_content

    digest = await call("plan_summary", {"run_id": run["id"]})
    assert not digest.is_error and digest.structured_content["counts"]["create"] >= 1

    requested = await call("request_apply", {"run_id": run["id"], "note": "MCP test"})
    assert not requested.is_error, requested.content
    assert requested.structured_content["requested"] is True
    assert requested.structured_content["run"]["status"] == "awaiting_approval"  # never applied by an agent

    missing = await call("run_status", {"run_id": other_run})
    assert missing.is_error and f"Run #{other_run} not found" in missing.content[0].text
    return calls


async def _viewer_cannot_plan(session: ClientSession, run_id: int) -> None:
    await session.initialize()
    refused = await session.call_tool("plan", {"run_id": run_id, "refresh": True})
    assert refused.is_error
    assert "forbidden" in refused.content[0].text and "run.plan" in refused.content[0].text


def _stdio(env, token: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=[str(services.BASE_DIR / "manage.py"), "mcp", "--token", token],
        env=services.child_env(env),
        cwd=str(services.BASE_DIR),
    )


@contextlib.asynccontextmanager
async def stdio_session(env, token: str):
    """An SDK client session with `manage.py mcp --token <token>` as a subprocess."""
    with open(os.devnull, "w") as quiet:
        async with (
            stdio_client(_stdio(env, token), errlog=quiet) as (read, write),
            ClientSession(read, write) as session,
        ):
            yield session


@contextlib.asynccontextmanager
async def http_session(url: str, token: str):
    """An SDK client session over streamable HTTP with the token as bearer."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        yield session


def test_stdio_transport(stack):
    env, seeded, worker, audited = stack
    tokens, ids = seeded["tokens"], seeded["ids"]

    async def main():
        async with stdio_session(env, tokens["acme-operator"]) as session:
            calls = await _flow(session, f"acme-mcp-stdio-{secrets.token_hex(3)}", ids["globex-run"])
        async with stdio_session(env, tokens["acme-viewer"]) as session:
            await _viewer_cannot_plan(session, ids["acme-run"])
        return calls

    try:
        calls = anyio.run(main)
    except BaseException as exc:
        raise AssertionError(f"{exc!r}\nworker log:\n{worker.log_tail()}") from exc
    assert audited("acme") == [*calls, ("plan", "forbidden")]
    assert audited("globex") == []


def test_stdio_refuses_a_bad_token(stack):
    env = stack[0]
    result = services.run_manage(["mcp", "--token", "gty_not-a-real-token"], env, check=False)
    assert result.returncode != 0 and "Unknown API token" in result.stderr


@contextlib.contextmanager
def uvicorn_server(env):
    port = services.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "portal.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=services.BASE_DIR,
        env=services.child_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return proc.poll() is not None  # stop waiting if it died

    try:
        services.wait_for(up, timeout=60, message="uvicorn answering /healthz")
        assert proc.poll() is None, "uvicorn exited"
        yield base
    finally:
        services.stop_process(proc)


def _post_unauthenticated(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310
        url, data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers.get("WWW-Authenticate", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("WWW-Authenticate", "")


def test_streamable_http_transport(stack):
    env, seeded, worker, audited = stack
    tokens, ids = seeded["tokens"], seeded["ids"]

    with uvicorn_server(env) as base:
        url = f"{base}/mcp"
        status, challenge = _post_unauthenticated(url, {})
        assert status == 401 and challenge.startswith("Bearer")
        assert _post_unauthenticated(url, {"Authorization": "Bearer gty_wrong"})[0] == 401

        async def main():
            async with http_session(url, tokens["acme-operator"]) as session:
                calls = await _flow(session, f"acme-mcp-http-{secrets.token_hex(3)}", ids["globex-run"])
            async with http_session(url, tokens["acme-viewer"]) as session:
                await _viewer_cannot_plan(session, ids["acme-run"])
            return calls

        try:
            calls = anyio.run(main)
        except BaseException as exc:
            raise AssertionError(f"{exc!r}\nworker log:\n{worker.log_tail()}") from exc
    assert audited("acme") == [*calls, ("plan", "forbidden")]
    assert audited("globex") == []
