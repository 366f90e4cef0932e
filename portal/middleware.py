"""Request id: taken from X-Request-ID when it is sane, else generated; echoed on the response."""

from __future__ import annotations

import re
import uuid

from portal import request_context

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_context.bind(
            request_context.RequestContext(request_id=request.request_id, ip_address=client_ip(request))
        )
        try:
            response = self.get_response(request)
        finally:
            request_context.reset(token)
        response["X-Request-ID"] = request.request_id
        return response
