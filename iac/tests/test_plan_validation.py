"""The validate verdict from `terraform plan`'s own validation pass, `validate -json` when it says anything.

`terraform plan` runs the same configuration validation as `terraform validate` before it plans, so the
pipeline does not load the provider a second time for `validate` when the plan is clean; any failure or
diagnostic brings `validate -json` back, so the findings are always validate's own.
"""

from __future__ import annotations

import pytest

from iac.gates.base import Status
from iac.gates.terraform_checks import plan_validation_gate
from iac.pipeline import CODE_STAGES, PLAN_FILE, PipelineStatus, run_pipeline
from iac.spec import build_spec
from iac.terraform import Category, TerraformResult, sha256_file

STATIC_BUCKET = {"bucket_name": "acme-static-assets-canned"}  # as test_stage_events: one real plan
WARNING = {
    "severity": "warning",
    "summary": "Argument is deprecated",
    "detail": "Use the aws_s3_bucket_acl resource instead.",
    "range": {"filename": "main.tf", "start": {"line": 7}},
}
ERROR = {
    "severity": "error",
    "summary": "Unsupported argument",
    "detail": 'An argument named "nope" is not expected here.',
    "range": {"filename": "main.tf", "start": {"line": 3}},
}


@pytest.fixture
def plan_run(own, tmp_path, canned_terraform):
    own.account.daily_budget = own.account.monthly_budget = None
    spec = build_spec(
        "static_bucket",
        STATIC_BUCKET,
        account=own.account,
        config=own.dev,
        sandbox_endpoint="http://127.0.0.1:1",
    )

    def run(**kwargs):
        return run_pipeline(spec, account=own.account, config=own.dev, workdir=tmp_path / "w", **kwargs)

    return run


def test_a_clean_plan_is_the_validate_verdict(plan_run, canned_terraform, tmp_path):
    result = plan_run()
    assert result.status == PipelineStatus.PASSED
    assert "validate" not in canned_terraform  # no second provider load
    assert canned_terraform[:2] == ["init", "plan"]
    gate = result.gate("validate")
    assert gate.status == Status.PASS and gate.findings == []
    assert gate.details["validated_by"] == "terraform plan" and "init_ms" in gate.details
    assert [g.name for g in result.gates][:4] == ["safety", "fmt", "validate", "checkov_code"]
    # the gates after the plan judged this spec's plan: its bucket, none of another stack's resources
    assert result.plan_sha256 == sha256_file(tmp_path / "w" / PLAN_FILE)
    planned = {rc["type"]: rc for rc in result.plan_json_redacted["resource_changes"]}
    assert planned["aws_s3_bucket"]["change"]["after"]["bucket"] == STATIC_BUCKET["bucket_name"]
    assert not {"aws_instance", "aws_lb", "aws_autoscaling_group"} & set(planned)
    assert [g.name for g in result.gates][4:] == ["opa", "checkov_plan", "cost"]


def test_a_plan_warning_brings_validates_structured_warnings(plan_run, canned_terraform, tmp_path):
    canned_terraform.plan_output = [
        "",
        "Warning: Argument is deprecated",
        "",
        "  on main.tf line 7:",
        "Plan: 1",
    ]
    canned_terraform.validate_diagnostics = [WARNING]
    result = plan_run()
    assert canned_terraform.count("validate") == 1
    gate = result.gate("validate")
    assert gate.status == Status.WARN and "validated_by" not in gate.details
    assert [(f.rule, f.address, f.blocking) for f in gate.findings] == [
        ("terraform-validate", "main.tf:7", False)
    ]
    # a warning needs acknowledging, it does not block: the plan is the run's plan
    assert result.status == PipelineStatus.PASSED
    assert result.plan_sha256 == sha256_file(tmp_path / "w" / PLAN_FILE)


def test_a_plan_failing_validation_is_blocked_at_validate(plan_run, canned_terraform, tmp_path):
    canned_terraform.plan_ok = False
    canned_terraform.plan_output = ["│ Error: Unsupported argument"]
    canned_terraform.validate_diagnostics = [ERROR]
    result = plan_run()
    assert result.status == PipelineStatus.BLOCKED and result.blocked_by == "validate"
    assert [g.name for g in result.gates] == ["safety", "fmt", "validate"]
    assert result.gate("validate").findings[0].message.startswith("Unsupported argument")
    assert "show" not in canned_terraform
    assert result.plan_sha256 is None and result.plan_text == ""
    assert not (tmp_path / "w" / PLAN_FILE).exists()


def test_a_plan_failing_after_validation_fails_at_plan(plan_run, canned_terraform):
    canned_terraform.plan_ok = False
    canned_terraform.plan_output = ["Error: configuring Terraform AWS Provider: no valid credential sources"]
    result = plan_run()
    assert canned_terraform.count("validate") == 1
    assert result.gate("validate").status == Status.PASS
    assert result.gate("checkov_code").status == Status.PASS
    assert result.status == PipelineStatus.FAILED and result.stages[-1].name == "plan"


def test_without_a_plan_validate_runs_as_before(plan_run, canned_terraform):
    result = plan_run(stages=CODE_STAGES)
    assert canned_terraform == ["init", "validate"]
    assert result.gate("validate").status == Status.PASS
    assert "validated_by" not in result.gate("validate").details


def _plan(ok: bool = True) -> TerraformResult:
    return TerraformResult(
        command=["terraform", "plan"],
        exit_code=2 if ok else None,
        duration_ms=1,
        ok=ok,
        category=None if ok else Category.CANCELLED,
    )


@pytest.mark.parametrize(
    "line",
    [
        "Warning: Argument is deprecated",
        "Error: Unsupported argument",
        "│ Warning: Deprecated attribute",
        "╷ Error: x",
        "| Warning: plain frame",
    ],
)
def test_any_diagnostic_line_defers_to_validate(line):
    assert plan_validation_gate(_plan(), ["Plan: 1 to add", line]) is None


def test_diff_lines_that_mention_warnings_are_not_diagnostics():
    output = [
        "  # aws_sns_topic.t will be created",
        '  + resource "aws_sns_topic" "t" {',
        '      + display_name = "Warning: pager"',
        "    }",
        "Plan: 1 to add, 0 to change, 0 to destroy.",
    ]
    gate = plan_validation_gate(_plan(), output)
    assert gate is not None and gate.status == Status.PASS


def test_a_failed_or_cancelled_plan_gives_no_verdict():
    assert plan_validation_gate(_plan(ok=False), []) is None
