"""Serializers for the caller, configs and the active-config choice."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.api.serializers import ReadModelSerializer
from tenants.models import ApiToken, AwsAccount, Config, Environment, Tenant


class TenantRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "slug", "name"]


class TokenRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "role", "expires_at", "last_used_at"]


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    tenant = TenantRefSerializer()
    role = serializers.CharField(help_text="The effective role: a token's is never above your membership's.")
    auth = serializers.ChoiceField(choices=["token", "session"])
    token = TokenRefSerializer(allow_null=True)


class AccountRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = AwsAccount
        fields = ["id", "name", "account_id", "mode", "default_region"]


class ConfigRefSerializer(ReadModelSerializer):
    class Meta:
        model = Config
        fields = ["id", "name", "env"]


class ConfigSerializer(serializers.ModelSerializer):
    account = AccountRefSerializer(read_only=True)
    region = serializers.CharField(read_only=True)
    usable = serializers.SerializerMethodField(help_text="Whether you may plan with this config.")

    class Meta:
        model = Config
        fields = [
            "id",
            "name",
            "env",
            "workspace",
            "account",
            "region",
            "region_override",
            "default_tags",
            "kms_key_arn",
            "vpc_preferences",
            "restricted",
            "version",
            "usable",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.BooleanField())
    def get_usable(self, config) -> bool:
        return config.pk in self.context.get("usable_ids", ())


class VpcPreferencesSerializer(serializers.Serializer):
    cidr = serializers.CharField(required=False, max_length=18, help_text="e.g. 10.20.0.0/16")
    az_count = serializers.IntegerField(required=False, min_value=1, max_value=6)

    def validate_cidr(self, value: str) -> str:
        import ipaddress

        try:
            network = ipaddress.ip_network(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if not 16 <= network.prefixlen <= 24:
            raise serializers.ValidationError("Use a prefix between /16 and /24.")
        return value


class ConfigWriteSerializer(serializers.Serializer):
    """What an admin may set; the service validates the rest (account in tenant, region allowed)."""

    name = serializers.CharField(max_length=80)
    account_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    env = serializers.ChoiceField(choices=Environment.choices, default=Environment.DEV)
    workspace = serializers.RegexField(r"^[a-z0-9][a-z0-9-]{0,62}$", max_length=63)
    region_override = serializers.RegexField(
        r"^[a-z]{2}(-gov)?-[a-z]+-\d$", max_length=32, required=False, allow_blank=True
    )
    default_tags = serializers.DictField(
        child=serializers.CharField(max_length=256, allow_blank=True), required=False
    )
    kms_key_arn = serializers.CharField(max_length=2048, required=False, allow_blank=True)
    vpc_preferences = VpcPreferencesSerializer(required=False)
    restricted = serializers.BooleanField(required=False, default=False)

    def validate_default_tags(self, tags: dict) -> dict:
        for key in tags:
            if not key.strip() or len(key) > 128:
                raise serializers.ValidationError("Tag keys are 1 to 128 characters.")
        return tags


class ConfigSelectSerializer(serializers.Serializer):
    config_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class ActiveConfigSerializer(serializers.Serializer):
    config = ConfigSerializer(allow_null=True)
    persisted = serializers.BooleanField(
        help_text="True when stored as the browser session's active config; token clients pass "
        "config_id on each request instead."
    )
