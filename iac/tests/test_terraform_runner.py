"""The Terraform runner against the real CLI and the embedded sandbox."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from pathlib import Path

import boto3
import pytest

from iac import sandbox
from iac.gates.base import Status
from iac.gates.terraform_checks import fmt_gate, validate_gate
from iac.redaction import MASK
from iac.terraform import Category, TerraformError, TerraformRunner, classify
from iac.tests.conftest import PLUGIN_DIR
from portal.testing.requirements import requires

pytestmark = [
    pytest.mark.terraform,
    requires("terraform"),
]

AWS_VERSIONS = """terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}
"""


def provider_block(endpoint: str) -> str:
    endpoints = "\n".join(f'    {k} = "{v}"' for k, v in sandbox.provider_endpoints(endpoint).items())
    return f"""provider "aws" {{
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


@pytest.fixture
def bucket_dir(tmp_path, endpoint):
    workdir = tmp_path / "bucket"
    workdir.mkdir()
    name = f"gantry-runner-{tmp_path.name[-12:].lower().replace('_', '-')}"
    (workdir / "main.tf").write_text(
        AWS_VERSIONS
        + provider_block(endpoint)
        + f'\nresource "aws_s3_bucket" "b" {{\n  bucket = "{name}"\n}}\n'
    )
    return workdir, name


def runner_for(workdir: Path, **kwargs) -> TerraformRunner:
    kwargs.setdefault("plugin_dir", PLUGIN_DIR)
    kwargs.setdefault("timeout", 300)
    kwargs.setdefault("env", sandbox.sandbox_env())
    return TerraformRunner(workdir, **kwargs)


def write(workdir: Path, text: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(text)
    return workdir


# --- init, validate, plan, show, apply -----------------------------------------------------------------
def test_version_meets_minimum(tmp_path):
    runner = runner_for(tmp_path)
    result = runner.version()
    assert result.ok and result.json["terraform_version"]
    assert runner.check_version() == result.json["terraform_version"]


def test_version_below_minimum_refused(tmp_path, settings):
    settings.TERRAFORM_MIN_VERSION = "99.0.0"
    result = runner_for(write(tmp_path, AWS_VERSIONS)).init()
    assert not result.ok
    assert result.category == Category.VERSION_UNSUPPORTED


def test_init_offline_links_the_mirror_instead_of_copying(bucket_dir):
    workdir, _ = bucket_dir
    result = runner_for(workdir).init()
    assert result.ok, result.to_dict()
    platform_dir = workdir / ".terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"
    assert platform_dir.is_symlink()
    assert Path(os.readlink(platform_dir)).is_relative_to(PLUGIN_DIR)
    size = sum(p.lstat().st_size for p in (workdir / ".terraform").rglob("*"))
    assert size < 1_000_000  # the provider binary alone is ~650 MB


def test_validate_plan_show_apply_against_sandbox(bucket_dir, endpoint):
    workdir, name = bucket_dir
    lines: list[str] = []
    runner = runner_for(workdir, on_line=lines.append)
    assert runner.init().ok

    validated = runner.validate()
    assert validated.ok and validated.json["valid"] is True

    plan = runner.plan()
    assert plan.ok, plan.to_dict()
    assert plan.changes is True and plan.exit_code == 2
    assert plan.plan_sha256 and len(plan.plan_sha256) == 64
    assert any("aws_s3_bucket.b will be created" in line for line in lines)

    shown = runner.show_json()
    assert shown.ok
    changes = {rc["address"]: rc["change"]["actions"] for rc in shown.json["resource_changes"]}
    assert changes == {"aws_s3_bucket.b": ["create"]}
    text = runner.show_text()
    assert text.ok and f'bucket                      = "{name}"' in text.output

    applied = runner.apply()
    assert applied.ok, applied.to_dict()
    assert applied.plan_sha256 == plan.plan_sha256
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")  # fmt: skip
    s3.head_bucket(Bucket=name)

    again = runner.plan(out="second.tfplan")
    assert again.ok and again.changes is False and again.exit_code == 0


def test_second_apply_of_the_same_plan_is_stale(tmp_path):
    workdir = write(tmp_path / "w", 'resource "terraform_data" "x" {\n  input = "one"\n}\n')
    runner = runner_for(workdir)
    assert runner.init().ok
    assert runner.plan().changes
    assert runner.apply().ok
    second = runner.apply()
    assert not second.ok
    assert second.category == Category.STALE_PLAN
    with pytest.raises(TerraformError) as excinfo:
        second.raise_for_error()
    assert excinfo.value.result is second


def test_apply_refuses_without_a_saved_plan(tmp_path):
    workdir = write(tmp_path / "w", 'resource "terraform_data" "x" {}\n')
    result = runner_for(workdir).apply("missing.tfplan")
    assert not result.ok and result.category == Category.ERROR
    assert "saved plan" in result.message
    assert not (workdir / "terraform.tfstate").exists()


def test_invalid_config_is_categorised(tmp_path):
    workdir = write(tmp_path / "w", 'resource "terraform_data" "x" {\n  not_an_argument = 1\n}\n')
    runner = runner_for(workdir)
    assert runner.init().ok
    result = runner.validate()
    assert not result.ok and result.category == Category.INVALID_CONFIG
    assert result.diagnostics[0]["summary"] == "Unsupported argument"
    gate = validate_gate(runner)
    assert gate.status == Status.FAIL
    (finding,) = gate.findings
    assert finding.address == "main.tf:2" and finding.rule == "terraform-validate"


def test_validate_gate_with_init_and_fmt_gate(tmp_path):
    workdir = write(tmp_path / "w", 'resource "terraform_data" "x" {\n  input    = "a"\n}\n')
    runner = runner_for(workdir)
    fmt = fmt_gate(runner)
    assert fmt.status == Status.FAIL
    assert [f.address for f in fmt.findings] == ["main.tf"]
    assert "input    =" in fmt.details["diff"]
    assert validate_gate(runner, init=True).status == Status.PASS
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {\n  input = "a"\n}\n')
    assert fmt_gate(runner).status == Status.PASS


def test_missing_provider_is_a_provider_error(tmp_path):
    nope = (
        'terraform {\n  required_providers {\n    nope = {\n      source = "hashicorp/nope"\n    }\n  }\n}\n'
    )
    workdir = write(tmp_path / "w", nope)
    result = runner_for(workdir).init()
    assert not result.ok and result.category == Category.PROVIDER_ERROR


def test_missing_binary_is_structured(tmp_path):
    result = runner_for(tmp_path, binary=str(tmp_path / "no-terraform")).validate()
    assert not result.ok and result.category == Category.BINARY_MISSING


# --- timeouts, cancellation, locks ---------------------------------------------------------------------
SLOW = """resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 30; touch SLEPT"
  }
}
"""


def _planned_slow_dir(tmp_path: Path, **kwargs) -> TerraformRunner:
    runner = runner_for(write(tmp_path / "slow", SLOW), grace_seconds=3, **kwargs)
    assert runner.init().ok
    assert runner.plan().ok
    return runner


def _gone(pid_file: Path) -> bool:
    """Dead, or a zombie nobody reaps (PID 1 in a container may not): either way not running."""
    pid = int(pid_file.read_text())
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_timeout_interrupts_and_reports(tmp_path):
    runner = _planned_slow_dir(tmp_path)
    runner.timeout = 2
    started = time.monotonic()
    result = runner.apply()
    assert result.category == Category.TIMEOUT and not result.ok
    assert time.monotonic() - started < 20
    assert not (tmp_path / "slow" / "SLEPT").exists()


def test_cancel_event_stops_the_run(tmp_path):
    cancel = threading.Event()
    runner = _planned_slow_dir(tmp_path, cancel_event=cancel)
    threading.Timer(1.0, cancel.set).start()
    result = runner.apply()
    assert result.category == Category.CANCELLED and not result.ok
    assert result.duration_ms < 20_000


def test_cancelled_before_start(tmp_path):
    cancel = threading.Event()
    cancel.set()
    result = runner_for(tmp_path, cancel_event=cancel).init()
    assert result.category == Category.CANCELLED and result.exit_code is None


def test_stop_escalates_to_sigterm_and_kills_the_group(tmp_path):
    """A child that ignores SIGINT is still stopped, and nothing in the process group survives."""
    script = tmp_path / "fake-terraform"
    script.write_text("#!/bin/sh\ntrap '' INT\n(trap '' INT; sleep 60) &\necho $! > child.pid\nsleep 60\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    runner = TerraformRunner(tmp_path, binary=str(script), timeout=1, grace_seconds=0.5)
    result = runner.fmt_check()
    assert result.category == Category.TIMEOUT
    time.sleep(0.2)
    assert _gone(tmp_path / "child.pid")


def test_state_lock_held_is_reported_with_lock_id(tmp_path, endpoint):
    sandbox.ensure_state_backend(endpoint, "gantry-lock-test", "gantry-lock-table")
    backend = f"""terraform {{
  backend "s3" {{
    bucket                      = "gantry-lock-test"
    key                         = "acme/terraform.tfstate"
    region                      = "us-east-1"
    dynamodb_table              = "gantry-lock-table"
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    skip_s3_checksum            = true
    endpoints = {{
      s3       = "{endpoint}"
      dynamodb = "{endpoint}"
      sts      = "{endpoint}"
    }}
  }}
}}
"""
    workdir = write(tmp_path / "w", backend + 'resource "terraform_data" "x" {}\n')
    runner = runner_for(workdir)
    init = runner.init()
    assert init.ok, init.to_dict()
    lock_id = "5d5f6a0e-1111-2222-3333-444455556666"
    info = {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "someone@elsewhere",
        "Version": "1.11.4",
        "Created": "2026-01-01T00:00:00Z",
        "Path": "gantry-lock-test/acme/terraform.tfstate",
    }
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    dynamodb.put_item(
        TableName="gantry-lock-table",
        Item={"LockID": {"S": "gantry-lock-test/acme/terraform.tfstate"}, "Info": {"S": json.dumps(info)}},
    )
    result = runner.plan()
    assert not result.ok
    assert result.category == Category.STATE_LOCKED, result.to_dict()
    assert result.lock_id == lock_id


def test_classify_messages():
    assert classify("Error: Saved plan is stale\n\nThe given plan file can no longer be applied")[0] == (
        Category.STALE_PLAN
    )
    category, lock_id = classify("Error: Error acquiring the state lock\nLock Info:\n  ID:        abc-123\n")
    assert (category, lock_id) == (Category.STATE_LOCKED, "abc-123")
    assert classify("Error: Failed to query available provider packages")[0] == Category.PROVIDER_ERROR
    assert classify("Error: Unsupported argument")[0] == Category.INVALID_CONFIG
    assert classify("Error: something new")[0] is None


# --- environment, streaming, redaction -----------------------------------------------------------------
def test_environment_is_isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/root/.terraformrc")
    monkeypatch.setenv("TF_CLI_ARGS_apply", "-auto-approve")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.setenv("AWS_PROFILE", "admin")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/x")
    env = TerraformRunner(tmp_path, env={"AWS_ACCESS_KEY_ID": "run-key"}).build_env()
    assert env["TF_CLI_CONFIG_FILE"] != "/root/.terraformrc"
    assert Path(env["TF_CLI_CONFIG_FILE"]).read_text().startswith("disable_checkpoint")
    for name in ("TF_CLI_ARGS_apply", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "DATABASE_URL"):
        assert name not in env
    assert env["TF_IN_AUTOMATION"] == "1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_ACCESS_KEY_ID"] == "run-key"


def test_plugin_cache_dir_only_without_mirror(tmp_path):
    mirrored = TerraformRunner(tmp_path, plugin_dir=PLUGIN_DIR, plugin_cache_dir=tmp_path / "cache")
    assert "TF_PLUGIN_CACHE_DIR" not in mirrored.build_env()
    registry = TerraformRunner(tmp_path, plugin_dir="", plugin_cache_dir=tmp_path / "cache")
    assert registry.build_env()["TF_PLUGIN_CACHE_DIR"] == str(tmp_path / "cache")


def test_streamed_output_is_redacted(tmp_path):
    secret = "s3cr3t-value-registered-at-runtime"
    workdir = write(
        tmp_path / "w",
        'variable "db_password" {\n  type = string\n}\n\n'
        'output "leak" {\n  value = var.db_password\n}\n\n'
        'output "key_id" {\n  value = "AKIAABCDEFGHIJKLMNOP"\n}\n',
    )
    lines: list[str] = []
    runner = runner_for(workdir, on_line=lines.append, env={"TF_VAR_db_password": secret})
    assert runner.init().ok
    plan = runner.plan()
    assert plan.ok
    streamed = "\n".join(lines)
    assert "Changes to Outputs" in streamed
    assert secret not in streamed and "AKIAABCDEFGHIJKLMNOP" not in streamed
    assert MASK in streamed
    assert secret not in plan.stdout_tail
    shown = runner.show_text()
    assert secret not in shown.output and "AKIAABCDEFGHIJKLMNOP" not in shown.output


def test_ansi_is_stripped_and_callback_errors_do_not_kill_the_run(tmp_path):
    script = tmp_path / "fake-terraform"
    script.write_text(
        "#!/bin/sh\nprintf '\\033[1m\\033[32mApply complete!\\033[0m key=AKIAABCDEFGHIJKLMNOP\\n'\n"
        "printf '\\033[31mError: Saved plan is stale\\033[0m\\n' >&2\nexit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    lines: list[str] = []

    def sink(line: str) -> None:
        lines.append(line)
        raise RuntimeError("log sink broken")

    (tmp_path / "plan.tfplan").write_bytes(b"x")
    result = TerraformRunner(tmp_path, binary=str(script), on_line=sink).apply()
    assert lines[0] == f"Apply complete! key={MASK}" or lines[1] == f"Apply complete! key={MASK}"
    assert all("\x1b" not in line for line in lines)
    assert result.category == Category.STALE_PLAN
    assert "\x1b" not in result.stderr_tail


def test_sigint_first(tmp_path):
    """Terraform gets SIGINT before anything harsher, so it can release the state lock."""
    script = tmp_path / "fake-terraform"
    script.write_text("#!/bin/sh\ntrap 'echo got-int; exit 130' INT\nwhile true; do sleep 0.1; done\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    lines: list[str] = []
    result = TerraformRunner(tmp_path, binary=str(script), timeout=1, on_line=lines.append).fmt_check()
    assert result.category == Category.TIMEOUT
    assert "got-int" in lines
    assert result.exit_code in (130, -signal.SIGINT)


# --- redaction (iac/redaction.py) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("key AKIAIOSFODNN7EXAMPLE in a log", "AKIAIOSFODNN7EXAMPLE"),
        ("temporary ASIAABCDEFGHIJKLMNOP", "ASIAABCDEFGHIJKLMNOP"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
        ("bare wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here", "wJalrXUtnFEMI/K7MDENG"),
        ('  + password = "hunter2-hunter2"', "hunter2"),
        ('  ~ master_password = "old" -> "new-secret"', "new-secret"),
        ('{"secret_string": "{\\"db\\": \\"pw\\"}"}', "pw\\"),
        ("token=FwoGZXIvYXdzEJr//////////wEaDEXAMPLETOKENVALUE1234567890", "FwoGZXIvYXdzEJr"),
        ("X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&x=1", "IQoJb3JpZ2luX2VjEXAMPLE"),
    ],
)
def test_redaction_patterns(text, leak):
    from iac.redaction import Redactor

    redacted = Redactor().redact(text)
    assert leak not in redacted
    assert MASK in redacted


def test_redaction_keeps_ordinary_output():
    from iac.redaction import Redactor

    text = (
        "aws_s3_bucket.b: Creation complete after 1s [id=gantry-bucket]\n"
        "  + password = (sensitive value)\n"
        "commit 0123456789abcdef0123456789abcdef01234567\n"
        "Plan: 1 to add, 0 to change, 0 to destroy."
    )
    assert Redactor().redact(text) == text


def test_registered_values_and_parent_redactor():
    from iac.redaction import Redactor

    parent = Redactor(["platform-wide-secret"])
    child = Redactor(parent=parent)
    child.register("run-secret-value", None, "ab")  # too-short values are ignored
    assert child.redact("platform-wide-secret run-secret-value ab") == f"{MASK} {MASK} ab"


def test_private_key_masked_across_streamed_lines():
    from iac.redaction import Redactor

    stream = Redactor().stream()
    lines = [
        "private_key_pem = <<EOT",
        "-----BEGIN RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAexamplekeymaterial",
        "moreKeyMaterial==",
        "-----END RSA PRIVATE KEY-----",
        "EOT",
    ]
    out = [stream(line) for line in lines]
    assert not any("MIIEow" in line or "moreKey" in line for line in out)
    assert out[-1] == "EOT"
    one_line = Redactor().redact("-----BEGIN PRIVATE KEY-----\\nMIIabc\\n-----END PRIVATE KEY-----")
    assert "MIIabc" not in one_line


def test_redact_json_masks_sensitive_keys():
    from iac.redaction import Redactor

    data = {"after": {"password": "pw-123456", "name": "db", "tags": {"k": "AKIAIOSFODNN7EXAMPLE"}}}
    redacted = Redactor().redact_json(data)
    assert redacted == {"after": {"password": MASK, "name": "db", "tags": {"k": MASK}}}
    assert data["after"]["password"] == "pw-123456"  # a copy, not in place


def test_runner_registers_credentials_from_env(tmp_path):
    runner = TerraformRunner(
        tmp_path, env={"AWS_SECRET_ACCESS_KEY": "abc-secret-123", "AWS_REGION": "us-east-1"}
    )
    assert runner.redactor.redact("x abc-secret-123 us-east-1") == f"x {MASK} us-east-1"


def test_settings_are_read_lazily(tmp_path, settings):
    settings.TERRAFORM_PLUGIN_DIR = PLUGIN_DIR
    settings.TERRAFORM_TIMEOUT_SECONDS = 42
    settings.TERRAFORM_BIN = "/usr/local/bin/terraform"
    runner = TerraformRunner(tmp_path)
    assert (runner._plugin_dir(), runner._timeout(), runner._binary()) == (
        PLUGIN_DIR,
        42.0,
        settings.TERRAFORM_BIN,
    )
    write(tmp_path, AWS_VERSIONS)
    result = runner.init()
    assert result.ok and f"-plugin-dir={PLUGIN_DIR}" in result.command


def test_renderer_style_trusted_files_pass_the_gate_and_plan(tmp_path, endpoint):
    """The design the safety gate expects from the renderer: backend.tf and provider.tf, trusted by sha256,
    carry the s3 backend, assume_role and sandbox endpoints; the tenant's code carries none of that."""
    import hashlib

    from iac.gates.safety import safety_gate

    sandbox.ensure_state_backend(endpoint, "gantry-state", "gantry-locks")
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "backend.tf").write_text(
        f"""terraform {{
  backend "s3" {{
    bucket                      = "gantry-state"
    key                         = "tenants/acme/dev/terraform.tfstate"
    region                      = "us-east-1"
    dynamodb_table              = "gantry-locks"
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
    endpoints = {{
      s3       = "{endpoint}"
      dynamodb = "{endpoint}"
      sts      = "{endpoint}"
    }}
  }}
}}
"""
    )
    (workdir / "provider.tf").write_text(
        AWS_VERSIONS
        + provider_block(endpoint).replace(
            "  endpoints {",
            '  assume_role {\n    role_arn     = "arn:aws:iam::123456789012:role/GantryDeploy"\n'
            '    session_name = "gantry-run-1"\n  }\n\n  endpoints {',
        )
    )
    (workdir / "main.tf").write_text(
        'resource "aws_s3_bucket" "site" {\n  bucket = "gantry-rendered-site"\n}\n'
    )
    trusted = {
        n: hashlib.sha256((workdir / n).read_bytes()).hexdigest() for n in ("backend.tf", "provider.tf")
    }
    roots = [Path(__file__).resolve().parents[1] / "modules"]
    gate = safety_gate(
        workdir, allowed_module_roots=roots, trusted_files=trusted, allowed_providers=["hashicorp/aws"]
    )
    assert gate.status == Status.PASS, gate.to_dict()
    assert gate.details["trusted_files"] == ["backend.tf", "provider.tf"]

    runner = runner_for(workdir)
    init = runner.init()
    assert init.ok, init.to_dict()
    plan = runner.plan()
    assert plan.ok and plan.changes, plan.to_dict()
