"""Blueprints: the platform's and the tenant's own, as the library page lists them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from blueprints import selectors
from blueprints.models import Blueprint
from portal.api.pagination import ByNamePagination
from portal.api.views import TenantAPIView

from . import serializers as s


class BlueprintScopeMixin:
    model = Blueprint
    pagination_class = ByNamePagination

    def scope(self):
        return selectors.blueprints_for(self.ctx.user, tenant=self.ctx.tenant).select_related("tenant")


class BlueprintListView(BlueprintScopeMixin, TenantAPIView):
    serializer_class = s.BlueprintSerializer

    @extend_schema(
        operation_id="blueprints_list",
        responses=s.BlueprintSerializer(many=True),
        summary="Blueprints you can reuse",
        parameters=[s.BlueprintFilterSerializer],
    )
    def get(self, request):
        filters = self.validated(s.BlueprintFilterSerializer, request.query_params)
        library = selectors.blueprint_library(
            self.ctx.user,
            tenant=self.ctx.tenant,
            query=filters.get("q", ""),
            stack=filters.get("stack", ""),
            status=filters.get("status", ""),
            scope=filters.get("scope", ""),
        )
        return self.paginated(library)


class BlueprintDetailView(BlueprintScopeMixin, TenantAPIView):
    serializer_class = s.BlueprintDetailSerializer

    @extend_schema(operation_id="blueprints_retrieve", summary="A blueprint with its versions")
    def get(self, request, pk: int):
        return Response(self.get_serializer(self.object).data)
