"""Gate pipeline overhead: the full gate + plan pipeline against a bare `terraform init && terraform plan`.

Run from the repository root:

    TERRAFORM_PLUGIN_DIR=/opt/tf-plugins .venv/bin/python bench/iac_pipeline.py [--rounds 3]

For the web_tier request "3 x t3.medium behind an internal ALB in ap-south-1" it starts an embedded
sandbox, then per round (alternating which side goes first) runs `iac.pipeline.run_pipeline` (render,
safety, fmt, init/validate, checkov code, plan, show -json, OPA, checkov plan, cost; the plan starts
right after init beside checkov code and its own validation pass gives the validate verdict, and both
Checkov scans run in the process's warm Checkov worker) and, on the same rendered code copied to a
fresh dir, a bare `terraform init -plugin-dir=... && terraform plan -out=...`.
It prints each stage's time per round, the medians, the ratio pipeline / bare (target <= 1.5x), and
the CPU seconds each side used (this process and every child it waited for: terraform, its provider
plugins, Checkov, the OPA evaluator), which says more than wall time on a busy machine.
Round 1 is a cold process (Checkov imports, python-hcl2 parses the curated modules); later rounds are
a long-lived worker's steady state. No database: the tenant, account and config are unsaved models.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from iac import sandbox  # noqa: E402
from iac.pipeline import PLAN_FILE, PipelineStatus, run_pipeline, terraform_env  # noqa: E402
from iac.renderer import render  # noqa: E402
from iac.spec import build_spec  # noqa: E402
from iac.state import ensure_backend  # noqa: E402
from iac.terraform import TerraformRunner  # noqa: E402
from tenants.models import AwsAccount, Config, Tenant  # noqa: E402

WEB_TIER = {
    "name": "web",
    "ami_id": "ami-04681a1dbd79675a5",
    "instance_type": "t3.medium",
    "instance_count": 3,
    # moto serves AWS managed IAM policies only with MOTO_IAM_LOAD_MANAGED_POLICIES=true
    "attach_ssm_policy": False,
}


def world() -> tuple[AwsAccount, Config]:
    tenant = Tenant(pk=1, name="Bench", slug="bench")
    account = AwsAccount(
        pk=1,
        tenant=tenant,
        name="bench-sandbox",
        account_id="210000000001",
        mode="sandbox",
        default_region="ap-south-1",
        allowed_regions=["ap-south-1"],
        mandatory_tags=["Owner", "Environment"],
        daily_budget=1500,
        budget_currency="INR",
    )
    config = Config(
        pk=1,
        tenant=tenant,
        account=account,
        name="dev",
        env="dev",
        workspace="bench-dev",
        default_tags={"Owner": "platform", "Environment": "dev"},
    )
    return account, config


def bare(workdir: Path, env: dict[str, str]) -> dict[str, int]:
    """`terraform init && terraform plan` the way a person would run them (same env, same mirror)."""
    runner = TerraformRunner(workdir, env=env)
    base_env = runner.build_env()
    times = {}
    plugin_dir = settings.TERRAFORM_PLUGIN_DIR or os.environ.get("TERRAFORM_PLUGIN_DIR")
    commands = {
        "init": [
            "terraform",
            "init",
            "-input=false",
            "-no-color",
            *([f"-plugin-dir={plugin_dir}"] if plugin_dir else []),
        ],
        "plan": ["terraform", "plan", "-input=false", "-no-color", "-out=bare.tfplan"],
    }
    for name, command in commands.items():
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=workdir, env=base_env, capture_output=True, text=True, check=False)
        times[name] = int((time.perf_counter() - start) * 1000)
        if proc.returncode != 0:
            raise SystemExit(f"bare {name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    times["total"] = times["init"] + times["plan"]
    return times


def init_ms(result) -> int:
    """`terraform init`'s share of the validate stage."""
    gate = result.gate("validate")
    return int(gate.details.get("init_ms", 0)) if gate else 0


