"""nl/intent: parse, classify and safety-check a request without creating anything.

It runs the console's preview (`agents.preview.request_preview`), which uses the very parse step
`runs.services.run_create` stores, so what the API says here is what a run would be built from."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from agents.preview import request_preview
from portal.api.views import TenantAPIView
from tenants.selectors import usable_configs

from . import serializers as s


class IntentView(TenantAPIView):
    """Operators and up (the role that may submit the request); it may call the language model."""

    actions = {"POST": "run.create"}
    role_checked_after_lookup = True  # the config named in the body first: another tenant's is a 404
    serializer_class = s.IntentResultSerializer

    @extend_schema(
        operation_id="nl_intent",
        summary="Parse, classify and safety-check a request; nothing is created",
        request=s.IntentRequestSerializer,
        responses=s.IntentResultSerializer,
    )
    def post(self, request):
        data = self.validated(s.IntentRequestSerializer)
        config = self.ctx.config_for(data.get("config_id"))
        self.ctx.require("run.create")
        if not usable_configs(self.ctx.user, self.ctx.tenant).filter(pk=config.pk).exists():
            self.ctx.require("config.use")
            raise PermissionDenied(f"Config {config.name} is restricted; you have not been granted it.")
        preview = request_preview(
            user=self.ctx.user, config=config, text=data["text"], answers=data["answers"]
        )
        return Response(s.IntentResultSerializer(_result(preview, config)).data)


def _result(preview, config) -> dict:
    intent, answer, commit = preview.intent, preview.answer, preview.commit
    refusals = [*(answer.refusals if answer else []), *(commit.refusals if commit else [])]
    return {
        "text": preview.text,
        "config_id": config.pk,
        "parser": preview.parser,
        "understood": intent is not None,
        "error": preview.error,
        "intent": intent.to_dict() if intent else None,
        "domain": intent.domain.value if intent else None,
        "action": intent.action.value if intent else None,
        "agent": preview.agent,
        "answer": answer.to_dict() if answer else None,
        "questions": [q.to_dict() for q in preview.questions],
        "answer_errors": preview.answer_errors,
        "commit": commit.to_dict() if commit else None,
        "safety": {
            "allowed": intent is not None and not refusals,
            "refusals": list(dict.fromkeys(refusals)),
            "regrets": [r.to_dict() for r in commit.regrets] if commit else [],
        },
        "suggestions": [_suggestion(m) for m in preview.suggestions],
    }


def _suggestion(match) -> dict:
    return match.to_dict() if hasattr(match, "to_dict") else dict(match)
