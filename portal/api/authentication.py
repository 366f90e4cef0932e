"""Bearer personal access tokens (`Authorization: Bearer gty_…`); the browser uses the session instead."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from tenants.tokens import TokenInvalid, token_authenticate


class BearerTokenAuthentication(BaseAuthentication):
    """Sets `request.user` to the token's owner and `request.auth` to its `TokenIdentity`."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # not ours: the session (or nothing) decides
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header; use 'Bearer gty_…'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token contains characters a Gantry token never has.") from None
        try:
            identity = token_authenticate(raw)
        except TokenInvalid as exc:
            raise AuthenticationFailed(exc.message) from None
        return identity.user, identity

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="gantry"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "gty_…",
            "description": "A personal access token from Settings → API tokens, scoped to one tenant.",
        }
