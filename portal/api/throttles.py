"""Per-caller rate limits: one bucket per token, per session user, or per anonymous address.

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (`token`, `session`, `anon`), which the
settings read from the environment; the counters live in the shared cache, so every web process counts
against the same bucket.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tenants.tokens import TokenIdentity


class TokenRateThrottle(SimpleRateThrottle):
    def __init__(self):
        """The scope (and so the rate) depends on the caller; it is chosen per request."""

    def allow_request(self, request, view):
        if isinstance(request.auth, TokenIdentity):
            self.scope, self.ident = "token", f"token-{request.auth.token.pk}"
        elif request.user and request.user.is_authenticated:
            self.scope, self.ident = "session", f"user-{request.user.pk}"
        else:
            self.scope, self.ident = "anon", self.get_ident(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        # Read at each request (not captured at import), so a settings change takes effect.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(
                f"Set REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'][{self.scope!r}]."
            ) from None

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}
