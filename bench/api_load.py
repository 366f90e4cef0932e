"""REST API cost under load: /api/v1 list and detail endpoints against a bare Django view (the floor).

Run from the repository root (needs the PostgreSQL server binaries; Redis is used when installed):

    .venv/bin/python bench/api_load.py [--clients 50] [--requests 30] [--workers 4] [--runs 400]

It starts a throw-away PostgreSQL (and Redis for the cache the throttles count in, when available),
migrates, seeds one tenant with `--runs` planned runs (gates, approvals, artifacts rows) and one API
token per client, then serves the app with gunicorn on loopback. The same server also mounts two bare
views that return the same rows as JSON with plain `.values()` queries and no authentication,
permissions, serializers, pagination or throttling: the floor. `--clients` concurrent clients (each with
its own token) then hit, in alternating order per round:

    GET /api/v1/runs/?page_size=50   vs   GET /bare/runs/          (the first 50 runs, newest first)
    GET /api/v1/runs/<id>/           vs   GET /bare/runs/<id>/     (one run with gates, approvals, artifacts)

and it prints p50/p95 latency for each side and the ratio API / bare (target: API p95 <= 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RUN_FIELDS = (
    "id", "status", "kind", "request_text", "config__id", "config__name", "config__env",
    "requested_by__email", "agent", "parser", "replaces_id", "parent_id", "has_changes", "plan_summary",
    "cost_estimate", "approvals_required", "approval_deadline", "apply_requested_at", "error",
    "error_category", "created_at", "updated_at", "finished_at",
)  # fmt: skip
PAGE = 50


# --- the floor: imported by the bench URLconf inside the server process ----------------------------


def bare_runs(request):
    from django.http import JsonResponse

    from runs.models import Run

    rows = Run.objects.filter(tenant_id=int(request.GET["tenant"])).order_by("-created_at", "-id")
    return JsonResponse({"results": list(rows.values(*RUN_FIELDS)[:PAGE])})


def bare_run(request, pk: int):
    from django.http import Http404, JsonResponse

    from runs.models import Approval, Artifact, GateResult, Run

    run = (
        Run.objects.filter(pk=pk)
        .values(*RUN_FIELDS, "intent", "spec", "plan_sha256", "stage_timings")
        .first()
    )
    if run is None:
        raise Http404
    run["gates"] = list(GateResult.objects.filter(run_id=pk).order_by("order").values())
    run["approvals"] = list(Approval.objects.filter(run_id=pk).values())
    run["artifacts"] = list(Artifact.objects.filter(run_id=pk).values())
    return JsonResponse(run)


BENCH_SETTINGS = "from portal.settings import *  # noqa: F403\nROOT_URLCONF = 'bench_urls'\n"
BENCH_URLS = """from django.urls import include, path

from api_load import bare_run, bare_runs

urlpatterns = [
    path("bare/runs/", bare_runs),
    path("bare/runs/<int:pk>/", bare_run),
    path("", include("portal.urls")),
]
"""

SEED = """
import hashlib
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from runs.models import Approval, Artifact, GateResult, Run
from tenants.models import AwsAccount, Config, Membership, Tenant
from tenants.tokens import token_create

N_RUNS, N_TOKENS = {runs}, {tokens}
User = get_user_model()
tenant = Tenant.objects.create(name="Bench", slug="bench")
account = AwsAccount.objects.create(tenant=tenant, name="sandbox", account_id="123456789012")
config = Config.objects.create(tenant=tenant, account=account, name="dev", workspace="bench-dev")
users = {{}}
for role in ("operator", "approver", "admin"):
    users[role] = User.objects.create_user(username=role, email=f"{{role}}@bench.test", password="x" * 16)
    Membership.objects.create(tenant=tenant, user=users[role], role=role)
