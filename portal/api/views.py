"""Base classes for API views: the tenant scope and the role check, in the order the invariants need.

An object endpoint first looks the object up among what the caller may see *in the request's tenant*
(else 404, whatever the role), then checks the role against the endpoint's action (else 403). Collection
endpoints check the role straight away. Views only read through `scope()` (a `for_user` queryset or a
selector) and only write through services.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from .context import ApiContext, api_context

MAX_ID = 2**63


class TenantAPIView(GenericAPIView):
    """`actions` maps an HTTP method to the least action it needs (default "view")."""

    model: type[Model] | None = None
    read_action = "view"  # what the lookup scope requires
    actions: dict[str, str] = {}
    # Endpoints naming an object in the body (iac/apply's run_id) look it up first and call
    # `self.ctx.require(...)` themselves, so another tenant's id is a 404 for every role.
    role_checked_after_lookup = False
    ctx: ApiContext
    object = None

    def required_action(self) -> str:
        return self.actions.get(self.request.method, "view")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, IsAuthenticated, throttles
        self.ctx = api_context(request)
        if self.lookup_url_kwarg_value() is not None:
            self.object = self.get_object()  # 404 before any role check
        if not self.role_checked_after_lookup:
            self.ctx.require(self.required_action())

    def lookup_url_kwarg_value(self):
        return self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)

    # --- reads ---------------------------------------------------------------------------------------

    def scope(self) -> QuerySet:
        """What the caller may see in the request's tenant; override to use a selector."""
        return self.model.objects.for_user(self.ctx.user, self.read_action).filter(tenant=self.ctx.tenant)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return self.model.objects.none()
        return self.scope()

    def get_object(self):
        value = self.lookup_url_kwarg_value()
        if isinstance(value, int) and not 0 < value < MAX_ID:
            raise NotFound("Not found.")  # beyond any id the database can hold
        return self.scope().get(**{self.lookup_field: value})  # DoesNotExist → 404

    def paginated(self, queryset: QuerySet, serializer_class=None, *, rows=None) -> Response:
        """One page of `queryset`. With `rows`, the queryset yields `.values()` dicts and `rows(page)`
        renders them (the read-only fast path of large lists); otherwise the serializer does."""
        page = self.paginate_queryset(queryset)
        if rows is not None:
            return self.get_paginated_response(rows(page))
        serializer_class = serializer_class or self.get_serializer_class()
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def validated(self, serializer_class, data=None) -> dict:
        serializer = serializer_class(
            data=self.request.data if data is None else data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
