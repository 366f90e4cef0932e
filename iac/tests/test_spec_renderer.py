"""CompositionSpec validation and the renderer: determinism, fmt, and no way to inject HCL through a value."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import hcl2
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from iac import spec as spec_module
from iac.gates.base import Status
from iac.gates.safety import parse_hcl, safety_gate
from iac.renderer import GANTRY_DIR, RenderError, hcl_string, render, render_files
from iac.spec import CompositionSpec, SpecError, stack_variables
from iac.terraform import TerraformRunner

AMI = "ami-04681a1dbd79675a5"


def spec_dict(**overrides) -> dict:
    data = {
        "stack": "web_tier",
        "parameters": {"name": "web", "ami_id": AMI, "instance_type": "t3.medium", "instance_count": 3},
        "tags": {"Owner": "platform", "Environment": "dev"},
        "region": "ap-south-1",
        "account": {"id": 7, "account_id": "100000000007", "mode": "sandbox"},
        "backend": {
            "bucket": "gantry-state-100000000007-ap-south-1",
            "key": "tenants/acme/acme-dev/web_tier.tfstate",
            "region": "ap-south-1",
        },
        "workspace": "acme-dev",
        "sandbox_endpoint": "http://127.0.0.1:4599",
    }
    data.update(overrides)
    return data


def with_params(**params) -> dict:
    base = spec_dict()
    return {**base, "parameters": {**base["parameters"], **params}}


# --- validation ------------------------------------------------------------------------------------------
def test_valid_spec_parses_and_hashes_canonically():
    spec = CompositionSpec.parse(spec_dict())
    reordered = spec_dict(
        parameters=dict(reversed(list(spec_dict()["parameters"].items()))),
        tags={"Environment": "dev", "Owner": "platform"},
    )
    assert CompositionSpec.parse(reordered).sha256() == spec.sha256()
    assert CompositionSpec.parse(json.dumps(spec_dict())).sha256() == spec.sha256()
    assert CompositionSpec.parse(with_params(instance_count=4)).sha256() != spec.sha256()
    assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_params(instance_cont=3), "unknown parameter 'instance_cont' for stack 'web_tier'"),
        (with_params(instance_count="3"), "parameter 'instance_count': expected a number, got a string"),
        (with_params(instance_count=True), "parameter 'instance_count': expected a number, got a bool"),
        (with_params(enable_nat_gateway="yes"), "parameter 'enable_nat_gateway': expected true or false"),
        (with_params(azs="ap-south-1a"), "parameter 'azs': expected a list"),
        (with_params(azs=["ap-south-1a", 2]), "parameter 'azs'[1]: expected a string"),
        (with_params(instance_type=None), "parameter 'instance_type' cannot be null"),
        (with_params(tags={"a": "b"}), "parameter 'tags' is reserved"),
        (with_params(instance_count=float("nan")), "numbers must be finite"),
        (spec_dict(parameters={"name": "web"}), "missing required parameter 'ami_id' (string)"),
        (spec_dict(stack="web-tier"), "unknown stack 'web-tier'"),
        (spec_dict(stack="../stacks/web_tier"), "unknown stack"),
        (spec_dict(region="mumbai"), "region: not an AWS region code"),
        (spec_dict(workspace="Acme Dev"), "workspace: workspace must be lower-case"),
        (spec_dict(tags={"aws:createdBy": "x"}), "the aws: prefix is reserved"),
        (spec_dict(tags={"k": "v" * 257}), "value longer than 256"),
        (spec_dict(sandbox_endpoint=None), "a sandbox account needs sandbox_endpoint"),
        (spec_dict(sandbox_endpoint="http://x/${evil}"), "sandbox endpoint must be a plain"),
        (spec_dict(account={"id": 7, "account_id": "123", "mode": "sandbox"}), "12 digits"),
        (spec_dict(backend={**spec_dict()["backend"], "key": "../other/x.tfstate"}), "state key"),
        (spec_dict(backend={**spec_dict()["backend"], "bucket": "Bad_Bucket"}), "S3 bucket name"),
        (spec_dict(surprise=1), "surprise: Extra inputs are not permitted"),
    ],
)
def test_invalid_specs_say_what_is_wrong(data, message):
    with pytest.raises(SpecError) as excinfo:
        CompositionSpec.parse(data)
    assert message in str(excinfo.value)


def test_several_problems_are_reported_together():
    with pytest.raises(SpecError) as excinfo:
        CompositionSpec.parse(spec_dict(parameters={"bogus": 1, "instance_count": "x"}))
    text = str(excinfo.value)
    assert "unknown parameter 'bogus'" in text
    assert "missing required parameter 'name'" in text
    assert "missing required parameter 'ami_id'" in text
    assert "parameter 'instance_count': expected a number" in text


def test_nullable_optional_and_collection_types():
    spec = CompositionSpec.parse(
        with_params(min_size=None, azs=["ap-south-1a", "ap-south-1b"], ingress_cidr_blocks=[], app_port=8080)
    )
    assert spec.parameters["min_size"] is None


def test_variables_are_read_from_the_stack_at_run_time(tmp_path, monkeypatch):
    stack = tmp_path / "stacks" / "echo"
    stack.mkdir(parents=True)
    (stack / "variables.tf").write_text(
        'variable "size" {\n  type = number\n}\n\nvariable "labels" {\n  type    = map(string)\n  default = {}\n}\n'
    )
    monkeypatch.setattr(spec_module, "IAC_ROOT", tmp_path)
    variables = stack_variables("echo")
    assert {v.name: (v.type, v.required) for v in variables.values()} == {
        "size": ("number", True),
        "labels": ("map(string)", False),
    }
    base = spec_dict(stack="echo", parameters={"size": 2, "labels": {"a": "b"}})
    assert CompositionSpec.parse(base).parameters["size"] == 2
    with pytest.raises(SpecError, match=r"parameter 'labels'\['a'\]: expected a string"):
        CompositionSpec.parse({**base, "parameters": {"size": 2, "labels": {"a": 1}}})
    # A stack edit is picked up without a restart.
    (stack / "variables.tf").write_text('variable "size" {\n  type = string\n}\n')
    with pytest.raises(SpecError, match="expected a string"):
        CompositionSpec.parse({**base, "parameters": {"size": 2}})


# --- rendering -------------------------------------------------------------------------------------------
def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_is_deterministic_and_self_contained(tmp_path):
    spec = CompositionSpec.parse(spec_dict())
    first = render(spec, tmp_path / "a")
    second = render(CompositionSpec.parse(spec_dict()), tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert first.files == second.files
    assert first.source_sha256 == second.source_sha256
    assert set(first.trusted_files) == {"backend.tf", "provider.tf"}
    # The curated code it runs is inside the work dir and covered by the digest.
    assert f"{GANTRY_DIR}/stacks/web_tier/main.tf" in first.files
    assert f"{GANTRY_DIR}/modules/asg_ec2/main.tf" in first.files
    assert not any("/modules/rds/" in path for path in first.files)  # only what the stack calls
    assert first.module_dirs == sorted(first.module_dirs)
    # A different value changes the source digest.
    third = render(CompositionSpec.parse(with_params(instance_count=4)), tmp_path / "c")
    assert third.source_sha256 != first.source_sha256


def test_render_refuses_a_dirty_workdir_and_the_wrong_account(tmp_path, own):
    spec = CompositionSpec.parse(spec_dict())
    (tmp_path / "dirty").mkdir()
    (tmp_path / "dirty" / "evil.tf").write_text("")
    with pytest.raises(RenderError, match="not empty"):
        render(spec, tmp_path / "dirty")
    with pytest.raises(RenderError, match="another account"):
        render(spec, tmp_path / "x", account=own.account)


def test_rendered_files_have_the_expected_shape(tmp_path):
    spec = CompositionSpec.parse(spec_dict())
    render(spec, tmp_path)
    main = hcl2.load((tmp_path / "main.tf").open())
    module = main["module"][0]['"stack"']
    assert module["source"] == f'"./{GANTRY_DIR}/stacks/web_tier"'
    assert {k for k in module if not k.startswith("__")} == {"source", *spec.parameters, "tags"}
    values = json.loads((tmp_path / "terraform.tfvars.json").read_text())
    assert values == {**spec.parameters, "tags": spec.tags}
    provider = (tmp_path / "provider.tf").read_text()
    backend = (tmp_path / "backend.tf").read_text()
    for text_ in (provider, backend):
        code = "\n".join(line for line in text_.splitlines() if not line.lstrip().startswith("#"))
        for word in ("access_key", "secret_key", "token", "profile", "assume_role", "shared_"):
            assert word not in code
    assert 'region = "ap-south-1"' in re.sub(r"\s+", " ", provider)
    assert "use_lockfile" in backend and "tenants/acme/acme-dev/web_tier.tfstate" in backend
    outputs = hcl2.load((tmp_path / "outputs.tf").open())
    names = {next(iter(o)).strip('"') for o in outputs["output"]}
    assert {"alb_dns_name", "autoscaling_group_name"} <= names


def test_aws_mode_pins_the_account_and_has_no_endpoints(tmp_path):
    data = spec_dict(account={"id": 7, "account_id": "100000000007", "mode": "aws"}, sandbox_endpoint=None)
    render(CompositionSpec.parse(data), tmp_path)
    provider = (tmp_path / "provider.tf").read_text()
    assert 'allowed_account_ids = ["100000000007"]' in provider
    assert "endpoints" not in provider and "endpoints" not in (tmp_path / "backend.tf").read_text()


@pytest.mark.terraform
@pytest.mark.parametrize("mode", ["sandbox", "aws"])
def test_rendered_output_is_terraform_fmt_canonical(tmp_path, mode):
    data = (
        spec_dict()
        if mode == "sandbox"
        else spec_dict(account={"id": 7, "account_id": "100000000007", "mode": "aws"}, sandbox_endpoint=None)
    )
    data["parameters"] = {**data["parameters"], "azs": ["ap-south-1a", "ap-south-1b"], "min_size": None}
    render(CompositionSpec.parse(data), tmp_path)
    result = TerraformRunner(tmp_path, timeout=120).fmt_check()
    assert result.ok, result.output


def test_safety_gate_passes_on_rendered_output_with_only_the_trusted_files(tmp_path):
    result = render(CompositionSpec.parse(spec_dict()), tmp_path)
    gate = safety_gate(tmp_path, allowed_module_roots=[], trusted_files=result.trusted_files)
    assert gate.status == Status.PASS, [f.to_dict() for f in gate.findings]
    assert sorted(gate.details["trusted_files"]) == ["backend.tf", "provider.tf"]
    # Without the renderer's digests the generated provider/backend are not trusted.
    untrusted = safety_gate(tmp_path, allowed_module_roots=[])
    assert untrusted.status == Status.FAIL
    assert {f.rule for f in untrusted.findings} >= {"backend-block", "endpoint-override"}


# --- injection -------------------------------------------------------------------------------------------
NASTY = [
    '${file("/etc/passwd")}',
    "%{ if true }x%{ endif }",
    '"\n}\nresource "null_resource" "x" {\n',
    '<<EOF\nprovisioner "local-exec" {}\nEOF',
    "$${already}",
    "%%{already}",
    "\\",
    'a"b',
    "\t\r\n\x00\x1b[31m",
    "é ✓ 𝄞 \u2028",
    "#",
    "//",
    "/*",
]


def decode_hcl_string(literal: str) -> str:
    """Independent decoder for the quoted literals python-hcl2 returns raw."""
    assert literal.startswith('"') and literal.endswith('"'), literal
    body = literal[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append({"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}[nxt])
            i += 2
            continue
        if body.startswith(("$${", "%%{"), i):
            out.append(body[i + 1 : i + 3])
            i += 3
            continue
        assert not body.startswith(("${", "%{"), i), f"live template sequence in {literal!r}"
        out.append(ch)
        i += 1
    return "".join(out)


text = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(["${", "%{", "$${", '"', "\\", "\n", "<<EOF", "}"]),
    ),
    max_size=20,
).map("".join)
tag_keys = text.filter(lambda k: 1 <= len(k) <= 128 and not k.lower().startswith("aws:"))


@given(value=st.one_of(st.sampled_from(NASTY), text))
@settings(max_examples=300, deadline=None)
def test_hcl_string_round_trips(value):
    literal = hcl_string(value)
    assert "\n" not in literal
    # The safety gate's HCL lexer: one attribute holding one string with no interpolation or directive.
    parsed = parse_hcl(Path("x.tf"), f"x = {literal}\n")
    assert len(parsed.body) == 1 and parsed.body[0].name == "x"
    (token,) = parsed.body[0].tokens
    assert token.kind == "STR" and token.literal is not None
    try:
        loaded = hcl2.loads(f"x = {literal}\n")
    except Exception:
        # python-hcl2's grammar rejects some escapes Terraform accepts (`"$${"` with no closing brace);
        # test_terraform_reads_rendered_values_literally checks those against Terraform itself.
        return
    assert list(loaded) == ["x"]
    assert decode_hcl_string(loaded["x"]) == value


NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]  # a render + safety scan per example
BASELINE_PARAMS = {
    "name": "web",
    "ami_id": AMI,
    "health_check_path": "/",
    "user_data": "#!/bin/sh",
    "azs": ["ap-south-1a"],
}


@given(
    name=st.one_of(st.sampled_from(NASTY), text),
    user_data=st.one_of(st.sampled_from(NASTY), text),
    azs=st.lists(st.one_of(st.sampled_from(NASTY), text), max_size=3),
    tags=st.dictionaries(
        tag_keys, st.one_of(st.sampled_from(NASTY), text.filter(lambda v: len(v) <= 256)), max_size=5
    ),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK)
def test_no_spec_string_can_inject_hcl(name, user_data, azs, tags):
    params = {**BASELINE_PARAMS, "name": name, "user_data": user_data, "azs": azs}
    spec = CompositionSpec.parse(spec_dict(parameters=params, tags=tags))
    baseline = render_files(CompositionSpec.parse(spec_dict(parameters=BASELINE_PARAMS, tags={})))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "w"
        result = render(spec, workdir)
        # Tenant values never reach HCL: every .tf file is byte-identical to a render with benign values.
        for name_ in baseline:
            if name_.endswith(".tf"):
                assert (workdir / name_).read_text() == baseline[name_], name_
                parsed = hcl2.load((workdir / name_).open())  # still parses, same structure
                assert set(parsed) - {"__comments__"} <= {
                    "module",
                    "variable",
                    "output",
                    "provider",
                    "terraform",
                }
        # ...and the values round-trip exactly through the JSON variables file.
        values = json.loads((workdir / "terraform.tfvars.json").read_text(encoding="utf-8"))
        assert values == {**params, "tags": tags}
        gate = safety_gate(workdir, allowed_module_roots=[], trusted_files=result.trusted_files)
        assert gate.status == Status.PASS, [f.to_dict() for f in gate.findings]


@pytest.mark.terraform
def test_terraform_reads_rendered_values_literally(tmp_path, monkeypatch):
    """Real terraform: nasty strings in parameters and tags come out of the stack exactly as given."""
    stack = tmp_path / "iac" / "stacks" / "echo"
    stack.mkdir(parents=True)
    (tmp_path / "iac" / "modules").mkdir()
    (stack / "main.tf").write_text(
        'variable "text" {\n  type = string\n}\n\n'
        'variable "items" {\n  type = list(string)\n}\n\n'
        'variable "tags" {\n  type = map(string)\n}\n\n'
        'output "echo" {\n  value = { text = var.text, items = var.items, tags = var.tags }\n}\n'
    )
    (stack / "variables.tf").write_text("")
    monkeypatch.setattr(spec_module, "IAC_ROOT", tmp_path / "iac")
    tags = {f"k{i}": value for i, value in enumerate(NASTY) if "\x00" not in value}
    tags["${key}"] = "%{key}"
    params = {"text": "".join(NASTY[:5]), "items": NASTY}
    spec = CompositionSpec.parse(spec_dict(stack="echo", parameters=params, tags=tags))
    workdir = tmp_path / "w"
    render(spec, workdir)
    # Plan locally: drop the platform's backend and provider (no AWS calls are needed to echo values).
    for name in ("backend.tf", "provider.tf", "versions.tf"):
        (workdir / name).unlink()
    # hcl_string (used for platform values in .tf files) against Terraform's own parser.
    literals = [value for value in NASTY if "\x00" not in value] + ["${", "%{", "$${x}", "a$", "$$", "%%{"]
    (workdir / "literals.tf").write_text(
        'output "literals" {\n  value = [' + ", ".join(hcl_string(v) for v in literals) + "]\n}\n"
    )
    env = {"TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin:/usr/local/bin", "TF_CLI_CONFIG_FILE": "/dev/null"}
    terraform = shutil.which("terraform") or "terraform"
    for command in (["init", "-input=false"], ["plan", "-input=false", "-out=p.tfplan"]):
        proc = subprocess.run([terraform, *command], cwd=workdir, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    shown = subprocess.run(
        [terraform, "show", "-json", "p.tfplan"], cwd=workdir, env=env, capture_output=True, text=True
    )
    outputs = json.loads(shown.stdout)["planned_values"]["outputs"]
    assert outputs["echo"]["value"] == {"text": params["text"], "items": NASTY, "tags": tags}
    assert outputs["literals"]["value"] == literals
