"""Sandbox snapshot: how long saving and restoring the embedded AWS's world takes, next to its size.

Run from the repository root:

    .venv/bin/python bench/sandbox_snapshot.py [--accounts 3] [--rounds 3]

A moto sandbox in this process gets the demo world (tenants/demo_world.py: 5 instances, an Auto Scaling
group with 2 more, ECS cluster + task definition + service, a launch template, an RDS instance, a secret)
in each of `--accounts` sandbox accounts, built through boto3 as seed_demo does. Then it pickles every
backend in use (`iac.sandbox_state.snapshot_backends`, what the sandbox does when quiet and at exit) and
restores it (`restore_backends`, what it does at start), median of `--rounds`, and prints both times
beside the time the same world took to build through the API, and the snapshot's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update(
    DJANGO_SETTINGS_MODULE="portal.settings", GANTRY_VAR_DIR=tempfile.mkdtemp(prefix="gantry-bench-")
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from iac import sandbox  # noqa: E402
from iac.sandbox_state import restore_backends, snapshot_backends  # noqa: E402
from tenants.demo_world import build_demo_world, world_counts  # noqa: E402
from tenants.models import AwsAccount, Tenant  # noqa: E402


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server, endpoint = sandbox.start_threaded()
    settings.GANTRY_SANDBOX_ENDPOINT = endpoint
    accounts = [
        AwsAccount(tenant=Tenant(slug=f"bench-{n}", name=f"Bench {n}"), name="sandbox",
                   account_id=f"{710000000000 + n}", default_region="ap-south-1")
        for n in range(args.accounts)
    ]  # fmt: skip
    build_seconds, _ = timed(lambda: [build_demo_world(a) for a in accounts])
    resources = sum(
        sum(world_counts(a).values()) + 3 for a in accounts
    )  # + cluster, task definition, template

    saves, restores, size = [], [], 0
    for _ in range(args.rounds):
        seconds, data = timed(snapshot_backends)
        saves.append(seconds)
        size = len(data)
        seconds, _ = timed(lambda data=data: restore_backends(data))
        restores.append(seconds)
    after = [world_counts(a) for a in accounts]
    server.stop()

    print(f"world: {args.accounts} sandbox accounts, about {resources} resources")
    print(f"built through the API        {build_seconds:8.2f} s")
    print(f"snapshot (pickle, median)    {statistics.median(saves):8.2f} s   {size / 1e6:.1f} MB")
    print(f"restore (unpickle, median)   {statistics.median(restores):8.2f} s")
    print(f"restore / build              {statistics.median(restores) / build_seconds:8.3f}")
    print(f"world after restore: {after[0]}")


if __name__ == "__main__":
    main()
