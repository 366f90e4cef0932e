"""Key scenario end to end: "3 x t3.medium behind an ALB in ap-south-1", every gate, plan, apply, destroy.

Real terraform CLI, real moto server (the session's shared sandbox), the tenant account reached through
`session_for_account` (moto scopes the resources to the account). The ALB is internal (the stack's
default), so the public-exposure policy passes honestly without the override tag.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from iac.gates.base import Status
from iac.pipeline import GATE_ORDER, PipelineStatus, apply_plan, destroy, gate_digest, run_pipeline
from iac.pricing.catalog import PriceKey, default_price_source
from iac.pricing.estimate import estimate
from iac.redaction import MASK
from iac.spec import build_spec
from portal.testing.requirements import requires
from tenants.aws import session_for_account

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.django_db,
    requires("terraform"),
]

# The request as the intent parser would turn it into stack parameters.
WEB_TIER_REQUEST = {
    "name": "web",
    "ami_id": "ami-04681a1dbd79675a5",  # an Amazon Linux 2 AMI moto knows in every region
    "instance_type": "t3.medium",
    "instance_count": 3,
    # moto serves AWS managed IAM policies (AmazonSSMManagedInstanceCore) only when started with
    # MOTO_IAM_LOAD_MANAGED_POLICIES=true; Session Manager access is not part of the request.
    "attach_ssm_policy": False,
}


@pytest.fixture
def world(own, sandbox_settings):
    account = own.account
    account.mandatory_tags = ["Owner", "Environment"]
    account.save()
    own.dev.default_tags = {"Owner": "web-team"}
    own.dev.save()
    return own


def test_web_tier_every_gate_plan_apply_destroy(world, tmp_path):
    account, config = world.account, world.dev
    spec = build_spec(
        "web_tier", WEB_TIER_REQUEST, account=account, config=config, tags={"Environment": "dev"}
    )
    assert spec.region == "ap-south-1"
    lines: list[str] = []
    workdir = tmp_path / "run"

    result = run_pipeline(spec, account=account, config=config, workdir=workdir, on_line=lines.append)

    failing = result.gate(result.blocked_by) if result.blocked_by else None
    assert result.status == PipelineStatus.PASSED, (result.error, failing and failing.to_dict())
    assert [g.name for g in result.gates] == list(GATE_ORDER)
    assert all(g.status != Status.FAIL for g in result.gates)
    stage_names = [s.name for s in result.stages]
    for name in ("render", "safety", "fmt", "validate", "checkov_code", "plan", "show_json", "opa", "cost"):
        assert name in stage_names
    assert stage_names.index("safety") < stage_names.index("validate") < stage_names.index("plan")
    assert result.changes is True
    assert len(result.plan_sha256) == 64 and len(result.source_sha256) == 64
    assert result.gate_digest == gate_digest(result.gates)
    assert result.config_version == config.version
    assert "Plan:" in result.plan_text and "module.stack.module.asg" in result.plan_text
    assert lines  # terraform output streamed

    # Safety trusted exactly the renderer's two files; no module root outside the work dir was needed.
    assert sorted(result.gate("safety").details["trusted_files"]) == ["backend.tf", "provider.tf"]

    # The plan: 3 x t3.medium in an ASG behind an internal ALB, tagged with the mandatory tags.
    plan = result.plan_json
    by_type = {}
    for rc in plan["resource_changes"]:
        by_type.setdefault(rc["type"], []).append(rc)
    asg = by_type["aws_autoscaling_group"][0]["change"]["after"]
    assert asg["desired_capacity"] == 3 and asg["min_size"] == 3
    template = by_type["aws_launch_template"][0]["change"]["after"]
    assert template["instance_type"] == "t3.medium"
    lb = by_type["aws_lb"][0]["change"]["after"]
    assert lb["internal"] is True and lb["load_balancer_type"] == "application"
    assert lb["tags_all"]["Owner"] == "web-team" and lb["tags_all"]["Environment"] == "dev"
    assert lb["tags_all"]["gantry:tenant"] == "acme"

    # The stored copy is redacted; credentials never show up in it.
    creds = session_for_account(account, region="ap-south-1").credentials
    redacted_text = str(result.plan_json_redacted)
    assert creds.secret_access_key not in redacted_text and creds.session_token not in redacted_text
    assert creds.secret_access_key not in result.plan_text
    assert (
        result.plan_json_redacted["resource_changes"][0]["address"] == plan["resource_changes"][0]["address"]
    )
    assert MASK not in str(lb)  # the raw plan is untouched

    # Cost: the gate's figures are the cost module's, and the compute line is 3 x t3.medium in ap-south-1.
    cost = result.gate("cost")
    expected = estimate(plan, "ap-south-1")
    assert cost.details["totals"]["monthly_usd"] == expected.to_dict()["totals"]["monthly_usd"]
    assert cost.details["currency"] == "INR"
    hourly = default_price_source().price(PriceKey("ec2", "ap-south-1", "t3.medium")).usd
    asg_line = next(line for line in expected.lines if line.type == "aws_autoscaling_group")
    compute = next(c for c in asg_line.components if "t3.medium" in c.label)
    assert compute.quantity == 3
    assert compute.monthly_usd == pytest.approx(hourly * 3 * Decimal(730), abs=Decimal("0.01"))
    assert cost.details["budgets"] and not any(b["exceeded"] for b in cost.details["budgets"])

    # OPA ran with the tenant's data and found nothing blocking.
    assert result.gate("opa").details["counts"]["deny"] == 0

    # Apply exactly the planned file, then the state lives in the account's state bucket under its key.
    applied = apply_plan(
        workdir, "plan.tfplan", result.plan_sha256, account=account, region=spec.region, on_line=lines.append
    )
    assert applied.ok, applied.message
    aws = session_for_account(account, region="ap-south-1")
    listed = aws.client("s3").list_objects_v2(Bucket=spec.backend.bucket, Prefix="tenants/acme/")
    keys = [obj["Key"] for obj in listed.get("Contents", [])]
    assert "tenants/acme/acme-dev/web_tier.tfstate" in keys
    groups = aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    web = [g for g in groups if g["AutoScalingGroupName"].startswith("web")]
    assert web and web[0]["DesiredCapacity"] == 3
    # The same plan cannot be applied twice (terraform refuses a stale plan).
    again = apply_plan(workdir, "plan.tfplan", result.plan_sha256, account=account, region=spec.region)
    assert not again.ok

    # Destroy (plan -destroy, then apply that plan) leaves nothing behind in the account.
    destroyed = destroy(workdir, account=account, region=spec.region)
    assert destroyed.ok, destroyed.message
    groups = aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert not [g for g in groups if g["AutoScalingGroupName"].startswith("web")]
