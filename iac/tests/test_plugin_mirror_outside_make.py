"""The provider mirror is found by settings, so manage.py run by hand (not by make) still inits offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
MAIN_TF = """\
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

resource "aws_sqs_queue" "jobs" {
  name                    = "jobs"
  sqs_managed_sse_enabled = true
}
"""


def manage(*args: str, var_dir: Path) -> subprocess.CompletedProcess:
    """manage.py as a user types it: no TERRAFORM_PLUGIN_DIR in the environment."""
    env = {k: v for k, v in os.environ.items() if k != "TERRAFORM_PLUGIN_DIR"}
    env["GANTRY_VAR_DIR"] = str(var_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_image_has_the_mirror_the_default_points_at():
    mirror = Path(settings.DEFAULT_TERRAFORM_PLUGIN_DIR)
    assert mirror.is_dir(), (
        f"no provider mirror at {mirror}: install hashicorp/aws there or set TERRAFORM_PLUGIN_DIR"
    )


def test_settings_find_the_mirror_without_the_environment(tmp_path):
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.TERRAFORM_PLUGIN_DIR)",
        var_dir=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == settings.DEFAULT_TERRAFORM_PLUGIN_DIR


def test_iac_check_run_by_hand_inits_from_the_mirror(tmp_path):
    workdir = tmp_path / "tf"
    workdir.mkdir()
    (workdir / "main.tf").write_text(MAIN_TF)
    checked = manage("iac_check", str(workdir), "--skip-checkov", var_dir=tmp_path / "var")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "[PASS] validate" in checked.stdout