def cpu_seconds() -> float:
    """User + system CPU of this process and of every child it has waited for (and theirs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server, endpoint = sandbox.start_threaded()
    settings.GANTRY_SANDBOX_ENDPOINT = endpoint
    account, config = world()
    spec = build_spec("web_tier", WEB_TIER, account=account, config=config, sandbox_endpoint=endpoint)
    scratch = Path(tempfile.mkdtemp(prefix="gantry-bench-"))
    pristine = scratch / "rendered"
    render(spec, pristine, account=account)
    ensure_backend(spec.backend, account=account, endpoint=endpoint)
    pipeline_runs: list[dict[str, int]] = []
    bare_runs: list[dict[str, int]] = []
    try:
        for round_no in range(args.rounds):
            order = ("pipeline", "bare") if round_no % 2 == 0 else ("bare", "pipeline")
            for side in order:
                if side == "pipeline":
                    workdir = scratch / f"pipeline-{round_no}"
                    cpu_start = cpu_seconds()
                    start = time.perf_counter()
                    result = run_pipeline(spec, account=account, config=config, workdir=workdir)
                    wall = int((time.perf_counter() - start) * 1000)
                    cpu_ms = int((cpu_seconds() - cpu_start) * 1000)
                    if result.status != PipelineStatus.PASSED:
                        failing = result.gate(result.blocked_by) if result.blocked_by else None
                        detail = [f.to_dict() for f in failing.findings][:5] if failing else result.error
                        raise SystemExit(f"pipeline {result.status} at {result.blocked_by}: {detail}")
                    timings = {s.name: s.duration_ms for s in result.stages}
                    timings["init"] = init_ms(result)
                    timings["total"] = wall
                    timings["cpu"] = cpu_ms
                    pipeline_runs.append(timings)
                else:
                    # The same rendered code in a fresh dir: no .terraform, no plan.
                    workdir = scratch / f"bare-{round_no}"
                    shutil.copytree(pristine, workdir)
                    cpu_start = cpu_seconds()
                    bare_runs.append(bare(workdir, terraform_env(account, spec.region)))
                    bare_runs[-1]["cpu"] = int((cpu_seconds() - cpu_start) * 1000)
            print(
                f"round {round_no + 1} ({' then '.join(order)}): pipeline {pipeline_runs[-1]['total']} ms, "
                f"bare {bare_runs[-1]['total']} ms, ratio {pipeline_runs[-1]['total'] / bare_runs[-1]['total']:.2f}x"
            )
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    stage_names = list(pipeline_runs[0])
    print(
        f"{'pipeline stage':<16}"
        + "".join(f"{f'r{i + 1}':>9}" for i in range(len(pipeline_runs)))
        + f"{'median':>9}"
    )
    for name in stage_names:
        values = [run.get(name, 0) for run in pipeline_runs]
        print(f"{name:<16}" + "".join(f"{v:>9}" for v in values) + f"{int(statistics.median(values)):>9}")
    print()
    for name in ("init", "plan", "total", "cpu"):
        values = [run[name] for run in bare_runs]
        print(
            f"{'bare ' + name:<16}"
            + "".join(f"{v:>9}" for v in values)
            + f"{int(statistics.median(values)):>9}"
        )
    ratios = [p["total"] / b["total"] for p, b in zip(pipeline_runs, bare_runs, strict=True)]
    median_pipeline = statistics.median(p["total"] for p in pipeline_runs)
    median_bare = statistics.median(b["total"] for b in bare_runs)
    print()
    print(f"per-round ratios: {', '.join(f'{r:.2f}x' for r in ratios)}")
    print(
        f"median pipeline {median_pipeline:.0f} ms / median bare {median_bare:.0f} ms = "
        f"{median_pipeline / median_bare:.2f}x (target <= 1.50x)"
    )
    cpu_ratios = [p["cpu"] / b["cpu"] for p, b in zip(pipeline_runs, bare_runs, strict=True) if b["cpu"]]
    print(f"per-round CPU ratios (pipeline / bare CPU seconds): {', '.join(f'{r:.2f}x' for r in cpu_ratios)}")
    # Where the extra time goes: the stages a bare run does not have, on the critical path.
    med = {name: statistics.median(run.get(name, 0) for run in pipeline_runs) for name in stage_names}
    bare_init = statistics.median(b["init"] for b in bare_runs)
    bare_plan = statistics.median(b["plan"] for b in bare_runs)
    extra = {
        "render+safety+fmt": med.get("render", 0) + med.get("safety", 0) + med.get("fmt", 0),
        "init (minus a bare init)": med.get("init", 0) - bare_init,
        "plan beside checkov code (minus a bare plan)": med.get("plan", 0) - bare_plan,
        "show_json": med.get("show_json", 0),
        "opa ∥ checkov_plan ∥ cost": med.get("post_plan_wall", 0),
    }
    print(
        "critical-path overhead over bare (medians): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in extra.items())
    )
    print(
        f"beside the plan: validate {med.get('validate', 0):.0f} ms (init, then the plan's own validation), "
        f"checkov (code) {med.get('checkov_code', 0):.0f} ms; "
        f"checkov (plan) in the warm worker: {med.get('checkov_plan', 0):.0f} ms"
    )
    print(f"plan file: {PLAN_FILE}; all times in ms, wall clock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
