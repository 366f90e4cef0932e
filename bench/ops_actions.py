"""Operations: Gantry's reviewed path for stopping 20 tagged instances beside the bare boto3 calls.

Run from the repository root: ``.venv/bin/python bench/ops_actions.py [--targets 20] [--rounds 5]``.

Everything is its own: a temp var dir (SQLite file, artifacts), and the embedded sandbox in its own
process (`manage.py sandbox --ephemeral`, so moto's CPU does not share this process's interpreter lock).
Each round starts the instances again (not measured), then measures, in alternating order:

- **bare**: what a script would do: `describe_instances` by tag, `stop_instances`, the
  `instance_stopped` waiter (1 s delay);
- **Gantry**: an `aws` run from the same selector: plan (resolve, DryRun pre-check, Rego gates, plan
  document stored) → approve → request apply → apply (re-check of the world, the call, polling every
  1 s until verified, receipt) — the worker functions called in this process, no queue wait.

It prints the median of each, the ratio Gantry/bare (target ≤ 1.5×), Gantry's plan and apply parts, and
whether Gantry's path stayed under 30 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VAR_DIR = Path(tempfile.mkdtemp(prefix="gantry-bench-ops-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="portal.settings",
    GANTRY_VAR_DIR=str(VAR_DIR),
    GANTRY_EMAIL_VERIFICATION="none",
    GANTRY_AWS_POLL_SECONDS="1",
    GANTRY_HEARTBEAT_SECONDS="0",
    LITELLM_LOCAL_MODEL_COST_MAP="True",
)
for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):  # the embedded defaults only
    os.environ.pop(name, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", "--port", str(port), "--ephemeral"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310 (loopback)
            return process, endpoint
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the sandbox did not start within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    sandbox, endpoint = start_sandbox()
    os.environ["GANTRY_SANDBOX_ENDPOINT"] = endpoint
    try:
        run_bench(args.targets, args.rounds)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def run_bench(count: int, rounds: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)

    from runs import worker
    from runs.approvals import run_approve
    from runs.services import run_create_from_source, run_request_apply
    from tenants.aws import session_for_account
    from tenants.tests.factories import AwsAccountFactory, ConfigFactory, MembershipFactory, TenantFactory

    tenant = TenantFactory(name="Bench Corp", slug="bench")
    account = AwsAccountFactory(tenant=tenant, name="sandbox", account_id="314159265358")
    config = ConfigFactory(tenant=tenant, account=account, name="dev", env="dev", workspace="bench-dev")
    operator = MembershipFactory(tenant=tenant, role="operator", user__username="bench-operator").user
    approver = MembershipFactory(tenant=tenant, role="approver", user__username="bench-approver").user

    ec2 = session_for_account(account, region=config.region).client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    tags = [{"Key": "Env", "Value": "bench"}]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(
            ImageId=image,
            MinCount=count,
            MaxCount=count,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"]
    ]
    selector = {"tags": {"Env": "bench"}}

    def restart() -> None:
        ec2.start_instances(InstanceIds=ids)
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})

    def bare() -> float:
        started = time.perf_counter()
        found = ec2.describe_instances(
            Filters=[
                {"Name": "tag:Env", "Values": ["bench"]},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )
        targets = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
        ec2.stop_instances(InstanceIds=targets)
        ec2.get_waiter("instance_stopped").wait(InstanceIds=targets, WaiterConfig={"Delay": 1})
        return time.perf_counter() - started

    def gantry() -> tuple[float, float, float]:
        started = time.perf_counter()
        source = {"action": "ec2.stop_instances", "params": {}, "selector": selector}
        run = run_create_from_source(
            user=operator, config_id=config.pk, engine="aws", source=source, request_text="stop bench"
        )
        status = worker.run_plan(run.pk, tenant_id=tenant.pk)
        planned = time.perf_counter()
        assert status == "awaiting_approval", status
        run_approve(user=approver, run_id=run.pk)
        run_request_apply(user=operator, run_id=run.pk)
        status = worker.run_apply(run.pk, tenant_id=tenant.pk)
        assert status == "applied", status
        done = time.perf_counter()
        return done - started, planned - started, done - planned

    bare_times, gantry_times, plan_times, apply_times = [], [], [], []
    for index in range(rounds):
        order = ("bare", "gantry") if index % 2 == 0 else ("gantry", "bare")
        for which in order:
            restart()
            if which == "bare":
                bare_times.append(bare())
            else:
                total, plan, apply = gantry()
                gantry_times.append(total)
                plan_times.append(plan)
                apply_times.append(apply)

    b, g = statistics.median(bare_times), statistics.median(gantry_times)
    print(f"{count} targets, {rounds} rounds, sandbox in its own process")
    print(f"bare boto3 (describe, stop, waiter):   median {b * 1000:7.0f} ms")
    print(f"Gantry plan + approve + apply:          median {g * 1000:7.0f} ms")
    print(
        f"  of which plan {statistics.median(plan_times) * 1000:.0f} ms, apply {statistics.median(apply_times) * 1000:.0f} ms"
    )
    print(
        f"ratio Gantry / bare: {g / b:.2f}x (target <= 1.5x); within 30 s: {'yes' if max(gantry_times) < 30 else 'no'}"
    )


if __name__ == "__main__":
    main()
