"""The REST API's shared machinery: token authentication, the request's tenant context, role checks,
cursor pagination, the one error format, per-token throttling and the OpenAPI additions."""
