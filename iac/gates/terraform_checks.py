"""The fmt and validate gates: Terraform's own checks as structured findings."""

from __future__ import annotations

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


def validate_gate(runner: TerraformRunner, *, init: bool = False) -> GateResult:
    """`terraform validate -json` diagnostics as findings: errors block, warnings need acknowledging.

    With init=True the work dir is initialised first (offline from the plugin mirror when configured);
    an init failure fails the gate with its category (provider_error, invalid_config, ...).
    """
    gate = GateResult(name="validate")
    with timed(gate):
        if init:
            init_result = runner.init()
            gate.details["init_ms"] = init_result.duration_ms
            if not init_result.ok:
                _command_failure(gate, init_result, "terraform-init")
                gate.summary = f"terraform init failed: {init_result.message}"
                return gate
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
    return gate
