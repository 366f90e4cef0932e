"""`manage.py iac_plan SPEC.json --account NAME --tenant SLUG [--config NAME] [--json]`, or `--example`.

SPEC.json holds the request part of a spec: `{"stack": ..., "parameters": {...}, "tags": {...}}`
(optionally `"region"`; `--example` prints one to start from); the account, config, state backend and workspace come from the database. The
spec is rendered, gated and planned (nothing is applied). Sandbox accounts need the sandbox running;
`--sandbox-inprocess` starts one in this process for the duration of the command.
Exit codes: 0 passed or no changes, 1 blocked by a gate, 2 failed or cancelled.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from iac.pipeline import PipelineStatus, format_report, run_pipeline
from iac.spec import SpecError, build_spec

# A spec for the smallest curated stack; the README shows this same text.
EXAMPLE_SPEC = {
    "stack": "static_bucket",
    "parameters": {"bucket_name": "demo-team-assets", "versioning_enabled": True},
    "tags": {"Team": "web"},
    "region": "ap-south-1",
}


class Command(BaseCommand):
    help = "Render, gate and plan a composition spec against an AWS account (sandbox or real)."

    def add_arguments(self, parser):
        parser.add_argument("spec", nargs="?", help="JSON file: stack, parameters, tags (optionally region)")
        parser.add_argument("--example", action="store_true", help="print an example SPEC.json and exit")
        parser.add_argument("--account", help="AWS account name within the tenant")
        parser.add_argument("--tenant", help="tenant slug")
        parser.add_argument("--config", help="config name (default: the account's only config)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--workdir", help="work dir (default: a new dir under GANTRY_WORK_ROOT/cli)")
        parser.add_argument("--budget", help='request budget, e.g. "₹500/day" or "$200/month"')
        parser.add_argument(
            "--sandbox-inprocess", action="store_true", help="start an embedded sandbox in this process"
        )

    def handle(self, *args, **options):
        from iac.gates.cost import Budget
        from tenants.models import AwsAccount, Config, Tenant

        if options["example"]:
            self.stdout.write(json.dumps(EXAMPLE_SPEC, indent=2))
            return
        if not (options["spec"] and options["account"] and options["tenant"]):
            raise CommandError(
                "pass SPEC.json with --tenant and --account (or --example for a spec to start from)"
            )
        try:
            request = json.loads(Path(options["spec"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {options['spec']}: {exc}") from exc
        if not isinstance(request, dict) or "stack" not in request:
            raise CommandError('the spec file must be a JSON object with at least "stack"')
        unknown = set(request) - {"stack", "parameters", "tags", "region"}
        if unknown:
            raise CommandError(f"unexpected key(s) in the spec file: {', '.join(sorted(unknown))}")

        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        account = AwsAccount.objects.filter(tenant=tenant, name=options["account"]).first()
        if account is None:
            raise CommandError(f"no account {options['account']!r} in tenant {tenant.slug!r}")
        configs = Config.objects.filter(tenant=tenant, account=account)
        if options["config"]:
            config = configs.filter(name=options["config"]).first()
            if config is None:
                raise CommandError(f"no config {options['config']!r} for account {account.name!r}")
        else:
            found = list(configs[:2])
            if len(found) != 1:
                names = ", ".join(configs.values_list("name", flat=True)) or "none"
                raise CommandError(f"pass --config (configs for {account.name!r}: {names})")
            config = found[0]
        budget = None
        if options["budget"]:
            try:
                budget = Budget.parse(options["budget"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc

        server = None
        previous_endpoint = settings.GANTRY_SANDBOX_ENDPOINT
        if options["sandbox_inprocess"]:
            from iac import sandbox
            from tenants.aws import clear_cache

            server, endpoint = sandbox.start_threaded()
            settings.GANTRY_SANDBOX_ENDPOINT = endpoint
            clear_cache()
        try:
            try:
                spec = build_spec(
                    request["stack"],
                    request.get("parameters") or {},
                    account=account,
                    config=config,
                    tags=request.get("tags") or {},
                    region=request.get("region"),
                )
            except SpecError as exc:
                raise CommandError(f"invalid spec: {exc}") from exc
            workdir = Path(options["workdir"]) if options["workdir"] else _new_workdir(tenant.slug)
            result = run_pipeline(
                spec,
                account=account,
                config=config,
                workdir=workdir,
                request_budget=budget,
                on_line=None if options["json"] else self._echo,
            )
        finally:
            if server is not None:
                from tenants.aws import clear_cache

                server.stop()
                settings.GANTRY_SANDBOX_ENDPOINT = previous_endpoint
                clear_cache()

        if options["json"]:
            data = result.to_dict()
            data["plan_text"] = result.plan_text
            cost = result.gate("cost")
            data["cost"] = cost.details if cost else None
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            self.stdout.write(
                format_report(result, title=f"iac_plan {spec.stack} → {account.name}/{config.name}")
            )
            if result.plan_text:
                self.stdout.write(result.plan_text)
        if result.status == PipelineStatus.BLOCKED:
            raise CommandError(f"blocked by the {result.blocked_by} gate", returncode=1)
        if result.status not in (PipelineStatus.PASSED, PipelineStatus.NO_CHANGES):
            raise CommandError(result.error or result.status, returncode=2)

    def _echo(self, line: str) -> None:
        if self.verbosity >= 2:
            self.stderr.write(line)


def _new_workdir(tenant_slug: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(settings.GANTRY_WORK_ROOT) / "cli" / f"{tenant_slug}-{stamp}-{secrets.token_hex(3)}"
