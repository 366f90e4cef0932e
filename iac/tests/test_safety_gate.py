"""The safety gate blocks every construct invariant 6 names, in root and nested modules, before init."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from iac.gates import safety
from iac.gates.base import Status
from iac.gates.safety import parse_hcl, safety_gate
from iac.terraform import TerraformRunner
from portal.testing.requirements import require_tool

IAC = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
UNSAFE = FIXTURES / "unsafe"
SAFE = FIXTURES / "safe"
ROOTS = [IAC / "modules", IAC / "stacks"]
PLUGIN_DIR = os.environ.get("TERRAFORM_PLUGIN_DIR") or "/opt/tf-plugins"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gate(workdir: Path, **kwargs):
    kwargs.setdefault("allowed_module_roots", ROOTS)
    kwargs.setdefault("allowed_providers", ["hashicorp/aws"])
    kwargs.setdefault("http_allowed_hosts", [])
    return safety_gate(workdir, **kwargs)


# case directory -> (rule, address) every run of the gate must report
UNSAFE_CASES = {
    "provisioner_local_exec": ("provisioner", "main.tf:2"),
    "provisioner_remote_exec": ("provisioner", "main.tf:14"),
    "provisioner_file": ("provisioner", "main.tf:14"),
    "provisioner_unquoted_label": ("provisioner", "main.tf:2"),
    "provisioner_in_nested_module": ("provisioner", "modules/inner/main.tf:4"),
    "heredoc_hides_provisioner": ("provisioner", "main.tf:8"),
    "commented_out_provisioner": ("provisioner", "main.tf:4"),  # text scan fails closed on purpose
    "marker_local_exec": ("provisioner", "main.tf:3"),
    "marker_data_external": ("data-external", "main.tf:2"),
    "data_external": ("data-external", "main.tf:1"),
    "data_external_in_check": ("data-external", "main.tf:11"),
    "data_external_nested_module": ("data-external", "modules/helper/main.tf:1"),
    "data_http_not_allowed": ("data-http", "main.tf:10"),
    "data_http_dynamic_url": ("data-http", "main.tf:13"),
    "remote_state": ("remote-state", "main.tf:1"),
    "provider_not_allowed": ("provider-not-allowed", "main.tf:3"),
    "provider_third_party_registry": ("provider-not-allowed", "main.tf:3"),
    "provider_implied_by_resource": ("provider-not-allowed", "main.tf:10"),
    "provider_block_not_allowed": ("provider-not-allowed", "main.tf:10"),
    "module_registry_source": ("module-source", "main.tf:2"),
    "module_git_source": ("module-source", "main.tf:2"),
    "module_http_source": ("module-source", "main.tf:2"),
    "module_s3_source": ("module-source", "main.tf:2"),
    "module_escape": ("module-source", "main.tf:3"),
    "module_escape_nested": ("module-source", "modules/outer/main.tf:2"),
    "backend_block": ("backend-block", "main.tf:11"),
    "cloud_block": ("backend-block", "main.tf:2"),
    "file_absolute": ("file-read", "main.tf:2"),
    "file_escape": ("file-read", "main.tf:2"),
    "file_escape_path_module": ("file-read", "main.tf:2"),
    "file_nonliteral": ("file-read", "main.tf:6"),
    "file_in_heredoc": ("file-read", "main.tf:4"),
    "file_in_string_template": ("file-read", "main.tf:2"),
    "file_read_nested_module": ("file-read", "modules/reader/main.tf:2"),
    "fileset_escape": ("file-read", "main.tf:2"),
    "templatefile_reads_file": ("file-read", "greeting.tftpl:1"),
    "static_credentials_provider": ("static-credentials", "main.tf:12"),
    "aws_key_id_anywhere": ("static-credentials", "main.tf:3"),
    "provider_assume_role": ("assume-role-override", "main.tf:13"),
    "provider_assume_role_web_identity": ("assume-role-override", "main.tf:13"),
    "provider_dynamic_assume_role": ("assume-role-override", "main.tf:13"),
    "provider_override_nested_module": ("assume-role-override", "modules/inner/main.tf:13"),
    "provider_profile": ("credential-override", "main.tf:12"),
    "provider_endpoints": ("endpoint-override", "main.tf:13"),
    "tf_json_provisioner": ("provisioner", "main.tf.json:5"),
    "tf_json_data_external": ("data-external", "main.tf.json:2"),
    "tf_json_file_read": ("file-read", "main.tf.json"),
    "tf_json_provider_credentials": ("credential-override", "main.tf.json:6"),
    "override_file": ("override-file", "main_override.tf"),
    "unparseable": ("unparseable", "main.tf:2"),
}


def test_every_unsafe_fixture_has_a_case():
    assert sorted(p.name for p in UNSAFE.iterdir() if p.is_dir()) == sorted(
        [*UNSAFE_CASES, "backend_local_in_trusted_file", "trusted_file_modified"]
    )


@pytest.mark.parametrize(("case", "expected"), sorted(UNSAFE_CASES.items()))
def test_unsafe_fixture_is_blocked(case, expected):
    result = gate(UNSAFE / case)
    assert result.status == Status.FAIL
    assert expected in {(f.rule, f.address) for f in result.findings}, result.to_dict()
    assert all(f.blocking for f in result.findings)


@pytest.mark.parametrize("case", sorted(p.name for p in SAFE.iterdir() if p.is_dir()))
def test_safe_fixture_passes(case):
    workdir = SAFE / case
    kwargs = {}
    if case == "trusted_generated_files":
        kwargs["trusted_files"] = {name: sha(workdir / name) for name in ("backend.tf", "provider.tf")}
    if case == "http_allowed_host":
        kwargs["allowed_providers"] = ["hashicorp/aws", "hashicorp/http"]
        kwargs["http_allowed_hosts"] = ["ip-ranges.amazonaws.com"]
    result = gate(workdir, **kwargs)
    assert result.status == Status.PASS, result.to_dict()
    assert result.findings == []


CURATED = sorted(f"{root.name}/{p.name}" for root in ROOTS for p in root.iterdir() if p.is_dir())


@pytest.mark.parametrize("module", CURATED)
def test_curated_modules_and_stacks_pass(module):
    result = gate(IAC / module)
    assert result.status == Status.PASS, result.to_dict()


def test_trusted_provider_file_needs_matching_sha():
    workdir = SAFE / "trusted_generated_files"
    result = gate(workdir)  # nothing trusted: backend and assume_role/endpoints are blocked
    rules = {f.rule for f in result.findings}
    assert {"backend-block", "assume-role-override", "endpoint-override"} <= rules


def test_trusted_file_with_wrong_sha_is_untrusted():
    result = gate(UNSAFE / "trusted_file_modified", trusted_files={"backend.tf": "0" * 64})
    findings = {(f.rule, f.address) for f in result.findings}
    assert ("trusted-file-modified", "backend.tf") in findings
    assert ("backend-block", "backend.tf:2") in findings


def test_trusted_backend_file_allows_only_s3():
    workdir = UNSAFE / "backend_local_in_trusted_file"
    result = gate(workdir, trusted_files={"backend.tf": sha(workdir / "backend.tf")})
    assert ("backend-block", "backend.tf:2") in {(f.rule, f.address) for f in result.findings}


def test_trusted_file_must_be_at_the_root(tmp_path):
    shutil.copytree(SAFE / "nested_local_module", tmp_path / "w")
    nested = tmp_path / "w" / "modules" / "bucket" / "backend.tf"
    nested.write_text('terraform {\n  backend "s3" {\n    bucket = "x"\n  }\n}\n')
    result = gate(tmp_path / "w", trusted_files={"backend.tf": sha(nested)})
    assert ("backend-block", "modules/bucket/backend.tf:2") in {(f.rule, f.address) for f in result.findings}


def test_static_credentials_blocked_even_in_trusted_file(tmp_path):
    (tmp_path / "provider.tf").write_text(
        'provider "aws" {\n  region     = "us-east-1"\n  access_key = "x"\n}\n'
    )
    result = gate(tmp_path, trusted_files={"provider.tf": sha(tmp_path / "provider.tf")})
    assert ("static-credentials", "provider.tf:3") in {(f.rule, f.address) for f in result.findings}


def test_http_data_allowed_host_needs_the_provider_allowed_too():
    result = gate(SAFE / "http_allowed_host", http_allowed_hosts=["ip-ranges.amazonaws.com"])
    assert {f.rule for f in result.findings} == {"provider-not-allowed"}


def test_symlink_outside_workdir_blocked(tmp_path):
    shutil.copytree(SAFE / "plain_bucket", tmp_path / "w")
    (tmp_path / "outside.tf").write_text('resource "terraform_data" "x" {}\n')
    (tmp_path / "w" / "extra.tf").symlink_to(tmp_path / "outside.tf")
    (tmp_path / "w" / "etc").symlink_to("/etc")
    result = gate(tmp_path / "w")
    findings = {(f.rule, f.address) for f in result.findings}
    assert ("symlink-escape", "extra.tf") in findings
    assert ("symlink-escape", "etc") in findings


def test_symlinked_module_dir_escape_blocked(tmp_path):
    shutil.copytree(SAFE / "nested_local_module", tmp_path / "w")
    shutil.rmtree(tmp_path / "w" / "modules" / "bucket")
    shutil.copytree(UNSAFE / "provisioner_local_exec", tmp_path / "evil")
    (tmp_path / "w" / "modules" / "bucket").symlink_to(tmp_path / "evil")
    result = gate(tmp_path / "w")
    rules = {f.rule for f in result.findings}
    assert "symlink-escape" in rules
    assert "module-source" in rules  # the module block resolves outside the work dir too


def test_preseeded_terraform_dir_blocked(tmp_path):
    shutil.copytree(SAFE / "plain_bucket", tmp_path / "w")
    (tmp_path / "w" / ".terraform" / "providers").mkdir(parents=True)
    result = gate(tmp_path / "w")
    assert ("preseeded-terraform-dir", ".terraform") in {(f.rule, f.address) for f in result.findings}


def test_fifo_is_not_read(tmp_path):
    shutil.copytree(SAFE / "plain_bucket", tmp_path / "w")
    os.mkfifo(tmp_path / "w" / "blocking.tf")
    result = gate(tmp_path / "w")  # would hang if the gate opened it
    assert ("special-file", "blocking.tf") in {(f.rule, f.address) for f in result.findings}


def test_aws_key_id_in_tfvars_blocked(tmp_path):
    shutil.copytree(SAFE / "plain_bucket", tmp_path / "w")
    (tmp_path / "w" / "terraform.tfvars").write_text('owner = "AKIAIOSFODNN7EXAMPLE"\n')
    result = gate(tmp_path / "w")
    assert ("static-credentials", "terraform.tfvars:1") in {(f.rule, f.address) for f in result.findings}


def test_missing_workdir_fails(tmp_path):
    assert gate(tmp_path / "nope").status == Status.FAIL


@pytest.mark.parametrize("case", ["provisioner_local_exec", "data_external", "backend_block"])
def test_text_scan_catches_what_the_parsers_miss(case, monkeypatch):
    """Defence in depth: blind both parsers and the raw-text scan still blocks."""

    def blind(path, text):
        parsed = parse_hcl(path, "")
        parsed.text = text
        return parsed

    monkeypatch.setattr(safety, "parse_hcl", blind)
    monkeypatch.setattr(safety._Scan, "hcl2_cross_check", lambda self, path, text: None)
    result = gate(UNSAFE / case)
    assert result.status == Status.FAIL, result.to_dict()
    assert any("(text scan)" in f.message for f in result.findings)


def test_findings_carry_file_and_line():
    result = gate(UNSAFE / "provisioner_in_nested_module")
    (finding,) = [f for f in result.findings if f.rule == "provisioner"]
    assert finding.address == "modules/inner/main.tf:4"
    assert "local-exec" in finding.message
    assert result.details["modules"] == [".", "modules/inner"]


def test_parser_handles_templates_heredocs_and_comments():
    text = (SAFE / "templates_and_heredocs" / "main.tf").read_text()
    parsed = parse_hcl(Path("main.tf"), text)
    locals_block = next(b for b in parsed.body if getattr(b, "type", "") == "locals")
    names = [a.name for a in locals_block.body]
    assert names == ["policy", "rendered", "all_json", "escaped", "tricky", "nested", "user_data"]
    # comments and literal text are blanked in the code view; interpolations are kept
    assert 'file("/etc/passwd")' not in parsed.code
    assert "path.module" in parsed.code


# --- the gate runs before init ---------------------------------------------------------------------
class SpyRunner(TerraformRunner):
    calls: list[str]

    def init(self, **kwargs):
        self.calls.append("init")
        return super().init(**kwargs)

    def plan(self, *args, **kwargs):
        self.calls.append("plan")
        return super().plan(*args, **kwargs)

    def apply(self, *args, **kwargs):
        self.calls.append("apply")
        return super().apply(*args, **kwargs)


def pipeline(workdir: Path, runner: SpyRunner):
    """The gate order of DESIGN.md up to apply: safety first; a failed gate stops everything."""
    result = gate(workdir)
    if not result.passed:
        return result
    runner.init().raise_for_error()
    runner.plan().raise_for_error()
    runner.apply().raise_for_error()
    return result


def _runner(workdir: Path) -> SpyRunner:
    runner = SpyRunner(workdir, plugin_dir=PLUGIN_DIR, timeout=120)
    runner.calls = []
    return runner


@pytest.mark.terraform
@pytest.mark.parametrize("case", ["marker_local_exec", "marker_data_external"])
def test_blocked_config_never_reaches_init(case, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(UNSAFE / case, workdir)
    runner = _runner(workdir)
    result = pipeline(workdir, runner)
    assert result.status == Status.FAIL
    assert runner.calls == []
    assert not (workdir / ".terraform").exists()
    assert not (workdir / "MARKER_CREATED").exists()


@pytest.mark.terraform
def test_marker_fixture_really_executes_without_the_gate(tmp_path):
    """Control: the same fixture, run straight through Terraform, does create the marker."""
    require_tool("terraform")
    workdir = tmp_path / "work"
    shutil.copytree(UNSAFE / "marker_local_exec", workdir)
    runner = _runner(workdir)
    runner.init().raise_for_error()
    runner.plan().raise_for_error()
    runner.apply().raise_for_error()
    assert (workdir / "MARKER_CREATED").exists()


# --- robustness: any input gives a GateResult, never a traceback -----------------------------------
_PIECES = [
    *[
        "resource",
        "provisioner",
        "data",
        '"external"',
        '"x"',
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "=",
        "${",
        "%{",
        "<<EOT",
        "EOT",
        "<<-EOT",
        "#",
        "//",
        "/*",
        "*/",
        "file(",
        ",",
        ".",
        "x",
        "1",
    ],
    *"{}[]()=\"'\\$%<>#/*-.,:~",
    "\n",
    " ",
]


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_PIECES), max_size=60))
def test_gate_never_crashes(tmp_path, text):
    (tmp_path / "main.tf").write_text("".join(text))
    result = gate(tmp_path)
    assert result.status in (Status.PASS, Status.FAIL)
    assert "internal-error" not in {f.rule for f in result.findings}


def test_deep_nesting_fails_closed(tmp_path):
    (tmp_path / "main.tf").write_text("locals {\n  x = " + "[" * 5000 + "]" * 5000 + "\n}\n")
    result = gate(tmp_path)
    assert result.status in (Status.PASS, Status.FAIL)


def test_no_extra_provider_config_beside_the_trusted_provider_file(tmp_path):
    shutil.copytree(SAFE / "trusted_generated_files", tmp_path / "w")
    (tmp_path / "w" / "extra.tf").write_text(
        'provider "aws" {\n  alias  = "raw"\n  region = "us-east-1"\n}\n'
    )
    trusted = {name: sha(tmp_path / "w" / name) for name in ("backend.tf", "provider.tf")}
    result = gate(tmp_path / "w", trusted_files=trusted)
    assert [(f.rule, f.address) for f in result.findings] == [
        ("provider-config-outside-trusted-file", "extra.tf:1")
    ]
