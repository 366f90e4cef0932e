"""The MCP server on the SDK's low-level `Server`: it lists the registry's tools and routes every call to
`registry.invoke` with the identity of that call. The transports differ only in how the identity is
found (`IdentityResolver`): stdio re-authenticates the process's token on every call (a revoked token
stops working at once); HTTP takes what the bearer middleware authenticated for that very request.

Tools run on worker threads (Django's ORM is synchronous); each call gets its own request id, which the
audit event and the logs carry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import mcp_types as types
from django.db import close_old_connections
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from portal import request_context
from tenants.tokens import TokenIdentity, TokenInvalid, token_authenticate

from .registry import ToolFailure, all_tools, invoke

SERVER_NAME = "gantry"
INSTRUCTIONS = (
    "Gantry turns plain-language AWS change requests into reviewed Terraform. Typical flow: nl_intent "
    "(check the wording), generate (create a run), plan (wait for its plan), plan_summary and validate "
    "(review), request_apply (ask approvers). `request` takes anything a user would type in the console and "
    "answers as Gantry's agent for it. Agents never approve or apply; people do, in Gantry. "
    "Read-only AWS tools look at the account behind a config."
)

IdentityResolver = Callable[[ServerRequestContext[Any]], TokenIdentity]


def stdio_identity(raw_token: str) -> IdentityResolver:
    """The identity of a stdio session: the token given to `manage.py mcp`, checked again on each call."""

    def resolve(ctx: ServerRequestContext[Any]) -> TokenIdentity:
        try:
            return token_authenticate(raw_token)
        except TokenInvalid as exc:
            raise ToolFailure(exc.message, code="unauthenticated") from None

    return resolve


def _tool_definitions() -> list[types.Tool]:
    return [
        types.Tool(
            name=spec.name,
            description=spec.description,
            input_schema=spec.input_schema(),
            annotations=types.ToolAnnotations(read_only_hint=spec.read_only, destructive_hint=False),
        )
        for spec in all_tools().values()
    ]


def tool_result(payload: dict[str, Any]) -> types.CallToolResult:
    text = json.dumps(payload, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=json.loads(text)
    )


def tool_error(failure: ToolFailure) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{failure.code}: {failure.message}")],
        structured_content={"error": failure.to_dict()},
        is_error=True,
    )


def _call_context(ctx: ServerRequestContext[Any]) -> request_context.RequestContext:
    """Request id and client address of the HTTP request carrying this call (a fresh id on stdio)."""
    request = ctx.request
    request_id, ip = "", None
    if request is not None:
        request_id = request.scope.get("gantry.request_id", "")
        ip = (request.scope.get("client") or (None,))[0]
    return request_context.RequestContext(request_id=request_id or uuid.uuid4().hex, ip_address=ip)


def build_server(resolve_identity: IdentityResolver, *, transport: str) -> Server:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_tool_definitions())

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name, arguments = params.name, dict(params.arguments or {})
        call_context = _call_context(ctx)

        def run() -> dict[str, Any]:
            bound = request_context.bind(call_context)
            close_old_connections()
            try:
                identity = resolve_identity(ctx)
                return invoke(identity, name, arguments, transport=transport)
            finally:
                close_old_connections()
                request_context.reset(bound)

        try:
            payload = await anyio.to_thread.run_sync(run)
        except ToolFailure as failure:
            return tool_error(failure)
        return tool_result(payload)

    return Server(
        SERVER_NAME,
        version="1",
        title="Gantry",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio(raw_token: str) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(stdio_identity(raw_token), transport="stdio")
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
