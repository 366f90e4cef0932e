"""`manage.py iac_check` and `manage.py iac_plan` against the real CLI and an in-process sandbox."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from iac import spec as spec_module
from iac.tests.conftest import PLUGIN_DIR
from portal.testing.requirements import requires

pytestmark = requires("terraform")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO_IAC = Path(spec_module.__file__).resolve().parent


def run(*args) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command(*args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_iac_check_blocks_unsafe_code_before_init(tmp_path):
    target = tmp_path / "unsafe"
    shutil.copytree(FIXTURES / "unsafe" / "provisioner_local_exec", target)
    output, error = run("iac_check", str(target))
    assert error is not None and error.returncode == 1
    assert "blocked by the safety gate" in str(error)
    assert "[FAIL] safety" in output and "provisioner" in output
    assert "not run: fmt, validate, checkov_code" in output
    assert not (target / ".terraform").exists() and not (target / ".terraform.lock.hcl").exists()


@pytest.mark.terraform
def test_iac_check_passes_curated_code_and_leaves_the_dir_as_found(tmp_path):
    root = tmp_path / "iac"
    shutil.copytree(REPO_IAC / "modules", root / "modules", ignore=shutil.ignore_patterns(".terraform*"))
    shutil.copytree(
        REPO_IAC / "stacks" / "static_bucket",
        root / "stacks" / "static_bucket",
        ignore=shutil.ignore_patterns(".terraform*"),
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    target = root / "stacks" / "static_bucket"
    output, error = run("iac_check", str(target), "--json", "--module-root", str(root / "modules"))
    assert error is None, output
    data = json.loads(output)
    assert data["status"] == "passed"
    assert [g["name"] for g in data["gates"]] == ["safety", "fmt", "validate", "checkov_code"]
    assert len(data["gate_digest"]) == 64
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_iac_check_rejects_a_missing_directory(tmp_path):
    _, error = run("iac_check", str(tmp_path / "nope"))
    assert error is not None and "not a directory" in str(error)


def write_spec(tmp_path: Path, **data) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(
        json.dumps({"stack": "static_bucket", "parameters": {"bucket_name": "acme-cli-assets"}, **data})
    )
    return path


@pytest.mark.terraform
@pytest.mark.django_db
def test_iac_plan_gates_and_plans_with_an_inprocess_sandbox(own, tmp_path, settings):
    settings.TERRAFORM_PLUGIN_DIR = PLUGIN_DIR
    spec_path = write_spec(tmp_path, tags={"Team": "web"})
    workdir = tmp_path / "work"
    args = ["iac_plan", str(spec_path), "--account", own.account.name, "--tenant", "acme", "--config", "dev"]
    output, error = run(*args, "--json", "--sandbox-inprocess", "--workdir", str(workdir))
    assert error is None, output
    data = json.loads(output)
    assert data["status"] == "passed", data.get("error")
    assert [g["name"] for g in data["gates"]] == [
        "safety",
        "fmt",
        "validate",
        "checkov_code",
        "opa",
        "checkov_plan",
        "cost",
    ]
    assert data["changes"] is True and len(data["plan_sha256"]) == 64
    assert "aws_s3_bucket" in data["plan_text"]
    assert data["cost"]["region"] == "ap-south-1"
    assert (workdir / "plan.tfplan").is_file()
    assert json.loads((workdir / "terraform.tfvars.json").read_text())["tags"]["Team"] == "web"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tenant", "nobody", "--account", "x"], "no tenant 'nobody'"),
        (["--tenant", "acme", "--account", "missing"], "no account 'missing'"),
        (["--tenant", "acme", "--account", "acme-sandbox"], "pass --config"),
        (["--tenant", "acme", "--account", "acme-sandbox", "--config", "qa"], "no config 'qa'"),
    ],
)
def test_iac_plan_lookup_errors(own, tmp_path, extra, message):
    _, error = run("iac_plan", str(write_spec(tmp_path)), *extra)
    assert error is not None and message in str(error)


@pytest.mark.django_db
def test_iac_plan_reports_spec_errors(own, tmp_path, settings):
    settings.GANTRY_SANDBOX_ENDPOINT = "http://127.0.0.1:9"
    spec_path = write_spec(tmp_path, parameters={"bucket_name": "ok-name", "colour": "blue"})
    _, error = run(
        "iac_plan", str(spec_path), "--tenant", "acme", "--account", "acme-sandbox", "--config", "dev"
    )
    assert error is not None and "unknown parameter 'colour'" in str(error)
    bad = tmp_path / "bad.json"
    bad.write_text('{"stack": "static_bucket", "backend": {}}')
    _, error = run("iac_plan", str(bad), "--tenant", "acme", "--account", "acme-sandbox", "--config", "dev")
    assert error is not None and "unexpected key(s)" in str(error)
