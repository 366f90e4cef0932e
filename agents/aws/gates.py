"""The `aws` engine's gates over an action plan document.

- `permissions`: the plan-time DryRun pre-check of each action; a missing IAM permission blocks the plan
  here instead of failing half-way through the apply.
- `policy`: the Rego policies in `agents/aws/policies` (same engine as the Terraform gates): at most N
  targets, only the services the account allows; and, without blocking, what the plan requires of its
  review (production targets: two approvals and a change ticket).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from iac.gates.base import Finding, GateResult, Severity, timed
from iac.gates.opa import opa_gate

POLICY_DIR = Path(__file__).parent / "policies"
REQUIRE_QUERY = "data.gantry.ops.production.require"
PRODUCTION_TAG_KEYS = ("Env", "Environment", "env", "environment", "Stage")
PRODUCTION_TAG_VALUES = ("prod", "production", "prd", "live")


def policy_data(config) -> dict[str, Any]:
    return {
        "max_targets": int(getattr(settings, "GANTRY_OPS_MAX_TARGETS", 50)),
        "allowed_services": sorted(config.account.allowed_services or []),
        "production_tag_keys": list(PRODUCTION_TAG_KEYS),
        "production_tag_values": list(PRODUCTION_TAG_VALUES),
    }


def permissions_gate(document: dict[str, Any]) -> GateResult:
    result = GateResult(name="permissions")
    with timed(result):
        checked = 0
        for action in document.get("actions", []):
            check = action.get("permission_check") or {}
            if check.get("ok") is False:
                result.add(
                    Finding(
                        rule="missing_permission",
                        message=f"{action['name']}: {check.get('detail') or 'permission denied'}",
                        severity=Severity.HIGH,
                        address=action["name"],
                    )
                )
            elif check.get("ok"):
                checked += 1
        unchecked = len(document.get("actions", [])) - checked - len(result.findings)
        result.summary = (
            f"{len(result.findings)} action(s) lack a permission"
            if result.findings
            else f"{checked} action(s) allowed by a DryRun call"
            + (f"; {unchecked} cannot be checked before they run" if unchecked else "")
        )
        result.details = {"checked": checked, "unchecked": unchecked}
    return result


def action_gates(document: dict[str, Any], config) -> tuple[list[GateResult], dict[str, Any]]:
    """The gate results, and what the plan requires of its review ({} or approvals/ticket/why)."""
    policy = opa_gate(
        document, policy_data(config), policy_dir=POLICY_DIR, name="policy", also=[REQUIRE_QUERY]
    )
    required = (policy.details.get("also") or {}).get(REQUIRE_QUERY) or []
    requirement = required[0] if required else {}
    if requirement:
        policy.details["requires"] = requirement
        policy.summary += f"; {requirement['why']}: {requirement['approvals']} approvals and a change ticket"
    return [permissions_gate(document), policy], requirement
