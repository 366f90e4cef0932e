"""The checkov gate: failed checks block, platform skips are recorded with reasons, inline skips are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from iac.gates.base import Severity, Status
from iac.gates.checkov import checkov_gate
from portal.testing.requirements import requires

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "safe" / "insecure_bucket_for_checkov"

pytestmark = requires("checkov")


@pytest.fixture(scope="module")
def code_result():
    return checkov_gate(
        FIXTURE, kind="code", skip_checks={"CKV_AWS_18": "access logs go to the central log bucket"}
    )


def test_insecure_bucket_fails_with_check_ids(code_result):
    assert code_result.status == Status.FAIL
    rules = {f.rule for f in code_result.findings}
    assert {"CKV_AWS_21", "CKV2_AWS_6"} <= rules  # versioning, public access block
    finding = next(f for f in code_result.findings if f.rule == "CKV_AWS_21")
    assert finding.address == "aws_s3_bucket.logs"
    assert "main.tf:11" in finding.message


def test_platform_skip_is_listed_with_its_reason(code_result):
    assert "CKV_AWS_18" not in {f.rule for f in code_result.findings}
    assert code_result.details["skipped"] == [
        {"check_id": "CKV_AWS_18", "reason": "access logs go to the central log bucket"}
    ]


def test_inline_skip_comment_is_not_honoured(code_result):
    finding = next(f for f in code_result.findings if f.rule == "CKV_AWS_144")
    assert finding.blocking and "inline skip ignored" in finding.message
    assert code_result.details["inline_skips"][0]["check_id"] == "CKV_AWS_144"


def test_plan_json_scan():
    result = checkov_gate(FIXTURE / "plan.json", kind="plan")
    assert result.status == Status.FAIL
    assert "CKV_AWS_21" in {f.rule for f in result.findings}
    assert result.name == "checkov_plan"


def test_unknown_severity_blocks_and_skips_need_reasons():
    # Offline checkov reports no severities; unknown severity must not be waved through by a threshold.
    result = checkov_gate(
        FIXTURE / "plan.json",
        kind="plan",
        severity_threshold=Severity.CRITICAL,
        skip_checks={"CKV_AWS_21": " "},
    )
    assert result.status == Status.FAIL
    rules = {f.rule for f in result.findings}
    assert "checkov-skip-without-reason" in rules
    assert "CKV2_AWS_6" in rules


def test_missing_binary_is_a_clear_failure(settings, tmp_path):
    settings.CHECKOV_BIN = str(tmp_path / "no-checkov")
    result = checkov_gate(FIXTURE)
    assert result.status == Status.FAIL
    (finding,) = result.findings
    assert finding.rule == "checkov-missing" and "not found" in finding.message


def test_missing_target_fails(tmp_path):
    result = checkov_gate(tmp_path / "nothing-here", kind="code")
    assert result.status == Status.FAIL and result.findings[0].rule == "checkov-target-missing"


def test_timeout_fails():
    result = checkov_gate(FIXTURE, timeout=0.5)
    assert result.status == Status.FAIL and result.findings[0].rule == "checkov-timeout"
