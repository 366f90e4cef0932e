"""opa_gate on `terraform show -json` shaped fixtures (iac/tests/fixtures/plans)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from iac.gates.base import Severity, Status
from iac.gates.opa import opa_gate

PLANS = Path(__file__).parent / "fixtures" / "plans"

# The data document a dev config in ap-south-1 would feed the gate.
DATA = {
    "env": "dev",
    "region": "ap-south-1",
    "allowed_regions": ["ap-south-1"],
    "mandatory_tags": ["Owner", "CostCenter", "Environment"],
    "allowed_services": ["ec2", "elasticloadbalancing", "autoscaling", "s3", "kms", "logs", "rds", "eks"],
    "instance_caps": {
        "dev": {"families": ["t3", "t3a", "t4g"], "max_size": "large"},
        "prod": {"families": ["m6i", "c6i", "r5"], "max_size": "4xlarge"},
    },
    "max_desired_capacity": {"dev": 4, "prod": 20},
    "override_tag_key": "gantry:allow-public",
}


def load(name: str) -> dict:
    return json.loads((PLANS / f"{name}.json").read_text())


def blocking(result) -> set[tuple[str, str]]:
    return {(f.rule, f.address) for f in result.findings if f.blocking}


def warnings(result) -> set[tuple[str, str]]:
    return {(f.rule, f.address) for f in result.findings if not f.blocking}


@pytest.fixture(scope="module")
def compliant_result():
    return opa_gate(load("web_tier_compliant"), DATA)


def test_compliant_web_tier_only_warns_for_overridden_public_resources(compliant_result) -> None:
    result = compliant_result
    assert result.passed
    assert result.status == Status.WARN
    assert blocking(result) == set()
    assert warnings(result) == {
        ("no_public_resources", "module.web.aws_lb.this"),
        ("no_public_resources", "module.web.aws_security_group.alb"),
    }
    assert all("WEB-12" in f.message for f in result.findings)  # the override reason is shown


def test_result_details_and_serialisation(compliant_result) -> None:
    details = compliant_result.to_dict()["details"]
    assert set(details["policies"]) == {
        "gantry.capacity",
        "gantry.encryption",
        "gantry.instance_types",
        "gantry.public",
        "gantry.regions",
        "gantry.services",
        "gantry.tags",
    }
    assert len(details["policy_digest"]) == 64
    assert details["counts"] == {"deny": 0, "warn": 2, "errors": 0}
    json.dumps(compliant_result.to_dict())


def test_public_resources_without_override_are_denied() -> None:
    result = opa_gate(load("web_tier_public_no_override"), DATA)
    assert result.status == Status.FAIL
    assert blocking(result) == {
        ("no_public_resources", "module.web.aws_lb.this"),
        ("no_public_resources", "module.web.aws_security_group.alb"),
    }
    assert {f.severity for f in result.findings} == {Severity.CRITICAL}


def test_noncompliant_web_tier_reports_every_policy() -> None:
    result = opa_gate(load("web_tier_noncompliant"), DATA)
    assert result.status == Status.FAIL
    assert blocking(result) == {
        ("allowed_regions", "provider[aws]"),
        ("allowed_services", "module.web.aws_sqs_queue.jobs"),
        ("instance_type_caps", "module.web.aws_launch_template.app"),
        ("kms_encryption", "module.web.aws_launch_template.app"),
        ("kms_encryption", "module.web.aws_s3_bucket.logs"),
        ("kms_encryption", "module.web.aws_s3_bucket_server_side_encryption_configuration.logs"),
        ("mandatory_tags", "module.web.aws_nat_gateway.this"),
        ("max_desired_capacity", "module.web.aws_autoscaling_group.app"),
    }
    # The overridden public resources stay warnings next to the violations.
    assert len(warnings(result)) == 2


def test_only_changed_resources_are_checked() -> None:
    plan = load("web_tier_scale_out")  # ASG updated to 5, EIP replaced, log group deleted, rest no-op
    result = opa_gate(plan, {**DATA, "max_desired_capacity": {"dev": 10}})
    assert result.status == Status.PASS, result.findings
    result = opa_gate(plan, DATA)
    assert blocking(result) == {("max_desired_capacity", "module.web.aws_autoscaling_group.app")}


def test_data_tier_and_eks_fixtures_pass() -> None:
    assert opa_gate(load("data_tier_compliant"), DATA).status == Status.PASS
    assert opa_gate(load("eks_cluster_compliant"), DATA).status == Status.PASS


def test_public_unencrypted_oversized_database() -> None:
    plan = load("data_tier_compliant")
    db = plan["resource_changes"][1]["change"]["after"]
    db.update(publicly_accessible=True, storage_encrypted=False, instance_class="db.r5.4xlarge")
    result = opa_gate(plan, DATA)
    assert blocking(result) == {
        ("no_public_resources", "module.db.aws_db_instance.this"),
        ("kms_encryption", "module.db.aws_db_instance.this"),
        ("instance_type_caps", "module.db.aws_db_instance.this"),
    }


def test_prod_caps_apply_in_prod() -> None:
    plan = load("eks_cluster_compliant")  # node group of t3.large
    assert opa_gate(plan, DATA).status == Status.PASS
    result = opa_gate(plan, {**DATA, "env": "prod"})
    assert blocking(result) == {("instance_type_caps", "module.eks.aws_eks_node_group.default")}


def test_eks_cluster_without_secrets_encryption() -> None:
    plan = load("eks_cluster_compliant")
    cluster = plan["resource_changes"][1]["change"]
    cluster["after"]["encryption_config"] = []
    cluster["after_unknown"].pop("encryption_config")
    assert blocking(opa_gate(plan, DATA)) == {("kms_encryption", "module.eks.aws_eks_cluster.this")}


def test_empty_data_document_checks_only_unconditional_policies() -> None:
    # No allow-lists or caps configured: only encryption and public exposure still apply.
    result = opa_gate(load("web_tier_noncompliant"), {})
    assert {rule for rule, _ in blocking(result)} == {"kms_encryption"}


def test_config_values_from_the_database_are_accepted() -> None:
    from decimal import Decimal

    data = {**DATA, "max_desired_capacity": Decimal(2), "mandatory_tags": ("Owner",)}
    result = opa_gate(load("web_tier_compliant"), data)
    assert blocking(result) == {("max_desired_capacity", "module.web.aws_autoscaling_group.app")}


def test_in_process_evaluation_matches_isolated() -> None:
    plan = load("web_tier_noncompliant")
    isolated = opa_gate(plan, DATA)
    in_process = opa_gate(plan, DATA, isolate=False)
    assert [f.to_dict() for f in isolated.findings] == [f.to_dict() for f in in_process.findings]


def test_broken_policy_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "broken.rego").write_text(
        "package gantry.broken\nimport rego.v1\ndeny contains x if { x := }"
    )
    result = opa_gate({"resource_changes": []}, {}, policy_dir=tmp_path)
    assert result.status == Status.FAIL
    assert {f.rule for f in result.findings} == {"policy_error"}


def test_custom_policy_dir_and_warn_only_policy(tmp_path: Path) -> None:
    (tmp_path / "note.rego").write_text(
        "package gantry.note\nimport rego.v1\n"
        'warn contains {"rule": "note", "address": rc.address, "message": "look", "severity": "low"} if {\n'
        "  some rc in input.resource_changes\n}\n"
    )
    plan = {"resource_changes": [{"address": "aws_instance.a"}]}
    result = opa_gate(copy.deepcopy(plan), {}, policy_dir=tmp_path)
    assert result.status == Status.WARN
    [finding] = result.findings
    assert (finding.rule, finding.address, finding.severity, finding.blocking) == (
        "note",
        "aws_instance.a",
        Severity.LOW,
        False,
    )


def test_runtime_error_is_attributed_to_its_policy(tmp_path: Path) -> None:
    # Two complete `deny` definitions that disagree: an evaluation-time conflict in one package only.
    (tmp_path / "broken.rego").write_text(
        "package gantry.broken\nimport rego.v1\n"
        'deny := ["a"] if { count(input.resource_changes) >= 0 }\n'
        'deny := ["b"] if { count(input.resource_changes) >= 0 }\n'
    )
    (tmp_path / "good.rego").write_text(
        "package gantry.good\nimport rego.v1\n"
        'deny contains {"rule": "good", "address": "x", "message": "m", "severity": "low"} if { true }\n'
    )
    result = opa_gate({"resource_changes": []}, {}, policy_dir=tmp_path)
    found = {(f.rule, f.address) for f in result.findings}
    assert found == {("policy_error", "gantry.broken"), ("good", "x")}
