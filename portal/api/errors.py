"""One error format for every API failure:

    {"error": {"code": "not_found", "message": "…", "details": {…}, "request_id": "…"}}

Validation errors, 401/403/404/405/429, and the services' own exceptions (an illegal run transition is a
409, a stale plan a 409, Django's ValidationError a 400) all come out this way. Anything unexpected is
logged with the request id and answered in the same shape, never as an HTML page.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from runs.approvals import RunStale
from runs.artifacts import ArtifactIntegrityError
from runs.states import IllegalTransition

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class ServerError(exceptions.APIException):
    default_code = "internal_error"
    default_detail = "Something went wrong on our side; quote the request id when you report it."


CODES = {"invalid": "validation_error", "error": "internal_error"}


def _django_validation(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        details = {field or "non_field_errors": msgs for field, msgs in exc.message_dict.items()}
        details = {("non_field_errors" if f == "__all__" else f): m for f, m in details.items()}
        return exceptions.ValidationError(details)
    return exceptions.ValidationError({"non_field_errors": exc.messages})


def translate(exc: Exception) -> exceptions.APIException:
    """Map a service or Django exception onto the API exception that says what happened."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return exceptions.NotFound("Not found.")
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        return _django_validation(exc)
    if isinstance(exc, RunStale):
        return Conflict({"reasons": exc.reasons, "message": str(exc)}, code="stale")
    if isinstance(exc, IllegalTransition):
        return Conflict(
            {"from_status": exc.from_status, "to_status": exc.to_status, "message": str(exc)},
            code="illegal_transition",
        )
    if isinstance(exc, ArtifactIntegrityError):
        return Conflict(str(exc), code="artifact_integrity")
    if isinstance(exc, IntegrityError):
        return Conflict("The change conflicts with existing data (a duplicate, most likely).")
    return ServerError()


def _message_and_details(exc: exceptions.APIException) -> tuple[str, dict]:
    """A one-line message for people, and the structured details for programs."""
    detail = exc.detail
    if isinstance(detail, list):
        detail = {"non_field_errors": detail}
    if not isinstance(detail, dict):
        return str(detail), {}
    if "message" in detail and not isinstance(detail["message"], (list, dict)):
        return str(detail["message"]), {k: v for k, v in detail.items() if k != "message"}
    field, first = next(iter(detail.items()), ("", ""))
    while isinstance(first, (list, dict)) and first:
        first = first[0] if isinstance(first, list) else next(iter(first.values()))
    if not first:
        return "Invalid input.", detail
    return (str(first) if field == "non_field_errors" else f"{field}: {first}"), detail


def _code(exc: exceptions.APIException) -> str:
    detail = exc.detail
    code = getattr(detail, "code", None) if not isinstance(detail, (dict, list)) else None
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    if isinstance(exc, Conflict) and isinstance(detail, dict):
        codes = {getattr(v, "code", None) for v in detail.values()}
        code = next((c for c in codes if c and c != "conflict"), "conflict")
    code = code or exc.default_code
    return CODES.get(code, code)


def error_body(code: str, message: str, details: dict | None, request_id: str | None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}, "request_id": request_id}}


def api_exception_handler(exc, context):
    request = context.get("request")
    request_id = getattr(request, "request_id", None) or getattr(
        getattr(request, "_request", None), "request_id", None
    )
    api_exc = translate(exc)
    if isinstance(api_exc, ServerError):
        logger.error("unhandled API error [%s]", request_id, exc_info=exc)
    headers = {}
    if getattr(api_exc, "auth_header", None):
        headers["WWW-Authenticate"] = api_exc.auth_header
    if getattr(api_exc, "wait", None):
        headers["Retry-After"] = f"{int(api_exc.wait)}"
    message, details = _message_and_details(api_exc)
    set_rollback()
    return Response(
        error_body(_code(api_exc), message, details, request_id),
        status=api_exc.status_code,
        headers=headers,
    )


@csrf_exempt  # nothing happens here; a CSRF refusal would only hide the 404 behind an HTML 403
def not_found_view(request, *args, **kwargs):
    """Unknown paths under /api/ answer in the API's error format, not with the portal's HTML 404."""
    body = error_body("not_found", "No API endpoint here.", {}, getattr(request, "request_id", None))
    return JsonResponse(body, status=404)
