"""The checkov gate: static policy checks on the Terraform code (before plan) or the plan JSON (after).

Checkov is an isolated tool (its own venv, CHECKOV_BIN), run as a subprocess with `-o json --soft-fail`
so the exit code only signals crashes and the JSON carries the verdict. A missing binary or a crash is a
failing finding, never a silent pass. Inline `#checkov:skip` comments in generated code are not honoured:
only the platform's `skip_checks` (each with a reason) may skip a check.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal

from iac.gates.base import Finding, GateResult, Severity, timed

DEFAULT_TIMEOUT_SECONDS = 300
_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")


def _setting(name: str, default: Any) -> Any:
    from iac.terraform import _setting as read

    return read(name, default)


def _checkov_bin() -> str:
    default = os.environ.get(
        "CHECKOV_BIN", str(Path(__file__).resolve().parents[2] / ".tools" / "checkov" / "bin" / "checkov")
    )
    return str(_setting("CHECKOV_BIN", default))


def _severity(value: str | None) -> Severity | None:
    if not value:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        return None


def _reports(data: Any) -> list[dict]:
    """One report, a list of them (several frameworks), or a bare summary (nothing to scan)."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    return [data] if isinstance(data, dict) else []


def _run(command: list[str], timeout: float) -> tuple[int | None, str, str, bool]:
    env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
    env["LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        except FileNotFoundError:
            return None, "", "", False
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            timed_out,
        )


def checkov_gate(
    target: str | os.PathLike[str],
    *,
    kind: Literal["code", "plan"] = "code",
    skip_checks: dict[str, str] | None = None,
    severity_threshold: Severity | str | None = None,
    timeout: float | None = None,
) -> GateResult:
    """Run checkov on a work dir (kind="code") or a `terraform show -json` file (kind="plan").

    skip_checks: check id -> reason; reasons are recorded in details["skipped"].
    severity_threshold: failed checks below it are non-blocking warnings. Checks without a severity (the
    offline default: severities come from the Prisma platform) always block.
    """
    gate = GateResult(name=f"checkov_{kind}")
    skip_checks = dict(skip_checks or {})
    threshold = _severity(str(severity_threshold)) if severity_threshold else None
    with timed(gate):
        missing_reason = [check for check, reason in skip_checks.items() if not (reason or "").strip()]
        if missing_reason:
            gate.add(
                Finding(
                    rule="checkov-skip-without-reason",
                    message=f"skipped checks need a reason: {', '.join(sorted(missing_reason))}",
                )
            )
        binary = _checkov_bin()
        path = Path(target)
        if kind == "code":
            command = [binary, "-d", str(path), "--framework", "terraform"]
        elif kind == "plan":
            command = [
                binary,
                "-f",
                str(path),
                "--framework",
                "terraform_plan",
                "--repo-root-for-plan-enrichment",
                str(path.parent),
            ]
        else:
            raise ValueError(f"kind must be 'code' or 'plan', not {kind!r}")
        command += ["-o", "json", "--soft-fail", "--skip-download", "--compact"]
        if skip_checks:
            command += ["--skip-check", ",".join(sorted(skip_checks))]
        gate.details["skipped"] = [{"check_id": c, "reason": r} for c, r in sorted(skip_checks.items())]
        gate.details["command"] = command[1:]

        if not Path(binary).exists() and os.sep in binary:
            gate.add(
                Finding(rule="checkov-missing", message=f"checkov binary not found at {binary}; cannot scan")
            )
            gate.summary = "checkov is not installed"
            return gate
        if not path.exists():
            gate.add(Finding(rule="checkov-target-missing", message=f"nothing to scan at {path}"))
            gate.summary = "scan target missing"
            return gate

        budget = timeout if timeout is not None else DEFAULT_TIMEOUT_SECONDS
        code, stdout, stderr, timed_out = _run(command, budget)
        if code is None:
            gate.add(
                Finding(rule="checkov-missing", message=f"checkov binary not found: {binary}; cannot scan")
            )
            gate.summary = "checkov is not installed"
            return gate
        if timed_out:
            gate.add(Finding(rule="checkov-timeout", message=f"checkov did not finish within {budget:.0f}s"))
            gate.summary = "checkov timed out"
            return gate
        try:
            data = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            data = None
        if code != 0 or data is None:
            gate.add(
                Finding(
                    rule="checkov-error", message=f"checkov failed (exit {code}): {stderr.strip()[-500:]}"
                )
            )
            gate.summary = "checkov failed"
            return gate

        failed = passed = 0
        inline_skips: list[dict] = []
        for report in _reports(data):
            results = report.get("results") or {}
            passed += len(results.get("passed_checks") or [])
            for check in results.get("failed_checks") or []:
                failed += 1
                severity = _severity(check.get("severity"))
                blocking = True
                if threshold is not None and severity is not None:
                    blocking = _SEVERITY_ORDER.index(severity) >= _SEVERITY_ORDER.index(threshold)
                lines = check.get("file_line_range") or []
                location = f" ({check.get('file_path', '').lstrip('/')}:{lines[0]})" if lines else ""
                gate.add(
                    Finding(
                        rule=check.get("check_id", "checkov"),
                        message=f"{check.get('check_name', '')}{location}",
                        severity=severity or Severity.HIGH,
                        address=check.get("resource", ""),
                        blocking=blocking,
                    )
                )
            for check in results.get("skipped_checks") or []:
                # Only the platform's skip list counts; a suppression comment in generated code does not.
                check_id = check.get("check_id", "")
                if check_id in skip_checks:
                    continue
                comment = (check.get("check_result") or {}).get("suppress_comment", "")
                inline_skips.append(
                    {"check_id": check_id, "resource": check.get("resource", ""), "comment": comment}
                )
                gate.add(
                    Finding(
                        rule=check_id or "checkov-inline-skip",
                        message=f"{check.get('check_name', '')} (inline skip ignored: {comment})",
                        severity=_severity(check.get("severity")) or Severity.HIGH,
                        address=check.get("resource", ""),
                    )
                )
            for error in results.get("parsing_errors") or []:
                gate.add(Finding(rule="checkov-parse-error", message=f"checkov could not parse {error}"))
        gate.details.update({"passed": passed, "failed": failed, "inline_skips": inline_skips})
        gate.summary = f"{failed} failed, {passed} passed, {len(skip_checks)} skipped by policy"
    return gate
