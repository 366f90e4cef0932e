from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from blueprints.models import Blueprint, BlueprintVersion


class BlueprintVersionSerializer(serializers.ModelSerializer):
    approved = serializers.SerializerMethodField()

    class Meta:
        model = BlueprintVersion
        fields = ["id", "number", "spec", "source_sha256", "approved", "approved_at", "created_at"]

    @extend_schema_field(serializers.BooleanField())
    def get_approved(self, version) -> bool:
        return version.approved_at is not None


class BlueprintSerializer(serializers.ModelSerializer):
    platform = serializers.BooleanField(source="is_platform", read_only=True)

    class Meta:
        model = Blueprint
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "stack",
            "status",
            "platform",
            "resource_types",
            "usage_count",
            "created_at",
            "updated_at",
        ]


class BlueprintDetailSerializer(BlueprintSerializer):
    parameter_schema = serializers.JSONField(read_only=True)
    defaults = serializers.JSONField(read_only=True)
    versions = serializers.SerializerMethodField()

    class Meta(BlueprintSerializer.Meta):
        fields = [*BlueprintSerializer.Meta.fields, "parameter_schema", "defaults", "versions"]

    @extend_schema_field(BlueprintVersionSerializer(many=True))
    def get_versions(self, blueprint):
        from blueprints.selectors import blueprint_versions

        return BlueprintVersionSerializer(blueprint_versions(blueprint), many=True).data


class BlueprintFilterSerializer(serializers.Serializer):
    """The library page's filters."""

    q = serializers.CharField(max_length=200, required=False, allow_blank=True)
    stack = serializers.CharField(max_length=32, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=["draft", "approved"], required=False)
    scope = serializers.ChoiceField(choices=["platform", "tenant"], required=False)
