"""The gate pipeline: order, blocking, digests, redaction, state placement, policy data, apply guards."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from iac import pipeline as pipeline_module
from iac import spec as spec_module
from iac.gates.base import Finding, GateResult, Severity, Status
from iac.pipeline import (
    PipelineStatus,
    apply_plan,
    gate_digest,
    plan_text,
    platform_checkov_skips,
    redact_plan_json,
    run_pipeline,
)
from iac.policy_data import CURATED_SERVICES, DEFAULT_MAX_DESIRED_CAPACITY, policy_data
from iac.redaction import MASK
from iac.spec import build_spec
from iac.state import backend_for, bucket_name, state_key
from iac.terraform import Category, TerraformRunner

REPO_IAC = Path(spec_module.__file__).resolve().parent
STATIC_BUCKET = {"bucket_name": "acme-static-assets-test"}


@pytest.fixture
def evil_iac(tmp_path, monkeypatch):
    """A copy of the curated code whose static_bucket stack runs a command during plan."""
    root = tmp_path / "iac"
    shutil.copytree(REPO_IAC / "modules", root / "modules")
    shutil.copytree(REPO_IAC / "stacks" / "static_bucket", root / "stacks" / "static_bucket")
    with (root / "stacks" / "static_bucket" / "main.tf").open("a") as handle:
        handle.write('\ndata "external" "pwn" {\n  program = ["sh", "-c", "id > /tmp/pwned; echo {}"]\n}\n')
    monkeypatch.setattr(spec_module, "IAC_ROOT", root)
    return root


def test_unsafe_stack_is_blocked_at_safety_before_init(own, evil_iac, tmp_path, monkeypatch):
    calls = []
    for name in ("init", "validate", "plan", "fmt_check"):
        monkeypatch.setattr(TerraformRunner, name, lambda self, *a, _n=name, **k: calls.append(_n))
    monkeypatch.setattr(pipeline_module, "terraform_env", lambda *a, **k: calls.append("credentials") or {})
    spec = build_spec(
        "static_bucket",
        STATIC_BUCKET,
        account=own.account,
        config=own.dev,
        sandbox_endpoint="http://127.0.0.1:1",
    )
    workdir = tmp_path / "work"
    result = run_pipeline(spec, account=own.account, config=own.dev, workdir=workdir)

    assert result.status == PipelineStatus.BLOCKED
    assert result.blocked_by == "safety"
    assert [g.name for g in result.gates] == ["safety"]
    assert "data-external" in {f.rule for f in result.gates[0].findings}
    assert [s.name for s in result.stages] == ["render", "safety"]
    assert calls == []  # no credentials fetched, no terraform command run
    assert not (workdir / ".terraform").exists()
    assert result.plan_sha256 is None and result.gate_digest == gate_digest(result.gates)


def test_cancelled_before_anything_runs(own, tmp_path):
    event = threading.Event()
    event.set()
    spec = build_spec(
        "static_bucket",
        STATIC_BUCKET,
        account=own.account,
        config=own.dev,
        sandbox_endpoint="http://127.0.0.1:1",
    )
    result = run_pipeline(
        spec, account=own.account, config=own.dev, workdir=tmp_path / "w", cancel_event=event
    )
    assert result.status == PipelineStatus.CANCELLED
    assert result.gates == []


def test_unreachable_account_fails_after_safety_without_running_terraform(own, tmp_path, settings):
    settings.GANTRY_SANDBOX_ENDPOINT = "http://127.0.0.1:9"  # nothing listens
    from tenants.aws import clear_cache

    clear_cache()
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    result = run_pipeline(spec, account=own.account, config=own.dev, workdir=tmp_path / "w")
    assert result.status == PipelineStatus.FAILED
    assert [g.name for g in result.gates] == ["safety"]
    assert result.stages[-1].name == "credentials"
    assert "cannot reach the account" in result.error
    assert not (tmp_path / "w" / ".terraform").exists()


def test_unknown_stage_names_are_rejected(own, tmp_path):
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    with pytest.raises(ValueError, match="unknown stage"):
        run_pipeline(spec, account=own.account, config=own.dev, workdir=tmp_path, stages=["render", "lint"])


# --- digests, redaction, plan text ----------------------------------------------------------------------
def gate(name: str, *findings: Finding, ms: int = 5) -> GateResult:
    result = GateResult(name=name, summary="s", duration_ms=ms, details={"init_ms": ms, "passed": 3})
    for finding in findings:
        result.add(finding)
    return result


def test_gate_digest_ignores_timings_but_not_verdicts():
    base = [gate("safety"), gate("opa", Finding("tags", "missing Owner", Severity.HIGH, "aws_s3_bucket.x"))]
    slower = [
        gate("safety", ms=999),
        gate("opa", Finding("tags", "missing Owner", Severity.HIGH, "aws_s3_bucket.x"), ms=7),
    ]
    assert gate_digest(base) == gate_digest(slower)
    assert gate_digest(base) == gate_digest([g.to_dict() for g in base])
    different = [
        gate("safety"),
        gate("opa", Finding("tags", "missing Team", Severity.HIGH, "aws_s3_bucket.x")),
    ]
    assert gate_digest(base) != gate_digest(different)
    assert gate_digest(base) != gate_digest(list(reversed(base)))


def test_redacted_plan_masks_marked_and_known_sensitive_values():
    plan = {
        "variables": {"db_pass": {"value": "hunter2-secret"}, "name": {"value": "web"}},
        "configuration": {"root_module": {"variables": {"db_pass": {"sensitive": True}}}},
        "resource_changes": [
            {
                "address": "aws_db_instance.x",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {
                        "identifier": "db",
                        "custom": "marked-by-provider",
                        "password": "unmarked-pass",
                    },
                    "after_sensitive": {"custom": True},
                },
            },
            {
                "address": "aws_ssm_parameter.y",
                "change": {
                    "actions": ["update"],
                    "before": {"value": "old-value", "list": ["a", "b"]},
                    "after": {"value": "new-value", "list": ["a", "c"]},
                    "before_sensitive": {"value": True, "list": [False, True]},
                    "after_sensitive": {"value": True, "list": [False, True]},
                },
            },
        ],
        "planned_values": {
            "outputs": {
                "conn": {"sensitive": True, "value": "postgres://u:p@h"},
                "url": {"sensitive": False, "value": "u"},
            },
            "root_module": {
                "resources": [
                    {
                        "address": "aws_db_instance.x",
                        "values": {"custom": "marked-by-provider"},
                        "sensitive_values": {"custom": True},
                    }
                ],
                "child_modules": [
                    {"resources": [{"values": {"secret_string": "s3cr3t-value"}, "sensitive_values": {}}]}
                ],
            },
        },
        "output_changes": {"conn": {"after": "postgres://u:p@h", "after_sensitive": True}},
    }
    redacted = redact_plan_json(plan)
    text = str(redacted)
    for secret in (
        "hunter2-secret",
        "marked-by-provider",
        "unmarked-pass",
        "old-value",
        "new-value",
        "postgres://",
        "s3cr3t-value",
    ):
        assert secret not in text, secret
    changes = redacted["resource_changes"]
    assert changes[0]["change"]["after"]["identifier"] == "db"
    assert changes[1]["change"]["after"]["list"] == ["a", MASK]
    assert redacted["variables"]["name"]["value"] == "web"
    assert redacted["planned_values"]["outputs"]["url"]["value"] == "u"
    assert plan["resource_changes"][0]["change"]["after"]["custom"] == "marked-by-provider"  # input untouched


def test_plan_text_drops_refresh_noise():
    lines = [
        "module.x: Refreshing state... [id=1]",
        "",
        "Terraform will perform the following actions:",
        "  + create",
    ]
    assert plan_text(lines) == "Terraform will perform the following actions:\n  + create\n"
    assert plan_text([]) == ""


def test_platform_checkov_skips_come_from_the_documented_list():
    skips = platform_checkov_skips()
    assert "CKV_AWS_91" in skips and "CKV_AWS_394" in skips
    assert all(reason.strip() for reason in skips.values())


# --- state placement and policy data --------------------------------------------------------------------
def test_state_key_and_bucket_per_tenant_config_stack(own, other, settings):
    backend = backend_for(own.account, own.dev, "web_tier")
    assert backend.key == "tenants/acme/acme-dev/web_tier.tfstate"
    assert backend.bucket == f"gantry-state-{own.account.account_id}-ap-south-1"
    assert backend.use_lockfile and backend.lock_table is None
    assert backend_for(own.account, own.prod, "web_tier").key == "tenants/acme/acme-prod/web_tier.tfstate"
    assert backend_for(other.account, other.dev, "web_tier").key.startswith("tenants/globex/")
    settings.GANTRY_STATE_BUCKET_TEMPLATE = "corp-tfstate-{account_id}-{region}"
    settings.GANTRY_STATE_LOCKING = "dynamodb"
    overridden = backend_for(own.account, own.dev, "web_tier")
    assert overridden.bucket == bucket_name(own.account.account_id, "ap-south-1")
    assert overridden.bucket.startswith("corp-tfstate-")
    assert overridden.lock_table == f"gantry-locks-{own.account.account_id}-ap-south-1"
    with pytest.raises(ValueError):
        state_key("acme", "../x", "web_tier")


def test_policy_data_from_tenant_account_and_config(own):
    own.account.mandatory_tags = ["Owner", "CostCenter"]
    own.account.allowed_regions = ["ap-south-1", "eu-west-1"]
    own.account.allowed_services = []
    data = policy_data(account=own.account, config=own.prod)
    assert data["env"] == "prod"
    assert data["region"] == "ap-south-1"
    assert data["allowed_regions"] == ["ap-south-1", "eu-west-1"]
    assert data["mandatory_tags"] == ["CostCenter", "Owner"]
    assert data["allowed_services"] == sorted(CURATED_SERVICES)
    assert set(data["instance_caps"]) >= {"dev", "staging", "prod", "default"}
    assert data["max_desired_capacity"] == DEFAULT_MAX_DESIRED_CAPACITY
    own.account.allowed_services = ["s3", "kms"]
    assert policy_data(account=own.account, config=own.dev)["allowed_services"] == ["kms", "s3"]


def test_policy_data_settings_override(own, settings):
    settings.GANTRY_MAX_DESIRED_CAPACITY = {"default": 2}
    settings.GANTRY_INSTANCE_CAPS = {"default": {"families": ["t4g"], "max_size": "medium"}}
    data = policy_data(account=own.account, config=own.dev)
    assert data["max_desired_capacity"] == {"default": 2}
    assert data["instance_caps"]["default"]["families"] == ["t4g"]


# --- apply guards ---------------------------------------------------------------------------------------
def test_apply_refuses_a_plan_file_that_changed(own, tmp_path, monkeypatch):
    monkeypatch.setattr(TerraformRunner, "apply", lambda *a, **k: pytest.fail("must not apply"))
    (tmp_path / "plan.tfplan").write_bytes(b"approved plan")
    import hashlib

    approved = hashlib.sha256(b"approved plan").hexdigest()
    (tmp_path / "plan.tfplan").write_bytes(b"tampered plan")
    result = apply_plan(tmp_path, "plan.tfplan", approved, account=own.account, region="ap-south-1", env={})
    assert not result.ok and result.category == Category.STALE_PLAN
    assert "does not match" in result.message
    missing = apply_plan(tmp_path, "none.tfplan", approved, account=own.account, region="ap-south-1", env={})
    assert not missing.ok and missing.category == Category.STALE_PLAN


@pytest.mark.terraform
def test_failing_gate_stops_the_pipeline(own, tmp_path, sandbox_settings, monkeypatch):
    """A failing checkov (code) verdict blocks before plan even though it ran beside init/validate."""
    failing = GateResult(name="checkov_code", summary="1 failed")
    failing.add(Finding("CKV_AWS_1", "bad", Severity.HIGH))
    monkeypatch.setattr(pipeline_module, "_checkov", lambda target, kind, worker=None: failing)
    planned = []
    monkeypatch.setattr(TerraformRunner, "plan", lambda *a, **k: planned.append(1))
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    result = run_pipeline(spec, account=own.account, config=own.dev, workdir=tmp_path / "w")
    assert result.status == PipelineStatus.BLOCKED and result.blocked_by == "checkov_code"
    assert [g.name for g in result.gates] == ["safety", "fmt", "validate", "checkov_code"]
    assert [g.status for g in result.gates[:3]] == [Status.PASS] * 3
    assert planned == []
