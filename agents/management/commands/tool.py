"""Call one registered tool as a member: ``manage.py tool NAME --tenant SLUG --user EMAIL [--config NAME]
--args JSON [--json]``; ``manage.py tool --list`` lists the tools.

The call goes through `agents.mcp.registry.invoke`, the function the MCP server calls: the same argument
validation, the user's role in that tenant (as a token of theirs with that role would carry), the same
config grants and one audit event per call. Unnamed, the config is the one the user's portal session
starts on. A tool error prints `{"error": {code, message, details}}` on stdout and exits 1.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.management.cli import as_json, as_text, tenant_by_slug, user_by_email
from agents.mcp.registry import ConfigArgs, ToolFailure, ToolSpec, all_tools, invoke
from tenants.selectors import session_start_config
from tenants.tokens import TokenIdentity, TokenInvalid, member_identity

TRANSPORT = "cli"


class Command(BaseCommand):
    help = "Call a registered tool as a member of a tenant (or --list the tools)."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the tool's name (see --list)")
        parser.add_argument("--list", action="store_true", help="list the tools and exit")
        parser.add_argument("--tenant", help="the tenant's slug")
        parser.add_argument("--user", help="the email of the member to act as")
        parser.add_argument("--config", help="config name or id (default: the user's portal config)")
        # `args` is Django's own option name (positional arguments), so the JSON lands in `tool_args`.
        parser.add_argument(
            "--args", dest="tool_args", default="{}", help="the tool's arguments as a JSON object"
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args, **options):
        tools = all_tools()
        if options["list"]:
            self._list(tools, as_json_output=options["json"])
            return
        name = (options["name"] or "").strip()
        if not name:
            raise CommandError("Name a tool (manage.py tool --list shows them).")
        spec = tools.get(name)
        if spec is None:
            raise CommandError(f"Unknown tool {name!r}; manage.py tool --list shows them.")
        arguments = _arguments(options["tool_args"])
        identity = _identity(options["tenant"], options["user"])
        arguments = _with_config(spec, arguments, identity, options["config"])
        try:
            result = invoke(identity, name, arguments, transport=TRANSPORT)
        except ToolFailure as failure:
            self.stdout.write(as_json({"error": failure.to_dict()}))
            raise CommandError(f"{name} failed ({failure.code}): {failure.message}") from None
        self.stdout.write(as_json(result) if options["json"] else as_text(result))

    def _list(self, tools: dict[str, ToolSpec], *, as_json_output: bool) -> None:
        rows = [
            {
                "name": spec.name,
                "least_role": spec.least_role,
                "kind": "read-only" if spec.read_only else "mutating",
                "description": _first_sentence(spec.description),
            }
            for spec in tools.values()
        ]
        if as_json_output:
            self.stdout.write(as_json(rows))
            return
        width = max(len(row["name"]) for row in rows)
        for row in rows:
            self.stdout.write(
                f"{row['name']:<{width}}  {row['least_role']:<8}  {row['kind']:<9}  {row['description']}"
            )


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + ("." if dot else "")


def _arguments(raw: str) -> dict[str, Any]:
    try:
        arguments = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise CommandError(f"--args is not valid JSON: {exc.msg} at character {exc.pos}.") from None
    if not isinstance(arguments, dict):
        raise CommandError('--args must be a JSON object, e.g. {"run_id": 12}.')
    return arguments


def _identity(slug: str | None, email: str | None) -> TokenIdentity:
    tenant, user = tenant_by_slug(slug), user_by_email(email)
    try:
        return member_identity(user, tenant)
    except TokenInvalid as exc:
        raise CommandError(exc.message) from None


def _with_config(
    spec: ToolSpec, arguments: dict[str, Any], identity: TokenIdentity, config: str | None
) -> dict[str, Any]:
    """--config goes into the tool's `config` argument; a tool that acts on a config and is not told
    which gets the user's portal config, so the command does what the portal would."""
    if "config" not in spec.args.model_fields:
        if config:
            raise CommandError(f"{spec.name} takes no config.")
        return arguments
    if config and arguments.get("config") not in (None, "", config):
        raise CommandError("Give the config once: --config or a config in --args, not both.")
    if config:
        return {**arguments, "config": config}
    if issubclass(spec.args, ConfigArgs) and arguments.get("config") in (None, ""):
        start = session_start_config(identity.user, identity.tenant)
        if start is not None:
            return {**arguments, "config": str(start.pk)}
    return arguments
