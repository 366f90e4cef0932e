"""Audit search and CSV export at scale, on a real PostgreSQL started on loopback for the run.

Run from the repository root:

    .venv/bin/python bench/audit_scale.py            # 1,000,000 audit events, 100,000 runs
    .venv/bin/python bench/audit_scale.py --quick    # 50,000 events, 5,000 runs

It starts a throw-away PostgreSQL 15 cluster (`portal.testing.services.postgres_server`), migrates,
and seeds a separate bench tenant with COPY: audit events whose hash chain is valid (each hash is
computed with `runs.audit.event_digest`, so `verify_chain` passes) and runs with approvals-free, realistic
fields spread over a year. Then, through the same code the views use (`runs.selectors`,
`runs.filtersets`, `runs.exports`):

- the audit search page's query set (first page, second page by cursor, and the row estimate) for
  common filters: p50/p95 per filter and overall (target p95 <= 100 ms);
- the CSV export of every audit event (and of every run): rows per second both as a wall rate and per
  CPU-second of this (the exporting) process, side by side with the load average at the time, since the
  machine may be shared, and the peak growth of the process's resident memory while streaming (targets
  >= 50,000 rows/s and flat within 100 MB). Before that, the export's PostgreSQL-formatted timestamps
  are checked against Python's `datetime.isoformat()` for a sample of events.

`--profile events|runs` also prints that export's cProfile (top functions by own time); `--explain
"events config=prod"` prints EXPLAIN ANALYZE of that filter's search queries; `--no-export` skips the
exports.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEARCH_TARGET_MS = 100
EXPORT_TARGET_ROWS_S = 50_000
MEMORY_TARGET_MB = 100
ACTIONS = [
    ("run.queued", 20),
    ("run.planning", 20),
    ("run.awaiting_approval", 15),
    ("run.approval.approve", 10),
    ("run.applied", 10),
    ("run.failed", 3),
    ("artifact.downloaded", 10),
    ("session.context_switched", 8),
    ("config.updated", 2),
    ("audit.exported", 2),
]
WORDS = [
    "bucket",
    "vpc",
    "alb",
    "ec2",
    "rds",
    "logs",
    "cache",
    "queue",
    "web",
    "api",
    "batch",
    "reports",
    "archive",
]
SAMPLE_REQUESTS = [
    "Create 3 t3.medium behind ALB in ap-south-1; max ₹1500/day",
    "Create a private S3 bucket feedback-raw in eu-central-1 with versioning",
    "Create a Multi-AZ postgres db.t3.medium with 100 GB in Mumbai",
    "Create an EKS cluster with 3 nodes in us-east-1",
]
STATUSES = [("applied", 40), ("no_changes", 10), ("blocked", 8), ("failed", 7), ("rejected", 5),
            ("awaiting_approval", 10), ("cancelled", 5), ("expired", 5), ("superseded", 10)]  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples the resident set size every 20 ms while the block runs."""

    def __enter__(self):
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def pick(weighted: list[tuple[str, int]], rng: random.Random) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


# --- seeding -------------------------------------------------------------------------------------------


def seed_world():
    from django.contrib.auth import get_user_model

    from tenants.models import AwsAccount, Config, Membership, Tenant

    User = get_user_model()
    tenant = Tenant.objects.create(name="Bench Corp", slug="bench")
    neighbour = Tenant.objects.create(name="Neighbour", slug="neighbour")
    account = AwsAccount.objects.create(
        tenant=tenant, name="bench", account_id="123456789012", monthly_budget=5000, budget_currency="INR"
    )
    configs = [
        Config.objects.create(tenant=tenant, account=account, name=name, env=env, workspace=f"bench-{name}")
        for name, env in (("dev", "dev"), ("staging", "staging"), ("prod", "prod"), ("legacy", "dev"))
    ]
    users = []
    for role in ("viewer", "operator", "operator", "approver", "admin"):
        user = User.objects.create_user(
            username=f"{role}{len(users)}", email=f"{role}{len(users)}@bench.test"
        )
        Membership.objects.create(tenant=tenant, user=user, role=role)
        users.append(user)
    outsider = User.objects.create_user(username="outsider", email="outsider@neighbour.test")
    Membership.objects.create(tenant=neighbour, user=outsider, role="admin")
    return tenant, configs, users


