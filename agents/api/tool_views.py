"""REST families over the tool registry: an endpoint names a tool, and the request's identity (its token,
or the signed-in member) calls it through `registry.invoke` — the same function, role check and audit as
MCP and `manage.py tool`. A tool's failure comes back in the API's one error format."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from agents.mcp.registry import ToolFailure, invoke
from portal.api.views import TenantAPIView
from tenants.tokens import TokenIdentity

STATUS = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    "not_found": status.HTTP_404_NOT_FOUND,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "conflict": status.HTTP_409_CONFLICT,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
    "aws_error": status.HTTP_502_BAD_GATEWAY,
}


class ToolFailed(exceptions.APIException):
    def __init__(self, failure: ToolFailure) -> None:
        self.status_code = STATUS.get(failure.code, status.HTTP_500_INTERNAL_SERVER_ERROR)
        code = "validation_error" if failure.code == "invalid" else failure.code
        super().__init__({"message": failure.message, **failure.details}, code=code)
        self.default_code = code


class ToolView(TenantAPIView):
    """POST bodies (or GET query parameters) are the tool's arguments."""

    tool_name = ""
    role_checked_after_lookup = True  # the tool checks the role after its own scoped lookups (404 first)

    def call(self, arguments: dict[str, Any], *, created: bool = False) -> Response:
        identity = TokenIdentity(
            token=self.ctx.token, user=self.ctx.user, tenant=self.ctx.tenant, role=self.ctx.role
        )
        try:
            result = invoke(identity, self.tool_name, arguments, transport="rest")
        except ToolFailure as failure:
            raise ToolFailed(failure) from None
        return Response(result, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _body(request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return dict(request.data)


class OpsRunView(ToolView):
    """Plan an operation: `command` in plain words, or `action` + `params` + `targets` for one catalogue
    action. The answer is the run with its action plan; nothing runs before a person approves it."""

    @extend_schema(operation_id="ops_run", summary="Plan an operation on running resources", request=dict)
    def post(self, request):
        body = _body(request)
        if "command" in body:
            self.tool_name = "ops_request"
            arguments = {"text": body.pop("command"), **body}
        else:
            self.tool_name = "ops_run"
            arguments = body
        return self.call(arguments, created=True)


class OpsStatusView(ToolView):
    tool_name = "ops_status"

    @extend_schema(
        operation_id="ops_status",
        summary="An operations run: status, per-action results, logs",
        parameters=[OpenApiParameter("run_id", int, required=True)],
    )
    def get(self, request):
        raw = request.query_params.get("run_id", "")
        if not raw.isdigit():
            raise exceptions.ValidationError({"run_id": ["Give the run's id as a number."]})
        return self.call({"run_id": int(raw)})


class OpsCancelView(ToolView):
    tool_name = "ops_cancel"

    @extend_schema(
        operation_id="ops_cancel", summary="Cancel an operations run before it applies", request=dict
    )
    def post(self, request):
        return self.call(_body(request))
