"""scripts/check_prerequisites.sh, the first step of `make run` and `make test`: it names every missing
program and how to get it, and passes on a machine that has them all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_prerequisites.sh"
NEEDED_TF = re.search(r'"TERRAFORM_MIN_VERSION", "([0-9.]+)"', (REPO / "portal/settings.py").read_text())[1]
BASICS = ("bash", "sed", "sort", "ls", "env")


def check(mode: str, path: str) -> subprocess.CompletedProcess:
    env = {"PATH": path, "PYTHON": sys.executable, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["bash", str(SCRIPT), mode], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    """A PATH holding only the shell basics and, per test, what it links in."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in BASICS:
        (folder / name).symlink_to(shutil.which(name))
    return folder


def link(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).symlink_to(shutil.which(name))


def fake_terraform(folder: Path, version: str) -> None:
    script = folder / "terraform"
    script.write_text(f'#!/bin/sh\necho \'{{"terraform_version": "{version}"}}\'\n')
    script.chmod(0o755)


@pytest.mark.parametrize("mode", ["run", "test"])
def test_this_machine_has_everything(mode):
    result = check(mode, os.environ["PATH"])
    assert result.returncode == 0, result.stderr


def test_missing_terraform_and_npm_are_named_with_how_to_get_them(bin_dir):
    result = check("run", str(bin_dir))
    assert result.returncode == 1
    assert (
        f"Terraform >= {NEEDED_TF} (terraform): https://developer.hashicorp.com/terraform/install"
        in result.stderr
    )
    assert "npm (installs the pinned" in result.stderr and "apt-get install npm" in result.stderr
    assert "Python 3.11" not in result.stderr  # PYTHON points at this interpreter


def test_too_old_a_terraform_says_which_it_found_and_which_is_needed(bin_dir):
    link(bin_dir, "npm", "node")
    fake_terraform(bin_dir, "1.2.0")
    result = check("run", str(bin_dir))
    assert result.returncode == 1
    assert f"Terraform >= {NEEDED_TF} (found 1.2.0 at {bin_dir / 'terraform'})" in result.stderr
    assert "npm" not in result.stderr


def test_a_new_enough_terraform_passes(bin_dir):
    link(bin_dir, "npm", "node")
    fake_terraform(bin_dir, "9.0.0")
    assert check("run", str(bin_dir)).returncode == 0


def test_a_python_that_is_not_311_is_refused(bin_dir, tmp_path):
    link(bin_dir, "npm", "node")
    fake_terraform(bin_dir, "9.0.0")
    other = tmp_path / "python3.9"
    other.write_text("#!/bin/sh\nexit 1\n")
    other.chmod(0o755)
    env = {"PATH": str(bin_dir), "PYTHON": str(other)}
    result = subprocess.run(["bash", str(SCRIPT), "run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is not a Python 3.11" in result.stderr


def test_make_checks_before_it_installs_anything():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run: prerequisites-run ", makefile, re.M)
    assert re.search(r"^test: prerequisites-test ", makefile, re.M)