def copy_runs(tenant, configs, users, count: int, rng: random.Random, start: datetime, span: float) -> None:
    from django.db import connection

    from runs.locks import workspace_key_for
    from runs.models import Run

    fields = [f for f in Run._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    keys = {c.pk: workspace_key_for(c) for c in configs}
    # Intents as the offline parser writes them (about 1 KB of JSON each), which the runs export lists.
    from agents.offline_parser import parse

    intents = [parse(text).to_dict() for text in SAMPLE_REQUESTS]
    operators = [u for u in users if "operator" in u.username or "admin" in u.username]
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(f"COPY {Run._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for i in range(count):
            created = start + timedelta(seconds=span * i / count)
            # "legacy" is the rare config (1 run in 200): a selective filter, the hard case for a plan
            # that walks the newest events first.
            config = configs[3] if rng.random() < 0.005 else rng.choice(configs[:3])
            status = pick(STATUSES, rng)
            plan = rng.randint(20_000, 90_000)
            run = Run(
                tenant=tenant,
                config=config,
                requested_by=rng.choice(operators),
                request_text=f"create {rng.choice(WORDS)} {rng.choice(WORDS)} for team {i % 97}",
                intent=intents[i % len(intents)],
                agent=rng.choice(["infra", "infra", "infra", "cost", "security"]),
                workspace_key=keys[config.pk],
                status=status,
                stage_timings={"generate": rng.randint(50, 900), "plan": plan, "pipeline_total": plan + 5000},
                cost_estimate={
                    "currency": "INR",
                    "totals": {"monthly": rng.randint(0, 900), "monthly_usd": 5},
                },
                created_at=created,
                updated_at=created,
            )
            copy.write_row([f.get_db_prep_save(getattr(run, f.attname), connection) for f in fields])


def copy_model_rows(model, instances) -> int:
    """COPY model instances (every concrete field but the id) into the model's table."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for instance in instances:
            copy.write_row([f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields])
            count += 1
    return count


GATES = ["safety", "fmt", "validate", "checkov_code", "opa", "checkov_plan", "cost"]
PLANNED = {"applied", "no_changes", "awaiting_approval", "superseded", "expired", "rejected"}
APPROVED = {"applied", "superseded"}
ARTIFACT_KINDS = [
    "source_archive",
    "plan_file",
    "plan_json_redacted",
    "plan_text",
    "gate_report",
    "cost_report",
]


def copy_run_details(tenant, users, rng: random.Random) -> tuple[int, int, int]:
    """What real runs carry and the runs export lists: seven gate results each (a blocked run's failing
    gate with findings), one or two approvals on approved runs, six artifacts on planned ones."""
    from runs.models import Approval, Artifact, GateResult, Run

    approvers = [u for u in users if "approver" in u.username or "admin" in u.username]
    runs = list(Run.objects.filter(tenant=tenant).values_list("pk", "status", "created_at", "config__env"))

    def gates():
        for pk, status, _created, _env in runs:
            failing = rng.choice(GATES[2:]) if status == "blocked" else None
            for order, name in enumerate(GATES):
                findings = (
                    [{"rule": f"CKV_AWS_{rng.randint(1, 300)}", "address": "module.stack.aws_s3_bucket.this",
                      "message": "a finding", "severity": "HIGH"} for _ in range(rng.randint(1, 4))]
                    if name == failing else []
                )  # fmt: skip
                yield GateResult(
                    tenant=tenant, run_id=pk, name=name, status="fail" if findings else "pass",
                    summary=f"{name}: {len(findings)} finding(s)", findings=findings,
                    duration_ms=rng.randint(5, 20_000), order=order,
                )  # fmt: skip

    def approvals():
        for pk, status, created, env in runs:
            if status not in APPROVED and status != "rejected":
                continue
            for n in range(2 if env == "prod" else 1):
                yield Approval(
                    tenant=tenant, run_id=pk, approver=approvers[n % len(approvers)],
                    decision="reject" if status == "rejected" else "approve",
                    change_ticket=f"CHG-{pk}" if env == "prod" else "", plan_sha256=f"{pk:064x}",
                    config_version=1, acknowledged_warnings=["opa:public:0"] if rng.random() < 0.1 else [],
                    created_at=created + timedelta(minutes=30 + n),
                )  # fmt: skip

    def artifacts():
        for pk, status, created, _ in runs:
            if status in PLANNED:
                for kind in ARTIFACT_KINDS:
                    yield Artifact(
                        tenant=tenant, run_id=pk, kind=kind, key=f"tenants/{tenant.pk}/runs/{pk}/{kind}",
                        sha256=f"{pk:064x}", size=rng.randint(500, 90_000), created_at=created,
                    )  # fmt: skip

    return (
        copy_model_rows(GateResult, gates()),
        copy_model_rows(Approval, approvals()),
        copy_model_rows(Artifact, artifacts()),
    )


def copy_events(
    tenant, users, configs, count: int, rng: random.Random, start: datetime, span: float, runs: int
):
    """A valid chain for the bench tenant: seq 1..count, each hash over the previous one."""
    from django.db import connection
    from psycopg.types.json import Jsonb

    from runs.audit import GENESIS, chain_key, event_digest
    from runs.models import AuditChainHead, AuditEvent, Run

    first_run = Run.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True).first() or 1
    run_configs = dict(Run.objects.filter(tenant=tenant).values_list("pk", "config_id"))
    chain = chain_key(tenant)
    columns = ["tenant_id", "chain", "seq", "created_at", "actor_id", "actor_label", "action", "object_type",
               "object_id", "summary", "data", "request_id", "ip_address", "prev_hash", "hash", "run_id",
               "config_id"]  # fmt: skip
    prev = GENESIS
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            f"COPY {AuditEvent._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        ) as copy,
    ):
        for seq in range(1, count + 1):
            actor = rng.choice(users)
            action = pick(ACTIONS, rng)
            about_run = action.startswith("run.") or action == "artifact.downloaded"
            run_id = first_run + rng.randrange(runs) if about_run else None
            config_id = run_configs.get(run_id) if about_run else rng.choice(configs[:3]).pk
            event = AuditEvent(
                tenant_id=tenant.pk,
                chain=chain,
                seq=seq,
                created_at=start + timedelta(seconds=span * seq / count),
                actor_id=actor.pk,
                actor_label=actor.email,
                action=action,
                object_type="runs.run" if about_run else "tenants.config",
                object_id=str(run_id if about_run else config_id),
                summary=f"Run #{run_id}: {action} ({rng.choice(WORDS)})"
                if about_run
                else f"{action} by {actor.email}",
                data={"n": seq, "word": rng.choice(WORDS)},
                request_id=f"req-{seq:08x}",
                ip_address="10.0.0.1",
                prev_hash=prev,
            )
            event.hash = event_digest(event)
            prev = event.hash
            copy.write_row([
                event.tenant_id, event.chain, event.seq, event.created_at, event.actor_id, event.actor_label,
                event.action, event.object_type, event.object_id, event.summary, Jsonb(event.data),
                event.request_id, event.ip_address, event.prev_hash, event.hash, run_id, config_id,
            ])  # fmt: skip
    AuditChainHead.objects.update_or_create(chain=chain, defaults={"seq": count, "last_hash": prev})


# --- measuring ---------------------------------------------------------------------------------------


def search_request(user, tenant, params: dict):
    from django.http import QueryDict
    from django.test import RequestFactory

    from tenants.context import ActiveContext
    from tenants.models import Membership

    request = RequestFactory().get("/audit/")
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [str(value)])
    request.GET = query
    request.user = user
    membership = Membership.objects.select_related("tenant").get(user=user, tenant=tenant)
    request.gantry = ActiveContext(memberships=[membership], membership=membership)
    return request


def page_query_set(request, scope: str, older: str = ""):
    """Exactly what AuditSearchView runs for its results: filterset, keyset page, row estimate."""
    from runs import selectors
    from runs.audit_views import PAGE_SIZE, audit_filterset

    filterset = audit_filterset(request, scope)
    assert filterset.is_valid(), filterset.errors
    page = selectors.keyset_page(filterset.qs, older_than=older, size=PAGE_SIZE)
    estimate = selectors.estimate_rows(filterset.qs)
    return page, estimate


def search_cases(configs, users) -> list[tuple[str, str, dict]]:
    today = datetime.now().date()
    week_ago = (today - timedelta(days=7)).isoformat()
    month_ago = (today - timedelta(days=30)).isoformat()
    cases = [
        ("runs", "no filter", {}),
        ("runs", "status=applied", {"status": "applied"}),
        ("runs", "status=failed,blocked", {"status": ["failed", "blocked"]}),
        ("runs", "config=prod", {"config": configs[2].pk}),
        ("runs", "config=legacy (rare)", {"config": configs[3].pk}),
        ("runs", "user", {"user": users[1].pk}),
        ("runs", "agent=cost", {"agent": "cost"}),
        ("runs", "last 30 days", {"created_after": month_ago}),
        ("runs", "q=archive", {"q": "archive"}),
        (
            "runs",
            "status+config+30d",
            {"status": "applied", "config": configs[0].pk, "created_after": month_ago},
        ),
        ("events", "no filter", {"scope": "events"}),
        ("events", "action=run.applied", {"scope": "events", "action": "run.applied"}),
        ("events", "action=run.approval.*", {"scope": "events", "action": "run.approval.*"}),
        ("events", "status=failed", {"scope": "events", "status": "failed"}),
        ("events", "user", {"scope": "events", "user": users[3].pk}),
        ("events", "config=prod", {"scope": "events", "config": configs[2].pk}),
        ("events", "config=legacy (rare)", {"scope": "events", "config": configs[3].pk}),
        ("events", "account", {"scope": "events", "account": configs[0].account_id}),
        ("events", "agent=cost", {"scope": "events", "agent": "cost"}),
        ("events", "last 7 days", {"scope": "events", "created_after": week_ago}),
        ("events", "q=archive", {"scope": "events", "q": "archive"}),
        (
            "events",
            "action+user+30d",
            {"scope": "events", "action": "run.applied", "user": users[1].pk, "created_after": month_ago},
        ),
    ]
    return cases


def measure_search(user, tenant, configs, users, rounds: int) -> list[tuple[str, list[float], str]]:
    results = []
    for scope, label, params in search_cases(configs, users):
        request = search_request(user, tenant, {**params, "scope": scope})
        timings, estimate = [], ""
        page_query_set(request, scope)  # warm the plan cache and the buffer pool once
        for _ in range(rounds):
            started = time.perf_counter()
            page, est = page_query_set(request, scope)
            if page.older:  # the second page by cursor, as the "Older" link asks for it
                page_query_set(request, scope, older=page.older)
            timings.append((time.perf_counter() - started) * 1000 / (2 if page.older else 1))
            estimate = str(est)
        results.append((f"{scope:6} {label}", timings, estimate))
    return results


def explain_search(user, tenant, configs, users, wanted: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every query the search page runs for the filter labelled `wanted`
    (e.g. "events config=prod"): first page, the cursor page and the row estimate."""
    from django.db import connection

    found = [
        (scope, params)
        for scope, label, params in search_cases(configs, users)
        if f"{scope} {label}" == wanted
    ]
    if not found:
        print(f"no search filter labelled {wanted!r}")
        return
    scope, params = found[0]
    queries: list[tuple[str, tuple]] = []

    def capture(execute, sql, params, many, context):
        queries.append((sql, params))
        return execute(sql, params, many, context)

    request = search_request(user, tenant, {**params, "scope": scope})
    with connection.execute_wrapper(capture):
        page, _ = page_query_set(request, scope)
        if page.older:
            page_query_set(request, scope, older=page.older)
    for sql, query_params in queries:
        if sql.lstrip().upper().startswith("EXPLAIN"):
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, query_params)
            print(f"\n{sql[:400]}\n" + "\n".join(row[0] for row in cursor.fetchall()))


def measure_export(user, tenant, scope: str) -> tuple[int, float, PeakRss]:
    from runs.audit_views import audit_filterset
    from runs.exports import events_csv, path_builder, runs_csv

    path_builder("run_detail", "/runs/{}/")  # loads the URL configuration, as a serving process has

    request = search_request(user, tenant, {"scope": scope})
    filterset = audit_filterset(request, scope, action="audit.export")
    assert filterset.is_valid()
    stream = events_csv(filterset.qs) if scope == "events" else runs_csv(filterset.qs)
    lines = 0
    with PeakRss() as memory:
        started, cpu = time.perf_counter(), time.process_time()
        for block in stream:
            lines += block.count(b"\n")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return lines - 1, seconds, cpu, memory  # minus the header


def percentile(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def profile_export(user, tenant, scope: str, top: int = 15) -> None:
    """One export once more under cProfile: where the per-row time goes."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(measure_export, user, tenant, scope)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def verdict_for(rate: float, flat: bool) -> str:
    return "meets" if rate >= EXPORT_TARGET_ROWS_S and flat else "MISSES"


def timestamps_match(tenant) -> str:
    """The export's timestamp cells come from PostgreSQL (runs.exports.UtcIsoformat); check them against
    Python's `datetime.isoformat()` for a sample of events, one of them on a whole second."""
    from django.db.models import DateTimeField, Value

    from runs.exports import UtcIsoformat
    from runs.models import AuditEvent

    sample = AuditEvent.objects.filter(tenant=tenant).order_by("-created_at")[:1000]
    pairs = list(sample.annotate(cell=UtcIsoformat("created_at")).values_list("created_at", "cell"))
    whole = pairs[0][0].replace(microsecond=0)  # isoformat() drops a zero fraction
    literal = UtcIsoformat(Value(whole, output_field=DateTimeField()))
    pairs.append((whole, sample.annotate(cell=literal).values_list("cell", flat=True)[0]))
    wrong = [(moment.isoformat(), cell) for moment, cell in pairs if moment.isoformat() != cell]
    return f"{len(pairs) - len(wrong)} of {len(pairs)} match datetime.isoformat()" + (
        f"; MISMATCH e.g. {wrong[0]}" if wrong else ""
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 events and 5,000 runs")
    parser.add_argument("--events", type=int, help="audit events to seed (default 1,000,000)")
    parser.add_argument("--runs", type=int, help="runs to seed (default 100,000)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per filter")
    parser.add_argument(
        "--profile", choices=["events", "runs"], help="also cProfile the export of that scope"
    )
    parser.add_argument(
        "--explain",
        metavar="FILTER",
        action="append",
        help='EXPLAIN the search queries of e.g. "events user"',
    )
    parser.add_argument("--no-export", action="store_true", help="measure the search only")
    args = parser.parse_args()
    events = args.events or (50_000 if args.quick else 1_000_000)
    runs = args.runs or (5_000 if args.quick else 100_000)
    rounds = args.rounds or (5 if args.quick else 20)

    from portal.testing.services import postgres_server

    with postgres_server() as dsn:
        os.environ["DATABASE_URL"] = dsn
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        settings.DEBUG = False  # no query log growing in memory
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(
            f"PostgreSQL {connection.pg_version // 10000}, migrated in {time.perf_counter() - started:.1f}s"
        )

        rng = random.Random(42)
        tenant, configs, users = seed_world()
        from django.utils import timezone

        span = 365 * 86400.0
        start = timezone.now() - timedelta(seconds=span)
        t0 = time.perf_counter()
        copy_runs(tenant, configs, users, runs, rng, start, span)
        gate_rows, approval_rows, artifact_rows = copy_run_details(tenant, users, rng)
        t1 = time.perf_counter()
        copy_events(tenant, users, configs, events, rng, start, span, runs)
        t2 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a live table: index-only scans work
        print(
            f"Seeded {runs:,} runs ({gate_rows:,} gate results, {approval_rows:,} approvals, "
            f"{artifact_rows:,} artifacts) in {t1 - t0:.1f}s and {events:,} audit events in {t2 - t1:.1f}s (COPY)"
        )

        from runs.audit import chain_key, verify_chain

        t3 = time.perf_counter()
        report = verify_chain(chain_key(tenant))
        print(f"Chain check: {'ok' if report.ok else report.reason}, {report.checked:,} events in "
              f"{time.perf_counter() - t3:.1f}s")  # fmt: skip

        viewer = users[0]
        print(
            f"\nAudit search page query set (first page + cursor page + row estimate), {rounds} rounds each"
        )
        print(f"{'filter':38} {'p50 ms':>8} {'p95 ms':>8}  rows")
        everything = []
        for label, timings, estimate in measure_search(viewer, tenant, configs, users, rounds):
            everything += timings
            print(f"{label:38} {statistics.median(timings):8.1f} {percentile(timings, 95):8.1f}  {estimate}")
        p95 = percentile(everything, 95)
        verdict = "meets" if p95 <= SEARCH_TARGET_MS else "MISSES"
        print(f"{'all filters':38} {statistics.median(everything):8.1f} {p95:8.1f}  "
              f"({verdict} the p95 <= {SEARCH_TARGET_MS} ms target)")  # fmt: skip
        for wanted in args.explain or ():
            explain_search(viewer, tenant, configs, users, wanted)

        if args.no_export:
            connection.close()
            return 0
        print("\nCSV export (streamed through runs.exports, server-side cursor)")
        print(f"Timestamp cells as PostgreSQL spells them: {timestamps_match(tenant)}")
        for scope in ("events", "runs"):
            rows, seconds, cpu, memory = measure_export(viewer, tenant, scope)
            load = os.getloadavg()
            wall_rate = rows / seconds if seconds else float("inf")
            cpu_rate = rows / cpu if cpu else float("inf")
            flat = memory.growth <= MEMORY_TARGET_MB
            print(
                f"{scope:6}: {rows:,} rows in {seconds:.1f}s wall, {cpu:.1f}s CPU of this process\n"
                f"        {wall_rate:,.0f} rows/s wall [{verdict_for(wall_rate, flat)}] | "
                f"{cpu_rate:,.0f} rows per CPU-second [{verdict_for(cpu_rate, flat)}] | "
                f"resident memory {memory.start:.0f} MB -> peak {memory.peak:.0f} MB (+{memory.growth:.0f} MB)\n"
                f"        load average (1, 5, 15 min) {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} "
                f"on {os.cpu_count()} CPUs"
            )
        print(
            f"Targets: >= {EXPORT_TARGET_ROWS_S:,} rows/s with memory within {MEMORY_TARGET_MB} MB. The wall "
            "rate is what a user waits for on this (shared) machine; the CPU rate is the exporting process's "
            "own cost (PostgreSQL's share runs in its own process)."
        )
        if args.profile:
            print(f"\ncProfile of the {args.profile} export (wall-clock times under the profiler)")
            profile_export(viewer, tenant, args.profile)
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
