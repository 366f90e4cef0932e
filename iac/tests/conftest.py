"""IaC tests use the root conftest's session-wide sandbox (`endpoint`, `sandbox_settings`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from iac import pipeline as pipeline_module
from iac.gates.base import GateResult
from iac.terraform import Category, TerraformResult, TerraformRunner
from iac.testing import PLUGIN_DIR

__all__ = ["PLUGIN_DIR"]

PLAN_JSON = Path(__file__).resolve().parent / "fixtures" / "plans" / "web_tier_compliant.json"


def _ok(command: str, **fields) -> TerraformResult:
    return TerraformResult(command=["terraform", command], exit_code=0, duration_ms=1, ok=True, **fields)


class CannedTerraform(list):
    """The terraform commands run (a list of names), and what the canned ones answer.

    `plan_output`: lines the plan prints (through the runner's `on_line`, like the real one);
    `plan_ok`: False makes the plan fail; `validate_diagnostics`: what `validate -json` reports.
    """

    def __init__(self) -> None:
        super().__init__()
        self.plan_output: list[str] = ["Plan: 1 to add, 0 to change, 0 to destroy."]
        self.plan_ok = True
        self.validate_diagnostics: list[dict] = []


@pytest.fixture
def canned_terraform(monkeypatch) -> CannedTerraform:
    """init/validate/plan/show_json answer without starting a provider; fmt and the other gates are
    real, except Checkov (a canned pass) and credentials. The plan honours cancellation like the runner."""
    canned = CannedTerraform()
    plan_json = json.loads(PLAN_JSON.read_text())

    def plan(self, out="plan.tfplan", **kwargs):
        canned.append("plan")
        (self.workdir / out).write_bytes(b"canned plan")
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            if self.cancel_event is not None and self.cancel_event.is_set():
                canned.append("plan cancelled")
                return TerraformResult(
                    command=["terraform", "plan"], exit_code=None, duration_ms=1, ok=False,
                    category=Category.CANCELLED, message="cancelled",
                )  # fmt: skip
            time.sleep(0.01)
        for line in canned.plan_output:
            if self.on_line is not None:
                self.on_line(line)
        if not canned.plan_ok:
            return TerraformResult(
                command=["terraform", "plan"], exit_code=1, duration_ms=1, ok=False,
                category=Category.INVALID_CONFIG, message="plan failed",
            )  # fmt: skip
        return _ok("plan", changes=True, plan_sha256="0" * 64)

    def validate(self):
        canned.append("validate")
        errors = [d for d in canned.validate_diagnostics if d.get("severity") == "error"]
        return TerraformResult(
            command=["terraform", "validate"], exit_code=1 if errors else 0, duration_ms=1, ok=not errors,
            category=Category.INVALID_CONFIG if errors else None,
            json={"valid": not errors, "diagnostics": canned.validate_diagnostics},
            diagnostics=canned.validate_diagnostics,
        )  # fmt: skip

    monkeypatch.setattr(TerraformRunner, "init", lambda self, **k: canned.append("init") or _ok("init"))
    monkeypatch.setattr(TerraformRunner, "validate", validate)
    monkeypatch.setattr(TerraformRunner, "plan", plan)
    monkeypatch.setattr(
        TerraformRunner,
        "show_json",
        lambda self, planfile: canned.append("show") or _ok("show", json=plan_json),
    )
    monkeypatch.setattr(
        pipeline_module,
        "_checkov",
        lambda target, kind, worker=None: GateResult(name=f"checkov_{kind}", summary="0 failed"),
    )
    monkeypatch.setattr(pipeline_module, "_start_checkov_worker", lambda: None)
    monkeypatch.setattr(pipeline_module, "terraform_env", lambda *a, **k: {})
    monkeypatch.setattr("iac.state.ensure_backend", lambda *a, **k: None)
    return canned
