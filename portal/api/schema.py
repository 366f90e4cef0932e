"""OpenAPI additions: the shared error body, and the error responses every operation can give."""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string", "example": "not_found"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
                "request_id": {"type": "string", "nullable": True},
            },
        }
    },
}

COMMON_ERRORS = {
    "400": "Invalid input; `details` names each field.",
    "401": "No valid credentials (a missing, unknown, revoked or expired token).",
    "403": "Authenticated, but the role (or the token's role) does not allow this.",
    "404": "Not found in your tenant (another tenant's ids are never revealed).",
    "405": "Method not allowed.",
    "406": "Not acceptable: the API answers in JSON.",
    "415": "Unsupported media type: send JSON.",
    "429": "Too many requests; retry after the `Retry-After` seconds.",
}
MUTATING_ERRORS = {"409": "The resource's state does not allow this (e.g. an illegal run transition)."}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the error body on every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON_ERRORS)
            if method in {"post", "put", "patch", "delete"}:
                errors.update(MUTATING_ERRORS)
            for status_code, description in errors.items():
                responses.setdefault(
                    status_code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