now = timezone.now()
runs = Run.objects.bulk_create(
    Run(tenant=tenant, config=config, requested_by=users["operator"], request_text=f"create bucket logs-{{i}}",
        workspace_key=f"bench:{{config.pk}}", status="awaiting_approval", approvals_required=2,
        intent={{"action": "create", "domain": "infra"}}, spec={{"stack": "static_bucket"}},
        plan_sha256=hashlib.sha256(str(i).encode()).hexdigest(), config_version=1, has_changes=True,
        plan_summary={{"add": 1, "change": 0, "destroy": 0}}, cost_estimate={{"monthly_usd": "1.20"}},
        approval_deadline=now + timedelta(days=3), last_event_seq=1)
    for i in range(N_RUNS)
)
GateResult.objects.bulk_create(
    GateResult(tenant=tenant, run=run, name=name, status="pass", order=order, summary=f"{{name}} pass")
    for run in runs for order, name in enumerate(("safety", "validate", "checkov", "opa", "cost"))
)
Approval.objects.bulk_create(
    Approval(tenant=tenant, run=run, approver=users["approver"], decision="approve",
             plan_sha256=run.plan_sha256, config_version=1)
    for run in runs
)
Artifact.objects.bulk_create(
    Artifact(tenant=tenant, run=run, kind=kind, key=f"tenants/{{tenant.pk}}/runs/{{run.pk}}/{{kind}}",
             sha256="0" * 64, size=1024)
    for run in runs for kind in ("plan_file", "source_archive")
)
tokens = [token_create(user=users["admin"], tenant=tenant, name=f"client-{{i}}", role="viewer")[1]
          for i in range(N_TOKENS)]
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE")  # the statistics a live database has (autovacuum), so plans are real
emit({{"tenant": tenant.pk, "runs": [run.pk for run in runs], "tokens": tokens}})
"""


# --- measuring -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def drive(base: str, paths: list[str], tokens: list[str], requests: int) -> tuple[list[float], int]:
    """`len(tokens)` concurrent clients, each sending `requests` requests; latencies in ms, failures."""
    import aiohttp

    latencies: list[float] = []
    failures = 0

    async def client(token: str, seed: int) -> None:
        nonlocal failures
        rng = random.Random(seed)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        async with aiohttp.ClientSession(base_url=base, headers=headers) as session:
            for _ in range(requests):
                started = time.perf_counter()
                async with session.get(rng.choice(paths)) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client(token, i) for i, token in enumerate(tokens)))
    return latencies, failures


def wait_http(url: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=5).read()  # noqa: S310 (our own loopback http URL)
            return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="per client, per endpoint and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--runs", type=int, default=400, help="runs seeded in the tenant")
    args = parser.parse_args()
    # Ctrl-C or a timeout's SIGTERM still unwinds the stack below: the servers never outlive the bench.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from portal.testing import services

    with contextlib.ExitStack() as stack:
        print("starting PostgreSQL …", flush=True)
        server_dsn = stack.enter_context(services.postgres_server())
        dsn = services.create_database(server_dsn, "gantry_api_bench")
        redis_url = ""
        try:
            redis_url = stack.enter_context(services.redis_server())
        except services.ServiceUnavailable:
            print("redis-server not installed: the throttles count in the file cache", flush=True)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gantry-api-bench-")))
        (workdir / "bench_settings.py").write_text(BENCH_SETTINGS)
        (workdir / "bench_urls.py").write_text(BENCH_URLS)
        env = {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url or None,
            "GANTRY_VAR_DIR": str(workdir / "var"),
            "DJANGO_SECRET_KEY": "bench-" + "x" * 60,
            "GANTRY_API_RATE_TOKEN": "1000000/min",  # measure the throttle's cost, not its refusals
            "GANTRY_LOG_LEVEL": "WARNING",
        }
        print("migrating …", flush=True)
        services.run_manage(["migrate", "--noinput"], env, timeout=900)
        print(f"seeding {args.runs} runs and {args.clients} tokens …", flush=True)
        seeded = services.manage_shell(SEED.format(runs=args.runs, tokens=args.clients), env, timeout=900)

        port = services.free_port()
        server_env = services.child_env(
            {**env, "DJANGO_SETTINGS_MODULE": "bench_settings", "PYTHONPATH": f"{workdir}:{BENCH_DIR}:{ROOT}"}
        )
        log = open(workdir / "gunicorn.log", "wb")  # noqa: SIM115 (closed with the stack)
        stack.callback(log.close)
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", str(args.workers), "--worker-class", "sync",
             "--backlog", "2048", "--preload", "--timeout", "120", "--log-level", "info"],
            cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        stack.callback(services.stop_process, proc)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", timeout=300)  # --preload: Django is imported once, then forked

        tenant, run_ids, tokens = seeded["tenant"], seeded["runs"], seeded["tokens"]
        sample = run_ids[: min(len(run_ids), 200)]
        targets = {
            ("list", "API"): ["/api/v1/runs/?page_size=50"],
            ("list", "bare"): [f"/bare/runs/?tenant={tenant}"],
            ("detail", "API"): [f"/api/v1/runs/{pk}/" for pk in sample],
            ("detail", "bare"): [f"/bare/runs/{pk}/" for pk in sample],
        }
        print(f"warming up {args.workers} gunicorn workers …", flush=True)
        for paths in targets.values():
            asyncio.run(drive(base, paths, tokens[:8], 5))

        results: dict[tuple[str, str], list[float]] = {key: [] for key in targets}
        failures: dict[tuple[str, str], int] = dict.fromkeys(targets, 0)
        elapsed: dict[tuple[str, str], float] = dict.fromkeys(targets, 0.0)
        for round_no in range(args.rounds):
            order = list(targets) if round_no % 2 == 0 else list(reversed(targets))
            for key in order:
                started = time.perf_counter()
                latencies, failed = asyncio.run(drive(base, targets[key], tokens, args.requests))
                elapsed[key] += time.perf_counter() - started
                results[key] += latencies
                failures[key] += failed
                print(f"  round {round_no + 1}: {key[0]} {key[1]}: {len(latencies)} requests", flush=True)

        # One client alone: each request's own cost, with no queue in front of it.
        alone: dict[tuple[str, str], list[float]] = {}
        for key in targets:
            alone[key], failed = asyncio.run(drive(base, targets[key], tokens[:1], args.requests * 10))
            failures[key] += failed

        total = args.clients * args.requests * args.rounds
        print()
        print(f"{args.clients} concurrent clients, {total} requests per line, gunicorn {args.workers} sync "
              f"workers, PostgreSQL, cache {'Redis' if redis_url else 'files'}, {os.cpu_count()} CPUs")  # fmt: skip
        print(f"{'endpoint':<8} {'side':<5} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'errors':>7}")
        for (kind, side), latencies in results.items():
            print(
                f"{kind:<8} {side:<5} {statistics.median(latencies):>8.1f} {percentile(latencies, 0.95):>8.1f} "
                f"{len(latencies) / elapsed[(kind, side)]:>8.0f} {failures[(kind, side)]:>7}"
            )
        print(f"\n1 client alone ({args.requests * 10} requests per line): the service time, no queueing")
        print(f"{'endpoint':<8} {'side':<5} {'p50 ms':>8} {'p95 ms':>8}")
        for (kind, side), latencies in alone.items():
            print(
                f"{kind:<8} {side:<5} {statistics.median(latencies):>8.1f} {percentile(latencies, 0.95):>8.1f}"
            )
        print()
        for kind in ("list", "detail"):
            api, bare = results[(kind, "API")], results[(kind, "bare")]
            p95 = percentile(api, 0.95)
            one_api, one_bare = alone[(kind, "API")], alone[(kind, "bare")]
            print(
                f"{kind:<8} ratio API/bare: p50 {statistics.median(api) / statistics.median(bare):.2f}x, "
                f"p95 {p95 / percentile(bare, 0.95):.2f}x; API p95 {p95:.1f} ms "
                f"({'meets' if p95 <= 50 else 'misses'} the 50 ms target); alone: API/bare p50 "
                f"{statistics.median(one_api) / statistics.median(one_bare):.2f}x"
            )
        print(
            f"(With {args.clients} clients that never pause, p95 is mostly the queue: about clients / throughput "
            "on these CPUs, which also run PostgreSQL, Redis and the clients.)"
        )
        if any(failures.values()):
            print("\nSome requests failed; server log tail:\n" + services.log_tail(workdir / "gunicorn.log"))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
