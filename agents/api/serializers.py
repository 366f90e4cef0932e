from __future__ import annotations

from rest_framework import serializers

MAX_ID = 2**63 - 1


class IntentRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000, help_text="The request, in plain language.")
    config_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Default: the active config."
    )
    answers = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        default=dict,
        help_text="Answers to clarification questions, by field.",
    )


class QuestionSerializer(serializers.Serializer):
    field = serializers.CharField()
    question = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField())
    free = serializers.BooleanField(help_text="Whether a value outside the options is accepted.")
    hint = serializers.CharField(allow_blank=True)
    scope = serializers.CharField(allow_blank=True)


class SafetySerializer(serializers.Serializer):
    allowed = serializers.BooleanField(help_text="False when the agent refuses the request as stated.")
    refusals = serializers.ListField(child=serializers.CharField())
    regrets = serializers.ListField(child=serializers.DictField(), help_text="{code, message, severity}")


class IntentResultSerializer(serializers.Serializer):
    text = serializers.CharField()
    config_id = serializers.IntegerField()
    parser = serializers.CharField(allow_blank=True)
    understood = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    intent = serializers.DictField(allow_null=True)
    domain = serializers.CharField(allow_null=True, help_text="The classification of the request.")
    action = serializers.CharField(allow_null=True)
    agent = serializers.CharField(allow_blank=True, help_text="The agent the router chose.")
    answer = serializers.DictField(allow_null=True)
    questions = QuestionSerializer(many=True)
    answer_errors = serializers.DictField(child=serializers.CharField())
    commit = serializers.DictField(allow_null=True, help_text="What would be done: scope, cost, regrets.")
    safety = SafetySerializer()
    suggestions = serializers.ListField(child=serializers.DictField())
