"""The caller (`me`), configs (read for members, write for admins) and the active config."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.response import Response

from portal.api.pagination import ByNamePagination
from portal.api.views import TenantAPIView
from tenants import context as session_context
from tenants import selectors, services
from tenants.models import Config, Membership

from . import serializers as s


def actor_membership(ctx) -> Membership:
    """The caller's membership row in the request's tenant (services take it as the actor)."""
    return Membership.objects.select_related("tenant", "user").get(user=ctx.user, tenant=ctx.tenant)


class MeView(TenantAPIView):
    serializer_class = s.MeSerializer

    @extend_schema(operation_id="me", summary="Who is calling, in which tenant, with which role")
    def get(self, request):
        ctx = self.ctx
        return Response(
            s.MeSerializer(
                {
                    "email": ctx.user.email,
                    "tenant": ctx.tenant,
                    "role": ctx.role,
                    "auth": "token" if ctx.via_token else "session",
                    "token": ctx.token,
                }
            ).data
        )


class ConfigMixin:
    model = Config
    serializer_class = s.ConfigSerializer

    def scope(self):
        return selectors.visible_configs(self.ctx.user, self.ctx.tenant)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self, "ctx"):
            usable = (
                selectors.usable_configs(self.ctx.user, self.ctx.tenant)
                if self.ctx.allows("config.use")
                else []
            )
            context["usable_ids"] = {c.pk for c in usable}
        return context

    def write_fields(self, data: dict) -> dict:
        fields = dict(data)
        if "account_id" in fields:
            accounts = selectors.visible_accounts(self.ctx.user, self.ctx.tenant)
            fields["account"] = accounts.get(pk=fields.pop("account_id"))  # DoesNotExist → 404
        if "vpc_preferences" in fields:
            fields["vpc_preferences"] = {k: v for k, v in fields["vpc_preferences"].items() if v}
        return fields


class ConfigListView(ConfigMixin, TenantAPIView):
    actions = {"POST": "config.manage"}
    role_checked_after_lookup = True  # POST names an account: another tenant's is a 404 for every role
    pagination_class = ByNamePagination

    @extend_schema(
        operation_id="configs_list", responses=s.ConfigSerializer(many=True), summary="Configs of your tenant"
    )
    def get(self, request):
        return self.paginated(self.scope())

    @extend_schema(
        operation_id="configs_create",
        summary="Create a config (admin)",
        request=s.ConfigWriteSerializer,
        responses={201: s.ConfigSerializer},
    )
    def post(self, request):
        fields = self.write_fields(self.validated(s.ConfigWriteSerializer))
        self.ctx.require("config.manage")
        config = services.config_create(actor_membership=actor_membership(self.ctx), **fields)
        return Response(self.get_serializer(config).data, status=status.HTTP_201_CREATED)


class ConfigDetailView(ConfigMixin, TenantAPIView):
    actions = {"PATCH": "config.manage", "DELETE": "config.manage"}
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(operation_id="configs_retrieve", summary="One config")
    def get(self, request, pk: int):
        return Response(self.get_serializer(self.object).data)

    @extend_schema(
        operation_id="configs_update",
        summary="Change a config (admin); every change bumps its version",
        request=s.ConfigWriteSerializer(partial=True),
        responses={200: s.ConfigSerializer},
    )
    def patch(self, request, pk: int):
        data = self.write_fields(self._partial(s.ConfigWriteSerializer))
        with transaction.atomic():
            config = services.config_update(
                actor_membership=actor_membership(self.ctx), config_id=self.object.pk, **data
            )
        config.refresh_from_db()
        return Response(self.get_serializer(config).data)

    @extend_schema(operation_id="configs_destroy", summary="Delete a config (admin)", responses={204: None})
    def delete(self, request, pk: int):
        services.config_delete(actor_membership=actor_membership(self.ctx), config_id=self.object.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _partial(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ConfigSelectView(ConfigMixin, TenantAPIView):
    """The active config: a browser session stores it (audited); a token client gets it validated back
    and passes `config_id` on its requests."""

    serializer_class = s.ActiveConfigSerializer
    pagination_class = None
    actions = {"POST": "view"}  # the usability check comes after the lookup, so other ids are 404

    @extend_schema(
        operation_id="configs_active", summary="The active config", responses=s.ActiveConfigSerializer
    )
    def get(self, request):
        config = self.ctx.session_config or (
            selectors.default_config(self.ctx.user, self.ctx.tenant)
            if self.ctx.allows("config.use")
            else None
        )
        return self._answer(config, persisted=config is not None and not self.ctx.via_token)

    @extend_schema(
        operation_id="configs_select",
        summary="Choose the active config",
        request=s.ConfigSelectSerializer,
        responses=s.ActiveConfigSerializer,
    )
    def post(self, request):
        config_id = self.validated(s.ConfigSelectSerializer)["config_id"]
        config = self.scope().filter(pk=config_id).first()
        if config is None:
            raise Config.DoesNotExist
        self.ctx.require("config.use")
        if not selectors.usable_configs(self.ctx.user, self.ctx.tenant).filter(pk=config.pk).exists():
            raise drf.PermissionDenied(f"Config {config.name} is restricted; you have not been granted it.")
        if self.ctx.via_token:
            return self._answer(config, persisted=False)
        session_context.switch(request._request, tenant_id=self.ctx.tenant.pk, config_id=config.pk)
        return self._answer(config, persisted=True)

    def _answer(self, config, *, persisted: bool) -> Response:
        data = {
            "config": s.ConfigSerializer(config, context=self.get_serializer_context()).data
            if config
            else None
        }
        return Response({**data, "persisted": persisted})
