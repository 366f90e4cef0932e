"""Run throughput: N runs submitted at once, planned by real Celery workers against the embedded sandbox.

Run from the repository root:

    TERRAFORM_PLUGIN_DIR=/opt/tf-plugins .venv/bin/python bench/run_throughput.py [--runs 20] [--workers 2]
        [--apply] [--bare-rounds 3]

Everything is its own: a temp var dir (SQLite file, file-system broker, artifacts, work dirs), a moto
sandbox in this process, and `--workers` real `celery -A portal worker` processes (concurrency 1 each, all
queues). It seeds one tenant with one config per run (a run holds its workspace's lock, so runs on one
workspace would queue behind each other by design), submits every run in one go (`static_bucket` with its
own bucket name; the spec is given, so the language parser is not measured) and waits until each has
planned (awaiting approval) or ended; with `--apply` it then approves and applies each as it becomes ready.

It prints runs per minute (submission → last run done), p50/p95 per stage from the run rows'
`stage_timings` plus the wait for a worker, and the ratio of the mean run time to a bare
`terraform init && terraform plan` of the same rendered code, measured in the same run after the workers
are idle (median of `--bare-rounds`). Two ratios: end to end (created → planned, including the wait for a
free worker, which dominates when N runs share two workers) and in the worker (generate → planned).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VAR_DIR = Path(tempfile.mkdtemp(prefix="gantry-bench-runs-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="portal.settings",
    GANTRY_VAR_DIR=str(VAR_DIR),
    GANTRY_EMAIL_VERIFICATION="none",
    LITELLM_LOCAL_MODEL_COST_MAP="True",
)
for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):  # the embedded defaults only
    os.environ.pop(name, None)

from portal.testing import services  # noqa: E402

STAGES = ("generate", "render", "safety", "fmt", "validate", "checkov_code", "plan", "show_json", "opa",
          "checkov_plan", "cost", "apply", "outputs")  # fmt: skip
DONE = {"awaiting_approval", "no_changes", "blocked", "failed", "cancelled", "applied", "stale", "expired",
        "interrupted"}  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def seed(count: int):
    from tenants.tests.factories import AwsAccountFactory, ConfigFactory, MembershipFactory, TenantFactory

    tenant = TenantFactory(name="Bench Corp", slug="bench")
    account = AwsAccountFactory(tenant=tenant, name="sandbox", account_id="271828182845")
    configs = [
        ConfigFactory(
            tenant=tenant, account=account, name=f"ws{i:02d}", env="dev", workspace=f"bench-{i:02d}"
        )
        for i in range(count)
    ]
    operator = MembershipFactory(tenant=tenant, role="operator", user__username="bench-operator").user
    approver = MembershipFactory(tenant=tenant, role="approver", user__username="bench-approver").user
    return account, configs, operator, approver


def submit(configs, operator, stamp: str) -> list[int]:
    """Every run created in one transaction: their tasks reach the broker together, on commit."""
    from django.db import transaction

    from iac.spec import build_spec
    from runs.services import _create_run

    with transaction.atomic():
        return [
            _create_run(
                config=config,
                user=operator,
                request_text=f"bench bucket {i}",
                status="queued",
                message="bench",
                spec=build_spec("static_bucket", {"bucket_name": f"bench-{stamp}-{i:02d}"},
                                account=config.account, config=config).model_dump(mode="json"),
            ).pk
            for i, config in enumerate(configs)
        ]  # fmt: skip


def wait_all(run_ids: list[int], approver, operator, *, apply: bool, timeout: float) -> None:
    from runs.approvals import run_approve, warnings_to_acknowledge
    from runs.models import Run
    from runs.services import run_request_apply

    final = DONE - ({"awaiting_approval"} if apply else set())
    requested: set[int] = set()
    deadline = time.monotonic() + timeout
    shown = -1
    while True:
        runs = list(Run.objects.filter(pk__in=run_ids))
        if apply:
            for run in runs:
                if run.status == "awaiting_approval" and run.pk not in requested:
                    keys = [w.key for w in warnings_to_acknowledge(run)]
                    run_approve(user=approver, run_id=run.pk, acknowledged_warnings=keys)
                    run_request_apply(user=operator, run_id=run.pk)
                    requested.add(run.pk)
        done = sum(r.status in final for r in runs)
        if done != shown:
            print(
                f"  {done}/{len(run_ids)} done after {time.monotonic() - (deadline - timeout):.0f} s",
                flush=True,
            )
            shown = done
        if done == len(run_ids):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"\ntimed out: {[(r.pk, r.status) for r in runs if r.status not in final]}")
        time.sleep(1)


def bare_plan(spec_data: dict, account, rounds: int) -> list[float]:
    """`terraform init && terraform plan` of the same rendered code, same plugin dir and credentials."""
    from iac.pipeline import terraform_env
    from iac.renderer import render
    from iac.spec import CompositionSpec
    from iac.state import ensure_backend
    from iac.terraform import TerraformRunner

    spec = CompositionSpec.parse(spec_data)
    ensure_backend(spec.backend, account=account, endpoint=spec.sandbox_endpoint)
    times = []
    for _ in range(rounds):
        workdir = Path(tempfile.mkdtemp(prefix="bench-bare-"))
        shutil.rmtree(workdir)
        render(spec, workdir, account=account)
        runner = TerraformRunner(workdir, env=terraform_env(account, spec.region))
        start = time.perf_counter()
        init = runner.init()
        plan = runner.plan("bare.tfplan") if init.ok else init
        times.append(time.perf_counter() - start)
        shutil.rmtree(workdir, ignore_errors=True)
        if not plan.ok:
            raise SystemExit(f"bare terraform failed: {plan.message}")
    return times


def report(run_ids: list[int], wall: float, bare: list[float]) -> None:
    from runs.models import Run, RunEvent

    runs = list(Run.objects.filter(pk__in=run_ids))
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    print(f"\nruns: {len(runs)}  outcomes: {statuses}")
    print(f"wall: {wall:.1f} s  ->  {len(runs) / wall * 60:.2f} runs/minute")

    per_stage: dict[str, list[float]] = {name: [] for name in STAGES}
    waits, end_to_end, in_worker = [], [], []
    for run in runs:
        for name, entry in (run.stage_timings or {}).items():
            if name in per_stage and isinstance(entry, dict) and "ms" in entry:
                per_stage[name].append(entry["ms"] / 1000)
        events = {e.to_status: e.created_at for e in RunEvent.objects.filter(run=run).order_by("seq")}
        planned = events.get("awaiting_approval") or events.get("no_changes")
        if planned is None or "generating" not in events:
            continue
        waits.append((events["generating"] - run.created_at).total_seconds())
        end_to_end.append((planned - run.created_at).total_seconds())
        in_worker.append((planned - events["generating"]).total_seconds())
    print(f"\n{'stage':<16}{'n':>4}{'p50 s':>9}{'p95 s':>9}")
    print(
        f"{'wait for worker':<16}{len(waits):>4}{percentile(waits, 0.5):>9.2f}{percentile(waits, 0.95):>9.2f}"
    )
    for name, values in per_stage.items():
        if values:
            print(
                f"{name:<16}{len(values):>4}{percentile(values, 0.5):>9.2f}{percentile(values, 0.95):>9.2f}"
            )
    print(f"{'run (e2e)':<16}{len(end_to_end):>4}{percentile(end_to_end, .5):>9.2f}"
          f"{percentile(end_to_end, .95):>9.2f}")  # fmt: skip
    print(f"{'run (worker)':<16}{len(in_worker):>4}{percentile(in_worker, .5):>9.2f}"
          f"{percentile(in_worker, .95):>9.2f}")  # fmt: skip

    bare_median = statistics.median(bare)
    print(f"\nbare terraform init && plan (same code, idle workers): median {bare_median:.2f} s "
          f"over {len(bare)} round(s) {[round(b, 2) for b in bare]}")  # fmt: skip
    if end_to_end:
        print(f"ratio mean run time / bare, end to end (incl. wait for a worker): "
              f"{statistics.mean(end_to_end) / bare_median:.2f}x")  # fmt: skip
        print(f"ratio mean run time / bare, in the worker (generate -> planned):  "
              f"{statistics.mean(in_worker) / bare_median:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--apply", action="store_true", help="approve and apply each run too")
    parser.add_argument("--bare-rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    from iac.testing import PLUGIN_DIR

    with ExitStack() as stack:
        endpoint = stack.enter_context(services.moto_server())
        os.environ.update(GANTRY_SANDBOX_ENDPOINT=endpoint, TERRAFORM_PLUGIN_DIR=PLUGIN_DIR)
        env = {"GANTRY_VAR_DIR": str(VAR_DIR), "GANTRY_SANDBOX_ENDPOINT": endpoint,
               "TERRAFORM_PLUGIN_DIR": PLUGIN_DIR, "GANTRY_EMAIL_VERIFICATION": "none"}  # fmt: skip
        import django

        django.setup()
        from django.core.management import call_command

        print(f"var dir {VAR_DIR}; sandbox {endpoint}; migrating…")
        call_command("migrate", "--noinput", verbosity=0)
        account, configs, operator, approver = seed(args.runs)
        from django.db import connection

        connection.close()  # the workers open their own connections to the same SQLite file
        workers = [
            stack.enter_context(services.celery_worker(env, log_dir=VAR_DIR / "logs"))
            for _ in range(args.workers)
        ]
        print(f"{len(workers)} worker(s) ready; submitting {args.runs} runs at once")
        started = time.perf_counter()
        run_ids = submit(configs, operator, stamp=str(int(time.time())))
        wait_all(run_ids, approver, operator, apply=args.apply, timeout=args.timeout)
        wall = time.perf_counter() - started
        from runs.models import Run

        bare = bare_plan(Run.objects.get(pk=run_ids[0]).spec, account, args.bare_rounds)
        report(run_ids, wall, bare)
    shutil.rmtree(VAR_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
