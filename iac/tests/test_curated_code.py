"""Every curated module and stack is formatted, validates, and passes Checkov with zero failed checks; the
only skips are the documented ones (`iac/CHECKOV_SKIPS.md`), each with its reason."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from iac.gates.checkov import checkov_gate
from iac.gates.terraform_checks import validate_gate
from iac.pipeline import platform_checkov_skips
from iac.terraform import TerraformRunner
from iac.testing import PLUGIN_DIR
from portal.testing.requirements import requires

pytestmark = [
    pytest.mark.terraform,
    requires("terraform"),
]

IAC = Path(__file__).resolve().parents[1]
CURATED = sorted(
    [f"modules/{p.name}" for p in (IAC / "modules").iterdir() if (p / "main.tf").is_file()]
    + [f"stacks/{p.name}" for p in (IAC / "stacks").iterdir() if (p / "main.tf").is_file()]
)
INLINE_SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9]+_\d+):(.+)")


@pytest.fixture(scope="module")
def curated_copy(tmp_path_factory) -> Path:
    """The modules and stacks copied out of the repository, so init leaves nothing behind in it."""
    root = tmp_path_factory.mktemp("curated")
    for part in ("modules", "stacks"):
        shutil.copytree(IAC / part, root / part, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return root


def test_every_module_and_stack_is_listed():
    assert {"modules/vpc", "modules/alb", "modules/asg_ec2", "modules/ec2", "modules/rds", "modules/s3",
            "modules/eks", "modules/kms"} <= set(CURATED)  # fmt: skip
    assert {"stacks/web_tier", "stacks/data_tier", "stacks/static_bucket", "stacks/eks_cluster"} <= set(
        CURATED
    )


def test_the_curated_code_is_formatted(curated_copy):
    result = TerraformRunner(curated_copy, plugin_dir=PLUGIN_DIR).fmt_check()
    assert result.ok, f"terraform fmt would change: {result.output}"


@pytest.mark.parametrize("directory", CURATED)
def test_each_module_and_stack_validates(curated_copy, directory):
    runner = TerraformRunner(curated_copy / directory, plugin_dir=PLUGIN_DIR, timeout=300)
    gate = validate_gate(runner, init=True)
    assert gate.passed, [f.message for f in gate.findings]


@pytest.mark.parametrize("part", ["modules", "stacks"])
def test_checkov_finds_no_failed_check(curated_copy, part):
    skips = platform_checkov_skips()
    gate = checkov_gate(curated_copy / part, kind="code", skip_checks=skips)
    assert gate.details.get("failed") == 0 and not gate.findings, [(f.rule, f.message) for f in gate.findings]
    assert gate.details["passed"] > 0  # it really scanned something


def test_every_inline_skip_is_documented_with_its_reason():
    """An inline skip in the curated code counts only because the platform lists it; the list and the
    code agree, and every skip says why."""
    documented = platform_checkov_skips()
    inline = {
        match.group(1): match.group(2).strip()
        for path in IAC.glob("*/**/*.tf")
        if ".terraform" not in path.parts
        for match in INLINE_SKIP.finditer(path.read_text(encoding="utf-8"))
    }
    assert inline, "the curated code carries documented skips"
    assert set(inline) <= set(documented), set(inline) - set(documented)
    assert all(reason for reason in inline.values()) and all(r.strip() for r in documented.values())
