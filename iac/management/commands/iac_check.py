"""`manage.py iac_check DIR [--json]`: every gate that needs no plan, on a directory of Terraform.

Runs safety → fmt → init/validate (∥ checkov code) on DIR in place. Terraform's data dir goes to a
temporary directory (TF_DATA_DIR) and a lock file it creates is removed again, so DIR is left as found.
No AWS credentials are given: nothing here needs an account. Exit code 1 when a gate blocks.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from iac import spec as spec_module
from iac.pipeline import (
    CODE_STAGES,
    PipelineResult,
    PipelineStatus,
    format_report,
    gate_digest,
    run_code_gates,
)
from iac.terraform import TerraformRunner


class Command(BaseCommand):
    help = "Run the safety, fmt, init/validate and checkov (code) gates on a directory of Terraform."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument(
            "--module-root",
            action="append",
            default=[],
            help="another directory local module sources may point into (repeatable; iac/modules and "
            "iac/stacks are always allowed)",
        )
        parser.add_argument("--skip-checkov", action="store_true", help="leave out the checkov (code) gate")

    def handle(self, *args, directory, module_root=(), skip_checkov=False, **options):
        workdir = Path(directory).resolve()
        if not workdir.is_dir():
            raise CommandError(f"{directory} is not a directory")
        stages = [s for s in CODE_STAGES if s != "render" and not (skip_checkov and s == "checkov_code")]
        iac_root = spec_module.IAC_ROOT
        roots = [iac_root / "modules", iac_root / "stacks", *(Path(r).resolve() for r in module_root)]
        result = PipelineResult(status=PipelineStatus.PASSED, workdir=str(workdir))
        lock_file = workdir / ".terraform.lock.hcl"
        had_lock = lock_file.exists()
        data_dir = Path(tempfile.mkdtemp(prefix="gantry-iac-check-"))
        try:
            run_code_gates(
                workdir,
                result,
                make_runner=lambda: TerraformRunner(workdir, env={"TF_DATA_DIR": str(data_dir)}),
                trusted_files=None,
                allowed_module_roots=roots,
                stages=stages,
                snapshot=False,
            )
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            if not had_lock:
                lock_file.unlink(missing_ok=True)
        result.gate_digest = gate_digest(result.gates)
        if options.get("json"):
            self.stdout.write(_dumps(result.to_dict()))
        else:
            self.stdout.write(format_report(result, title=f"iac_check {workdir}"))
        if result.status == PipelineStatus.BLOCKED:
            raise CommandError(f"blocked by the {result.blocked_by} gate", returncode=1)
        if result.status != PipelineStatus.PASSED:
            raise CommandError(result.error or result.status, returncode=2)


def _dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
