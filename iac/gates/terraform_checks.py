"""The fmt and validate gates: Terraform's own checks as structured findings."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from iac.gates.base import Finding, GateResult, Severity, Status, timed

if TYPE_CHECKING:
    from iac.terraform import TerraformResult, TerraformRunner

MAX_DIFF_CHARS = 20_000


def _command_failure(gate: GateResult, result: TerraformResult, rule: str) -> None:
    gate.add(
        Finding(
            rule=f"{rule}:{result.category or 'error'}",
            message=result.message or "terraform failed",
            severity=Severity.HIGH,
        )
    )
    gate.details["stderr_tail"] = result.stderr_tail[-4000:]


def fmt_gate(runner: TerraformRunner) -> GateResult:
    """Every .tf file must already be in `terraform fmt` canonical form (the renderer formats its output)."""
    gate = GateResult(name="fmt")
    with timed(gate):
        result = runner.fmt_check()
        gate.details["exit_code"] = result.exit_code
        if result.ok:
            gate.summary = "all files formatted"
        elif result.exit_code == 3:
            files = [line.strip() for line in result.output.splitlines() if line.strip()]
            for name in files:
                gate.add(
                    Finding(
                        rule="terraform-fmt",
                        message="not in canonical format; run `terraform fmt`",
                        severity=Severity.LOW,
                        address=name,
                    )
                )
            gate.details["diff"] = runner.fmt_diff().output[:MAX_DIFF_CHARS]
            gate.summary = f"{len(files)} file(s) not formatted"
        else:
            _command_failure(gate, result, "terraform-fmt")
            gate.summary = f"terraform fmt failed: {result.message}"
    return gate


def _diagnostic_address(diag: dict) -> str:
    rng = diag.get("range") or {}
    filename = rng.get("filename", "")
    line = (rng.get("start") or {}).get("line")
    return f"{filename}:{line}" if filename and line else filename


def init_failure_gate(init_result: TerraformResult) -> GateResult:
    """The validate gate when `terraform init` failed: fails with init's category (provider_error, ...)."""
    gate = GateResult(name="validate", duration_ms=init_result.duration_ms)
    gate.details["init_ms"] = init_result.duration_ms
    _command_failure(gate, init_result, "terraform-init")
    gate.summary = f"terraform init failed: {init_result.message}"
    return gate


# A diagnostic in terraform's human output (-no-color): "Warning: ..." / "Error: ..." at the start of a
# line, optionally inside the box-drawing frame. Plan diff lines are indented, so they never match.
_DIAGNOSTIC_LINE_RE = re.compile(r"^(?:[│╷╵|]\s*)?(?:Warning|Error):")


def plan_validation_gate(plan: TerraformResult, output: Iterable[str]) -> GateResult | None:
    """The validate verdict taken from `terraform plan`, or None when `validate -json` must give it.

    `terraform plan` runs the same configuration validation as `terraform validate` before it plans
    (the local backend's validation walk) and prints every diagnostic it raised. So a plan that
    succeeded and printed no diagnostic at all proves `validate` would report a valid configuration
    with no diagnostics: the gate passes without starting the provider a second time. Anything else
    (a failed or cancelled plan, any warning or error) returns None: the caller runs `validate -json`
    for the structured diagnostics, so findings are exactly what `validate` reports.
    """
    if not plan.ok or any(_DIAGNOSTIC_LINE_RE.match(line) for line in output):
        return None
    gate = GateResult(name="validate", summary="configuration is valid")
    gate.details["validated_by"] = "terraform plan"
    return gate


def validate_gate(runner: TerraformRunner, *, init: bool = False) -> GateResult:
    """`terraform validate -json` diagnostics as findings: errors block, warnings need acknowledging.

    With init=True the work dir is initialised first (offline from the plugin mirror when configured);
    an init failure fails the gate with its category (provider_error, invalid_config, ...).
    """
    init_ms = None
    if init:
        init_result = runner.init()
        if not init_result.ok:
            return init_failure_gate(init_result)
        init_ms = init_result.duration_ms
    gate = GateResult(name="validate")
    with timed(gate):
        result = runner.validate()
        diagnostics = result.diagnostics
        for diag in diagnostics:
            is_error = diag.get("severity") == "error"
            summary = diag.get("summary", "")
            detail = diag.get("detail", "")
            gate.add(
                Finding(
                    rule="terraform-validate",
                    message=f"{summary}: {detail}" if detail else summary,
                    severity=Severity.HIGH if is_error else Severity.LOW,
                    address=_diagnostic_address(diag),
                    blocking=is_error,
                )
            )
        if not result.ok and not any(f.blocking for f in gate.findings):
            # A failure without diagnostics: timeout, cancellation, missing binary, not initialised.
            _command_failure(gate, result, "terraform-validate")
        errors = sum(1 for f in gate.findings if f.blocking)
        warnings = len(gate.findings) - errors
        gate.summary = (
            "configuration is valid"
            if gate.status == Status.PASS
            else f"{errors} error(s), {warnings} warning(s)"
            if errors
            else f"valid with {warnings} warning(s)"
        )
    if init_ms is not None:
        gate.details["init_ms"] = init_ms
        gate.duration_ms += init_ms
    return gate
