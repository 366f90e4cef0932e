"""The streamable HTTP transport: bearer-token authentication and the ASGI app mounted at /mcp.

Every HTTP request to /mcp must carry `Authorization: Bearer <Gantry API token>`; without a valid one it
gets 401 and never reaches the MCP session. The authenticated identity rides on the ASGI scope of that
request, where the tool calls it carries pick it up (`server.build_server`). The token's principal is
also handed to the SDK as the request's user, so an MCP session can only be continued with the token
that opened it.
"""

from __future__ import annotations

import json
import re
import uuid

import anyio.to_thread
from django.conf import settings
from django.db import close_old_connections
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from tenants.tokens import TokenIdentity, TokenInvalid, token_authenticate

from .registry import ToolFailure
from .server import build_server

MOUNT_PATH = "/mcp"
IDENTITY_KEY = "gantry.mcp.identity"
REQUEST_ID_KEY = "gantry.request_id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")  # as portal.middleware accepts X-Request-ID


def http_identity(ctx) -> TokenIdentity:
    """The identity the bearer middleware authenticated for the HTTP request carrying this call."""
    request = ctx.request
    identity = request.scope.get(IDENTITY_KEY) if request is not None else None
    if identity is None:
        raise ToolFailure("Authentication required.", code="unauthenticated")
    return identity


def _authenticate(raw: str) -> TokenIdentity:
    close_old_connections()
    try:
        return token_authenticate(raw)
    finally:
        close_old_connections()


async def _deny(send: Send, description: str) -> None:
    body = json.dumps({"error": "invalid_token", "error_description": description}).encode()
    header = f'Bearer realm="gantry", error="invalid_token", error_description="{description}"'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", header.encode("latin-1", "replace")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BearerTokenAuth:
    """ASGI middleware: 401 unless the request presents a valid Gantry API token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, raw = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            await _deny(send, "Send Authorization: Bearer <Gantry API token>.")
            return
        try:
            identity = await anyio.to_thread.run_sync(_authenticate, raw.strip())
        except TokenInvalid as exc:
            await _deny(send, exc.message)
            return
        principal = AccessToken(
            token=identity.token.prefix,  # never the secret: the SDK keeps this for the session's life
            client_id=f"gantry-token-{identity.token.pk}",
            scopes=[identity.role],
            subject=str(identity.user.pk),
        )
        incoming = headers.get("x-request-id", "")
        scope = {
            **scope,
            "user": AuthenticatedUser(principal),
            "auth": AuthCredentials([identity.role]),
            IDENTITY_KEY: identity,
            REQUEST_ID_KEY: incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex,
        }
        await self.app(scope, receive, send)


def transport_security() -> TransportSecuritySettings:
    """DNS-rebinding protection with the hosts Django accepts (`*` switches it off, as it does Django's)."""
    hosts = [h.lstrip(".") for h in settings.ALLOWED_HOSTS]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []))
    for host in hosts:
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts + [f"{h}:*" for h in hosts],
        allowed_origins=origins,
    )


def build_http_app() -> ASGIApp:
    """The Starlette app serving MCP at MOUNT_PATH (its lifespan runs the SDK's session manager)."""
    server = build_server(http_identity, transport="http")
    app = server.streamable_http_app(streamable_http_path=MOUNT_PATH, transport_security=transport_security())
    app.add_middleware(BearerTokenAuth)
    return app


class McpMount:
    """Routes /mcp to the MCP app and everything else to Django; lifespan events go to the MCP app, which
    needs them to start its session manager (Django does not handle lifespan)."""

    def __init__(self, django_app: ASGIApp, mcp_app: ASGIApp | None = None) -> None:
        self.django_app = django_app
        self.mcp_app = mcp_app if mcp_app is not None else build_http_app()
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.mcp_app(scope, receive, self._watch_lifespan(send))
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == MOUNT_PATH or path.startswith(MOUNT_PATH + "/")):
            if not self.started:
                await _unavailable(send)
                return
            await self.mcp_app(scope, receive, send)
            return
        await self.django_app(scope, receive, send)

    def _watch_lifespan(self, send: Send) -> Send:
        async def watched(message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.started = True
            elif message["type"].startswith("lifespan.shutdown"):
                self.started = False
            await send(message)

        return watched


async def _unavailable(send: Send) -> None:
    body = b'{"error": "The MCP endpoint needs an ASGI server with lifespan support (uvicorn)."}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
