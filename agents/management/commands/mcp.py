"""Serve Gantry's MCP tools over stdio: ``manage.py mcp --token gty_…`` (or ``GANTRY_MCP_TOKEN``).

An MCP client (Claude Desktop, an IDE, the SDK's `stdio_client`) starts this command and talks JSON-RPC on
its stdin/stdout; logs go to stderr. The token decides the tenant, the user and the role; it is checked
once at start (a bad token exits with an error) and again on every call, so revoking it takes effect
immediately. Streamable HTTP is served by the web process at /mcp instead.
"""

from __future__ import annotations

import os

import anyio
from django.core.management.base import BaseCommand, CommandError

from tenants.tokens import TokenInvalid, token_authenticate

TOKEN_ENV = "GANTRY_MCP_TOKEN"  # noqa: S105 (the variable's name, not a secret)


class Command(BaseCommand):
    help = "Serve the MCP tools over stdio for one API token."

    def add_arguments(self, parser):
        parser.add_argument("--token", help=f"a Gantry API token (default: ${TOKEN_ENV})")

    def handle(self, *args, **options):
        raw = (options.get("token") or os.environ.get(TOKEN_ENV) or "").strip()
        if not raw:
            raise CommandError(f"Give an API token with --token or {TOKEN_ENV}.")
        try:
            identity = token_authenticate(raw)
        except TokenInvalid as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Gantry MCP (stdio) for {identity.user.email} in {identity.tenant.slug} as {identity.role}"
        )
        from agents.mcp.server import serve_stdio

        anyio.run(serve_stdio, raw)
