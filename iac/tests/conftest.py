"""IaC tests use the root conftest's session-wide sandbox (`endpoint`, `sandbox_settings`)."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

import pytest

from iac import pipeline as pipeline_module
from iac import sandbox
from iac.gates.base import GateResult
from iac.terraform import Category, TerraformResult, TerraformRunner, sha256_file
from iac.testing import PLUGIN_DIR
from portal.testing.requirements import require_tool

__all__ = ["PLUGIN_DIR"]

# A local backend instead of the rendered s3 one: the real plan behind the canned runner keeps no state.
LOCAL_BACKEND = 'terraform {\n  backend "local" {}\n}\n'
# The runner's own commands, kept before `canned_terraform` replaces them on the class.
REAL_INIT, REAL_PLAN, REAL_SHOW_JSON = TerraformRunner.init, TerraformRunner.plan, TerraformRunner.show_json


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


class RealPlans:
    """The real plan of a rendered work dir, made once per distinct source (the session's cache).

    The copy plans with the real CLI against the embedded sandbox: its provider endpoint is the running
    sandbox's and its backend is local, nothing else differs, so the plan is the spec's own."""

    def __init__(self, root: Path, endpoint: str) -> None:
        self.root, self.endpoint = root, endpoint
        self._plans: dict[str, tuple[bytes, dict]] = {}

    @staticmethod
    def source_key(workdir: Path) -> str:
        digest = hashlib.sha256()
        for path in sorted(p for p in workdir.rglob("*.tf*") if ".terraform" not in p.parts):
            if path.name != "backend.tf":  # state placement: the plan does not depend on it
                digest.update(str(path.relative_to(workdir)).encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def plan_of(self, workdir: Path, sandbox_endpoint: str) -> tuple[bytes, dict]:
        """(the saved plan's bytes, its `terraform show -json`) for the source in `workdir`."""
        key = self.source_key(workdir)
        if key not in self._plans:
            copy = self.root / key[:16]
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfplan"))
            (copy / "backend.tf").unlink(missing_ok=True)
            (copy / "backend_override.tf").write_text(LOCAL_BACKEND)
            provider = copy / "provider.tf"
            provider.write_text(provider.read_text().replace(f'"{sandbox_endpoint}"', f'"{self.endpoint}"'))
            runner = TerraformRunner(copy, plugin_dir=PLUGIN_DIR, timeout=300, env=sandbox.sandbox_env())
            REAL_INIT(runner).raise_for_error()
            REAL_PLAN(runner, "real.tfplan").raise_for_error()
            shown = REAL_SHOW_JSON(runner, "real.tfplan")
            shown.raise_for_error()
            self._plans[key] = ((copy / "real.tfplan").read_bytes(), shown.json)
        return self._plans[key]


@pytest.fixture(scope="session")
def real_plans(tmp_path_factory, endpoint) -> RealPlans:
    return RealPlans(tmp_path_factory.mktemp("real-plans"), endpoint)


def _sandbox_endpoint_of(workdir: Path) -> str:
    """The sandbox URL the rendered provider names (the spec's `sandbox_endpoint`)."""
    found = re.search(r'endpoints \{\s*\w+\s*=\s*"([^"]+)"', (workdir / "provider.tf").read_text())
    if found:
        return found.group(1)
    raise AssertionError("the canned runner plans sandbox specs only: no sandbox endpoint in provider.tf")


@pytest.fixture
def canned_terraform(monkeypatch, real_plans) -> CannedTerraform:
    """init/validate/plan answer without starting a provider, with the outputs and outcomes a test sets;
    a plan that succeeds writes the spec's real saved plan (made once per source by `real_plans`) and
    reports its real sha256, and show_json answers that plan's JSON. fmt and the other gates are real,
    except Checkov (a canned pass) and credentials. The plan honours cancellation like the runner."""
    require_tool("terraform")
    canned = CannedTerraform()
    shown: dict[Path, dict] = {}

    def plan(self, out="plan.tfplan", **kwargs):
        canned.append("plan")
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
        workdir = Path(self.workdir)
        data, plan_json = real_plans.plan_of(workdir, _sandbox_endpoint_of(workdir))
        (workdir / out).write_bytes(data)
        shown[(workdir / out).resolve()] = plan_json
        changes = any(rc["change"]["actions"] != ["no-op"] for rc in plan_json.get("resource_changes", []))
        return _ok("plan", changes=changes, plan_sha256=sha256_file(workdir / out))

    def show_json(self, planfile="plan.tfplan"):
        canned.append("show")
        return _ok("show", json=shown[(Path(self.workdir) / planfile).resolve()])

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
    monkeypatch.setattr(TerraformRunner, "show_json", show_json)
    monkeypatch.setattr(
        pipeline_module,
        "_checkov",
        lambda target, kind, worker=None: GateResult(name=f"checkov_{kind}", summary="0 failed"),
    )
    monkeypatch.setattr(pipeline_module, "_start_checkov_worker", lambda: None)
    monkeypatch.setattr(pipeline_module, "terraform_env", lambda *a, **k: {})
    monkeypatch.setattr("iac.state.ensure_backend", lambda *a, **k: None)
    return canned
