"""What the console shows while a request is typed: nothing is saved, nothing is planned.

`request_preview(user=..., config=..., text=..., answers=...)` runs the parse path a new run uses
(`runs.services._understand`, so the preview never disagrees with what `run_create` will store), applies
any answers given inline, asks the router which agent takes it, builds the intent commit (with the rough
snapshot estimate) and ranks similar approved blueprints the user can see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from agents.aws.impact import preview_impact
from agents.clarification import ClarificationError, Question, apply_answers, questions_for
from agents.commit import IntentCommit, build_commit, snapshot_estimator
from agents.domains import AgentAnswer, AgentContext
from agents.intent import Intent
from agents.router import route

logger = logging.getLogger(__name__)


@dataclass
class RequestPreview:
    text: str
    intent: Intent | None = None
    parser: str = ""
    error: str = ""  # the request could not be understood at all
    answer: AgentAnswer | None = None
    questions: list[Question] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # accepted inline answers
    answer_errors: dict[str, str] = field(default_factory=dict)
    commit: IntentCommit | None = None
    suggestions: list[Any] = field(default_factory=list)  # blueprints.selectors.BlueprintMatch
    impact: dict[str, Any] | None = None  # an operation's targets, downtime and cost, resolved now

    @property
    def agent(self) -> str:
        return self.answer.agent if self.answer is not None else ""


def request_preview(*, user, config, text: str, answers: dict[str, str] | None = None) -> RequestPreview:
    """The preview of `text` for `user` on `config` (already checked usable by the caller)."""
    # The same parse step run_create uses; private to runs.services, shared on purpose so the two agree.
    from runs.services import _understand

    preview = RequestPreview(text=text)
    understood = _understand(text, config, tenant=config.tenant)
    if not understood["intent"]:
        preview.error = (understood.get("belief") or {}).get("error") or "I could not understand this yet."
        return preview
    intent = Intent.model_validate(understood["intent"])
    preview.parser = understood["parser"]
    given = {name: value for name, value in (answers or {}).items() if str(value).strip()}
    open_fields = {q.field for q in questions_for(intent, config=config)}
    for name, value in given.items():
        if name not in open_fields:
            continue
        try:
            intent = apply_answers(intent, {name: value}, config=config)
        except ClarificationError as exc:
            preview.answer_errors[name] = str(exc)
        else:
            preview.answers[name] = str(value)
    preview.intent = intent
    preview.questions = questions_for(intent, config=config)
    context = AgentContext.for_config(config, user=user, estimator=snapshot_estimator)
    try:
        preview.answer = route(intent, context)
        preview.commit = build_commit(intent, answer=preview.answer, config=config)
        source = preview.answer.run_source if preview.answer.status == "ready" else None
        if source and source["engine"] == "aws":
            preview.impact = preview_impact(config, user, source["source"])
    except Exception:  # a preview must never break the page the user is typing in
        logger.exception("building the request preview failed")
        preview.error = "The preview is unavailable right now; you can still submit the request."
    preview.suggestions = _suggestions(intent, user=user, tenant=config.tenant)
    return preview


def _suggestions(intent: Intent, *, user, tenant) -> list[Any]:
    try:
        from blueprints.selectors import similar_blueprints
    except ImportError:
        return []
    matches = similar_blueprints(intent, user=user, tenant=tenant, limit=3)
    # A blueprint that shares no resource type with the request is not "similar", whatever its text says.
    return [m for m in matches if m.resource_score > 0]
