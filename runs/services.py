"""State changes for runs. One function moves a run between states (`transition`); the services below are
what people (views, API, MCP) call, and the workers use `transition` plus the lease helpers.

Every service runs in one transaction, locks the run row (`select_for_update`), checks the move against
`runs.states.TRANSITIONS`, writes a RunEvent and an AuditEvent in that transaction and enqueues the next
task with `transaction.on_commit` (ids only). Another tenant's run id raises `Run.DoesNotExist` (404) and
changes nothing; a visible run the user's role (or the config's narrowing) does not allow acting on raises
PermissionDenied (403).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from tenants.models import Config, Membership
from tenants.roles import role_allows

from . import locks
from .audit import audit_record
from .engines import UnknownEngine, engine_for
from .models import Approval, Run, RunEngine, RunEvent, RunKind, WorkspaceLock
from .states import END_STATES, IN_FLIGHT, IllegalTransition, RunStatus, check_transition

logger = logging.getLogger(__name__)

S = RunStatus

# Statuses that tell people something: approvers (awaiting approval), the requester (the rest).
NOTIFY_ON = frozenset(
    {
        S.AWAITING_APPROVAL,
        S.APPROVED,
        S.REJECTED,
        S.APPLIED,
        S.FAILED,
        S.BLOCKED,
        S.STALE,
        S.EXPIRED,
        S.INTERRUPTED,
    }
)
# Leaving approval any way but forward voids the approvals given.
VOID_APPROVALS_ON = frozenset({S.SUPERSEDED, S.STALE, S.EXPIRED, S.CANCELLED})
# The plan activity is over: the workspace lock goes (unless a worker still holds the run).
RELEASE_LOCK_ON = frozenset({*END_STATES, S.AWAITING_APPROVAL, S.NEEDS_CLARIFICATION}) - {S.INTERRUPTED}

MAX_REQUEST_CHARS = 10_000


class UnexpectedStatus(IllegalTransition):
    """The run moved on before the caller got to it (a duplicate delivery, a race lost)."""


# --- settings ----------------------------------------------------------------------------------------


def approvals_required_for(env: str) -> int:
    table = {"prod": 2, **getattr(settings, "GANTRY_APPROVALS_REQUIRED", {})}
    return max(1, int(table.get(env, table.get("default", 1))))


def approval_window() -> timedelta:
    return timedelta(hours=float(getattr(settings, "GANTRY_APPROVAL_WINDOW_HOURS", 72)))


def lease_seconds() -> int:
    return int(getattr(settings, "GANTRY_RUN_LEASE_SECONDS", 120))


def lock_retry_seconds() -> int:
    return int(getattr(settings, "GANTRY_LOCK_RETRY_SECONDS", 30))


def change_ticket_required(env: str) -> bool:
    return env in set(getattr(settings, "GANTRY_CHANGE_TICKET_ENVS", ["prod"]))


# --- digests -----------------------------------------------------------------------------------------


def run_needs_ticket(run: Run) -> bool:
    """A change ticket is needed by the config's environment or by a policy on this run's plan."""
    return run.ticket_required or change_ticket_required(run.config.env)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def spec_digest(spec: dict) -> str:
    """The spec's sha256 over canonical JSON (the same digest `iac.spec.CompositionSpec.sha256` gives)."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


# --- the one state-changing function -----------------------------------------------------------------

_RESERVED = {"status", "tenant", "tenant_id", "id", "pk", "last_event_seq"}


def _lease_live(run: Run, now) -> bool:
    return bool(run.worker_lease) and run.lease_expires_at is not None and run.lease_expires_at > now


def transition(
    run_id: int,
    to_status: str,
    *,
    actor=None,
    message: str = "",
    data: dict | None = None,
    expect_from: str | Iterable[str] | None = None,
    enqueue: str | tuple[str, dict] | None = None,
    **fields: Any,
) -> Run:
    """Move run `run_id` to `to_status` if the lifecycle allows it; returns the updated run.

    `expect_from` (a status or several) refuses with UnexpectedStatus when the run is elsewhere, so a
    duplicate or late caller does nothing. `fields` are Run fields set in the same UPDATE. `enqueue` is a
    task name from `runs.tasks.TASKS` (or `(name, {"countdown": s, ...})`) sent after commit with the
    run's id and tenant id only.
    """
    for name in fields:
        if name in _RESERVED:
            raise TypeError(f"transition() cannot set {name!r}")
        Run._meta.get_field(name)  # FieldDoesNotExist for typos
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        from_status = run.status
        if expect_from is not None:
            expected = {expect_from} if isinstance(expect_from, str) else set(expect_from)
            if from_status not in expected:
                raise UnexpectedStatus(
                    from_status, to_status, reason=f"expected the run to be {' or '.join(sorted(expected))}"
                )
        check_transition(from_status, to_status)
        now = timezone.now()

        run.status = to_status
        changed = {"status", "last_event_seq", "updated_at"}
        for name, value in fields.items():
            setattr(run, name, value)
            changed.add(name)
        if to_status in END_STATES:
            run.finished_at = now
            changed.add("finished_at")
        if to_status == S.AWAITING_APPROVAL:
            run.awaiting_approval_since = now
            if "approval_deadline" not in fields:
                run.approval_deadline = now + approval_window()
            if "approvals_required" not in fields:
                run.approvals_required = approvals_required_for(run.config.env)
            changed |= {"awaiting_approval_since", "approval_deadline", "approvals_required"}
        run.last_event_seq += 1
        run.save(update_fields=sorted(changed))

        RunEvent.objects.create(
            tenant_id=run.tenant_id,
            run=run,
            seq=run.last_event_seq,
            from_status=from_status,
            to_status=to_status,
            message=message[:1000],
            data=json.loads(canonical_json(data or {})),
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            tenant=run.tenant,
            action=f"run.{to_status}",
            actor=actor,
            target=run,
            summary=f"Run #{run.pk}: {from_status} → {to_status}" + (f": {message}" if message else ""),
            data={"from": from_status, "to": to_status, "message": message, **(data or {})},
        )

        if to_status in VOID_APPROVALS_ON:
            _void_approvals(run, reason=f"run {to_status}" + (f": {message}" if message else ""))
        if to_status == S.INTERRUPTED:
            locks.flag_for_run(run, message or "The worker was lost mid-stage; check Terraform's state lock.")
        elif to_status in RELEASE_LOCK_ON and not _lease_live(run, now):
            locks.release_for_run(run)

        if enqueue:
            name, options = (enqueue, {}) if isinstance(enqueue, str) else enqueue
            _enqueue(run, name, **options)
        if to_status in NOTIFY_ON:
            _enqueue(run, "run_notify", event=to_status)
    return run


def run_note(run_id: int, message: str, *, data: dict | None = None, actor=None) -> RunEvent:
    """A timeline entry that is not a state change (waiting for a lock, a retry); no audit event."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        run.last_event_seq += 1
        Run.objects.filter(pk=run.pk).update(last_event_seq=run.last_event_seq)
        return RunEvent.objects.create(
            tenant_id=run.tenant_id,
            run=run,
            seq=run.last_event_seq,
            from_status=run.status,
            to_status=run.status,
            message=message[:1000],
            data=json.loads(canonical_json(data or {})),
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        )


def _enqueue(run: Run, name: str, *, countdown: int | None = None, **extra: Any) -> None:
    run_id, tenant_id = run.pk, run.tenant_id

    def send() -> None:
        from . import tasks

        tasks.dispatch(name, run_id=run_id, tenant_id=tenant_id, countdown=countdown, **extra)

    transaction.on_commit(send)


def _void_approvals(run: Run, *, reason: str) -> int:
    return Approval.objects.filter(run=run, voided_at__isnull=True).update(
        voided_at=timezone.now(), void_reason=reason[:500]
    )


# --- leases (worker side) ----------------------------------------------------------------------------


def lease_acquire(run_id: int, *, statuses: Iterable[str], seconds: int | None = None) -> str | None:
    """Take the run's worker lease with one conditional UPDATE; None when another worker holds it or the
    run is not in one of `statuses` (a duplicate delivery is then a no-op)."""
    token = secrets.token_hex(16)
    now = timezone.now()
    taken = (
        Run.objects.filter(pk=run_id, status__in=list(statuses))
        .filter(Q(worker_lease="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            worker_lease=token,
            lease_expires_at=now + timedelta(seconds=seconds or lease_seconds()),
            heartbeat_at=now,
            attempt=F("attempt") + 1,
        )
    )
    return token if taken else None


def lease_renew(run_id: int, token: str, *, seconds: int | None = None, **fields: Any) -> bool:
    now = timezone.now()
    return bool(
        Run.objects.filter(pk=run_id, worker_lease=token).update(
            heartbeat_at=now, lease_expires_at=now + timedelta(seconds=seconds or lease_seconds()), **fields
        )
    )


def lease_release(run_id: int, token: str) -> bool:
    return bool(
        Run.objects.filter(pk=run_id, worker_lease=token).update(worker_lease="", lease_expires_at=None)
    )


# --- loading with permissions ------------------------------------------------------------------------


def _load(user, run_id: int, action: str, *, lock: bool = True) -> Run:
    """The run if `user` can see it (else Run.DoesNotExist) and may take `action` on it (else 403)."""
    visible = Run.objects.for_user(user, "view")
    if lock:
        visible = visible.select_for_update()
    run = visible.get(pk=run_id)
    if not Run.objects.for_user(user, action).filter(pk=run.pk).exists():
        membership = Membership.objects.filter(user=user, tenant_id=run.tenant_id).first()
        if membership is None or not role_allows(membership.role, action):
            raise PermissionDenied(f"Your role does not allow {action}.")
        raise PermissionDenied(f"Config {run.config.name} is restricted; you have not been granted it.")
    return run


# --- understanding a request (the agents app, when it is there) --------------------------------------


PARSE_CACHE_SECONDS = 600


def _parse(text: str, config: Config, tenant):
    """Parse with the configured model, else offline. A model's parse is cached briefly per tenant,
    region and text, so the console's live preview and the submit that follows make one model call and
    agree with each other."""
    from agents.llm_parser import parse_request

    model = getattr(settings, "GANTRY_LLM_MODEL", "") or ""
    if not model:
        return parse_request(text, tenant=tenant, default_region=config.region)
    material = f"{getattr(tenant, 'pk', '')}|{config.region}|{model}|{text}"
    key = "gantry:parse:" + hashlib.sha256(material.encode()).hexdigest()
    result = cache.get(key)
    if result is None:
        result = parse_request(text, tenant=tenant, default_region=config.region)
        if result.parser == "llm":  # a fallback parse is retried next time, the model may be back
            cache.set(key, result, PARSE_CACHE_SECONDS)
    return result


def _understand(text: str, config: Config, *, tenant=None) -> dict[str, Any]:
    """Parse the request into an intent and the questions to ask; degrades to storing the text."""
    from agents.clarification import questions_for
    from agents.commit import belief

    out: dict[str, Any] = {"intent": {}, "parser": "", "belief": {}, "questions": [], "kind": RunKind.CHANGE}
    try:
        result = _parse(text, config, tenant)
    except Exception as exc:  # a parser bug must not lose the request
        logger.exception("parsing run request failed")
        out["belief"] = {"error": f"The request could not be parsed: {exc}"}
        return out
    intent, out["parser"], notes = result.intent, result.parser, list(result.notes)
    out["intent"] = intent.to_dict()
    if intent.action.value == "destroy":
        out["kind"] = RunKind.DESTROY
    out["questions"] = [q.to_dict() for q in questions_for(intent, config=config)]
    try:
        out["belief"] = belief(intent)
    except Exception:  # belief is a nicety; never block a request on it
        logger.exception("building the belief failed")
    if notes:
        out["belief"] = {**out["belief"], "parser_notes": notes}
    return out


# --- services: requests ------------------------------------------------------------------------------


def _usable_config(user, config_id: int, action: str) -> Config:
    config = Config.objects.for_user(user, "view").select_related("account", "tenant").get(pk=config_id)
    if not Config.objects.for_user(user, action).filter(pk=config.pk).exists():
        membership = Membership.objects.filter(user=user, tenant_id=config.tenant_id).first()
        if membership is None or not role_allows(membership.role, action):
            raise PermissionDenied(f"Your role does not allow {action}.")
        raise PermissionDenied(f"Config {config.name} is restricted; you have not been granted it.")
    return config


def _create_run(
    *, config: Config, user, request_text: str, status: str, message: str, data: dict | None = None, **fields
) -> Run:
    run = Run.objects.create(
        tenant_id=config.tenant_id,
        config=config,
        requested_by=user,
        request_text=request_text,
        workspace_key=locks.workspace_key_for(config),
        status=status,
        approvals_required=approvals_required_for(config.env),
        last_event_seq=1,
        **fields,
    )
    RunEvent.objects.create(
        tenant_id=run.tenant_id,
        run=run,
        seq=1,
        from_status="",
        to_status=status,
        message=message,
        data=json.loads(canonical_json(data or {})),
        actor=user if getattr(user, "is_authenticated", False) else None,
    )
    audit_record(
        tenant=config.tenant,
        action="run.created",
        actor=user,
        target=run,
        summary=f"Run #{run.pk} on {config.name}: {request_text[:200]}",
        data={"config": config.name, "config_version": config.version, "status": status, **(data or {})},
    )
    if status == S.QUEUED:
        _enqueue(run, "run_generate")
    return run


def _review(understood: dict[str, Any], config: Config, user, *, blueprint_version=None):
    """Route the parsed intent as generation will, pricing it from the snapshot, so the run records the
    intent commit (with its cost) and the blueprint it starts from. Returns the AgentAnswer, or None when
    the intent cannot be routed (a reviewing bug must not lose the request; a chosen blueprint must)."""
    if not understood["intent"]:
        return None
    try:
        from agents.commit import belief, review_request
        from agents.intent import Intent

        intent = Intent.model_validate(understood["intent"])
        answer, commit = review_request(intent, config=config, user=user, blueprint_version=blueprint_version)
        understood["belief"] = {
            **understood["belief"],
            **belief(answer.intent, answer=answer, commit=commit),
            "commit": commit.to_dict(),
            **({"composition": answer.composition} if answer.composition else {}),
        }
    except Exception:
        if blueprint_version is not None:
            raise
        logger.exception("reviewing the run request failed")
        return None
    return answer


def _blueprint_run_fields(answer, config: Config, version) -> dict[str, Any]:
    """The spec of a run that reuses ``version``, fixed at creation; ValidationError when it cannot be."""
    from iac.spec import SpecError, build_spec

    if answer is None or answer.status != "ready" or not answer.specs:
        reasons = " ".join(answer.refusals) or answer.message if answer is not None else ""
        raise ValidationError({"blueprint_version_id": reasons or "The request could not be understood."})
    item = answer.specs[0]
    try:
        spec = build_spec(
            item["stack"],
            item.get("parameters", {}),
            account=config.account,
            config=config,
            tags=item.get("tags") or {},
            region=item.get("region") or None,
        )
    except (SpecError, ValueError) as exc:
        raise ValidationError({"blueprint_version_id": f"{version.blueprint.name}: {exc}"}) from exc
    return {"spec": spec.model_dump(mode="json"), "agent": answer.agent, "intent": answer.intent.to_dict()}


def _record_blueprint_use(run: Run, blueprint_id: int, user, *, required: bool) -> bool:
    from blueprints.models import Blueprint
    from blueprints.services import blueprint_record_use

    try:
        with transaction.atomic():
            blueprint_record_use(
                blueprint=Blueprint.objects.get(pk=blueprint_id), user=user, tenant=run.tenant, run_id=run.pk
            )
    except (Blueprint.DoesNotExist, ValidationError, PermissionDenied):
        if required:
            raise
        logger.warning("run #%s: blueprint %s could not be recorded as used", run.pk, blueprint_id)
        return False
    return True


def run_create(
    *,
    user,
    config_id: int,
    request_text: str,
    kind: str | None = None,
    blueprint_version_id: int | None = None,
) -> Run:
    """A new run from a plain-language request: queued, or needs_clarification when questions are open.

    The request is parsed before the transaction opens (a language model may take seconds; SQLite's
    write lock must not wait on it); the config check is repeated inside the transaction. The intent
    commit (with the snapshot cost estimate) goes into the run's belief, and the approved blueprint the
    agent starts from is recorded as used (``Run.blueprint_version_id``).

    ``blueprint_version_id`` reuses that approved version (the tenant's own blueprint or a platform one):
    its stack and parameters, tuned by what the request states, fixed here as the run's spec; every gate
    still runs. A version the tenant may not use, or a request it cannot serve, is a ValidationError and
    creates nothing."""
    config = _usable_config(user, config_id, "run.create")
    text = (request_text or "").strip()
    if not text:
        raise ValidationError({"request_text": "Say what you would like to change."})
    if len(text) > MAX_REQUEST_CHARS:
        raise ValidationError({"request_text": f"Keep the request under {MAX_REQUEST_CHARS} characters."})
    if kind is not None and kind not in RunKind.values:
        raise ValidationError({"kind": f"Unknown run kind {kind!r}."})
    version = None
    if blueprint_version_id is not None:
        from blueprints.selectors import reusable_version

        version = reusable_version(user, tenant=config.tenant, version_id=blueprint_version_id)
    understood = _understand(text, config, tenant=config.tenant)
    answer = _review(understood, config, user, blueprint_version=version)
    fields: dict[str, Any] = {"kind": kind or understood["kind"], "intent": understood["intent"]}
    questions = understood["questions"]
    used = (answer.blueprint if answer is not None else None) or {}
    if version is not None:
        fields |= {"kind": kind or RunKind.CHANGE, **_blueprint_run_fields(answer, config, version)}
        questions = []  # the blueprint answers what to build; the config where
        understood["belief"]["reused_blueprint_version"] = version.pk
        used = {"id": version.blueprint_id, "version_id": version.pk}
    status = S.NEEDS_CLARIFICATION if questions else S.QUEUED
    with transaction.atomic():
        config = _usable_config(user, config_id, "run.create")
        run = _create_run(
            config=config,
            user=user,
            request_text=text,
            status=status,
            message="Requested" + (f"; {len(questions)} question(s) to answer" if questions else ""),
            parser=understood["parser"],
            belief=understood["belief"],
            clarification={"questions": questions, "answers": {}} if questions else {},
            **fields,
        )
        if used.get("version_id") and _record_blueprint_use(
            run, used["id"], user, required=version is not None
        ):
            Run.objects.filter(pk=run.pk).update(blueprint_version_id=used["version_id"])
            run.blueprint_version_id = used["version_id"]
        return run


def run_create_from_source(
    *, user, config_id: int, engine: str, source: dict[str, Any], request_text: str, agent: str = ""
) -> Run:
    """A new run whose source is given rather than read from free text (an MCP tool that names the
    action and its targets): it skips generation and goes straight to planning, where its engine
    checks the source like any other."""
    if engine not in RunEngine.values:
        raise ValidationError({"engine": f"Unknown engine {engine!r}."})
    try:
        engine_for(engine)
    except UnknownEngine as exc:
        raise ValidationError({"engine": str(exc)}) from None
    text = (request_text or "").strip()[:MAX_REQUEST_CHARS] or canonical_json(source)[:MAX_REQUEST_CHARS]
    with transaction.atomic():
        config = _usable_config(user, config_id, "run.create")
        run = _create_run(
            config=config,
            user=user,
            request_text=text,
            status=S.VALIDATING,
            message="Requested with its source given",
            data={"engine": engine},
            engine=engine,
            agent=agent,
            spec=source,
            spec_sha256=spec_digest(source),
        )
        _enqueue(run, "run_plan")
        return run


def run_follow_up(run: Run) -> dict[str, Any] | None:
    """What the run's engine proposed after it ended (the rollback of a failed apply's done part)."""
    for data in run.events.order_by("-seq").values_list("data", flat=True):
        if (data or {}).get("follow_up"):
            return data["follow_up"]
    return None


def run_follow_up_create(*, user, run_id: int) -> Run:
    """Plan what a failed run proposed (its rollback) as a new run that goes through review like any
    other; the engine refuses it when the account no longer is as the proposal recorded."""
    run = _load(user, run_id, "run.plan", lock=False)
    follow_up = run_follow_up(run)
    if run.status != S.FAILED or follow_up is None:
        raise ValidationError("This run proposes nothing to plan.")
    if Run.objects.filter(replaces=run).exists():
        raise ValidationError("The proposal of this run has been planned already.")
    created = run_create_from_source(
        user=user,
        config_id=run.config_id,
        engine=run.engine,
        source={"document": follow_up["document"], "follow_up_of": run.pk},
        request_text=f"Roll back the done part of run #{run.pk}",
        agent=run.agent,
    )
    Run.objects.filter(pk=created.pk).update(replaces=run)
    created.replaces = run
    return created


@transaction.atomic
def run_answer_clarification(*, user, run_id: int, answers: dict[str, Any]) -> Run:
    """Apply the requester's answers; the run is queued once nothing is left to ask."""
    run = _load(user, run_id, "run.create")
    if run.status != S.NEEDS_CLARIFICATION:
        raise IllegalTransition(run.status, S.QUEUED, reason="this run is not waiting for answers")
    if not isinstance(answers, dict) or not answers:
        raise ValidationError({"answers": "No answers given."})
    from pydantic import ValidationError as SchemaError

    from agents.clarification import ClarificationError, apply_answers, questions_for
    from agents.intent import Intent

    try:
        intent = Intent.model_validate(run.intent)
    except SchemaError as exc:
        # Nothing was understood well enough to ask about: the requester should file a new request.
        raise ValidationError("This run has no readable intent to complete; submit a new request.") from exc
    try:
        intent = apply_answers(intent, answers, config=run.config)
    except ClarificationError as exc:
        raise ValidationError({getattr(exc, "field", None) or "answers": str(exc)}) from exc
    questions = [q.to_dict() for q in questions_for(intent, config=run.config)]
    history = {**(run.clarification or {}).get("answers", {}), **{k: str(v) for k, v in answers.items()}}
    clarification = {"questions": questions, "answers": history}
    belief = run.belief
    try:
        from agents.commit import belief as make_belief

        belief = make_belief(intent)
    except Exception:
        logger.exception("building the belief failed")
    if questions:
        Run.objects.filter(pk=run.pk).update(
            intent=intent.to_dict(), clarification=clarification, belief=belief
        )
        run_note(run.pk, f"Answers recorded; {len(questions)} question(s) still open", actor=user)
        audit_record(
            tenant=run.tenant, action="run.clarified", actor=user, target=run, data={"answers": answers}
        )
        run.refresh_from_db()
        return run
    return transition(
        run.pk,
        S.QUEUED,
        actor=user,
        message="Answers complete",
        data={"answers": {k: str(v) for k, v in answers.items()}},
        expect_from=S.NEEDS_CLARIFICATION,
        enqueue="run_generate",
        intent=intent.to_dict(),
        clarification=clarification,
        belief=belief,
    )


@transaction.atomic
def run_cancel(*, user, run_id: int, reason: str = "") -> Run:
    """Stop any unfinished run (operator and up). An apply already running cannot be cancelled: stopping
    Terraform mid-apply orphans resources."""
    run = _load(user, run_id, "run.cancel")
    if run.status == S.APPLYING:
        raise IllegalTransition(
            run.status, S.CANCELLED, reason="an apply in progress runs to its end; it cannot be cancelled"
        )
    return transition(run.pk, S.CANCELLED, actor=user, message=reason or "Cancelled", data={"reason": reason})


WAITING_FOR_PEOPLE = (S.NEEDS_CLARIFICATION, S.AWAITING_APPROVAL, S.APPROVED)


@transaction.atomic
def run_discard(*, user, run_id: int) -> Run:
    """Drop a run that waits on people (unanswered questions, an unwanted plan): it ends cancelled."""
    run = _load(user, run_id, "run.cancel")
    if run.status not in WAITING_FOR_PEOPLE:
        raise IllegalTransition(
            run.status, S.CANCELLED, reason="only runs waiting for answers or approval can be discarded"
        )
    return transition(
        run.pk, S.CANCELLED, actor=user, message="Discarded", data={"discarded": True}, expect_from=run.status
    )


REPLANNABLE_WAITING = (S.NEEDS_CLARIFICATION, S.QUEUED, S.AWAITING_APPROVAL, S.APPROVED)


@transaction.atomic
def run_replan(*, user, run_id: int) -> Run:
    """Plan the same request again as a new run. A run still waiting (for answers or approval) is
    superseded and its approvals voided; an ended run is left as it is. Returns the new run."""
    run = _load(user, run_id, "run.plan")
    if run.status in IN_FLIGHT:
        raise IllegalTransition(run.status, S.SUPERSEDED, reason="wait for the current stage to finish")
    config = _usable_config(user, run.config_id, "run.plan")
    # One stack of a multi-stack request, or a requested blueprint reuse: the spec is given, not re-chosen.
    reused = bool((run.belief or {}).get("reused_blueprint_version"))
    spec_given = (run.parent_id is not None or reused) and bool(run.spec)
    new = _create_run(
        config=config,
        user=user,
        request_text=run.request_text,
        status=S.QUEUED if not (run.clarification or {}).get("questions") else S.NEEDS_CLARIFICATION,
        message=f"Re-plan of run #{run.pk}",
        data={"replaces": run.pk},
        replaces=run,
        parent=run.parent,
        kind=run.kind,
        intent=run.intent,
        parser=run.parser,
        belief=run.belief,
        clarification=run.clarification,
        blueprint_version_id=run.blueprint_version_id,
        agent=run.agent,
        spec=run.spec if spec_given else {},
    )
    if run.status in REPLANNABLE_WAITING:
        _supersede(run, new, user=user, message=f"Re-planned as run #{new.pk}")
    return new


def _supersede(run: Run, new: Run, *, user, message: str) -> None:
    """`new` takes over from `run`, which was waiting: `run` ends superseded, its approvals void."""
    transition(
        run.pk,
        S.SUPERSEDED,
        actor=user,
        message=message,
        data={"replaced_by": new.pk},
        expect_from=run.status,
    )


@transaction.atomic
def run_request_apply(*, user, run_id: int) -> Run:
    """Ask for an approved plan to be applied. The apply worker re-checks everything (runs.apply); this
    refuses early when the run is already stale. A second request is a no-op."""
    from .apply import ApplyRefused, check_apply

    run = _load(user, run_id, "run.apply")
    if run.status != S.APPROVED:
        raise IllegalTransition(run.status, S.APPLYING, reason="only an approved run can be applied")
    if run.apply_requested_at is not None:
        return run
    try:
        check_apply(run)
    except ApplyRefused as exc:
        return transition(
            run.pk,
            exc.status,
            actor=user,
            message=str(exc),
            data={"reasons": exc.reasons},
            expect_from=S.APPROVED,
        )
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(apply_requested_at=now, apply_requested_by=user)
    run_note(run.pk, "Apply requested", actor=user)
    audit_record(tenant=run.tenant, action="run.apply_requested", actor=user, target=run)
    _enqueue(run, "run_apply")
    run.refresh_from_db()
    return run


# --- workspace locks (admin) -------------------------------------------------------------------------


@transaction.atomic
def workspace_force_unlock(*, user, lock_id: int, terraform_lock_id: str, reason: str = "") -> None:
    """Clear a (usually flagged) workspace lock. Admins only; they must name Terraform's lock id, which
    proves they looked at the state lock, and the Terraform side is unlocked by the caller with it."""
    lock = WorkspaceLock.objects.for_user(user, "view").select_for_update().get(pk=lock_id)
    membership = Membership.objects.filter(user=user, tenant_id=lock.tenant_id).first()
    if membership is None or not role_allows(membership.role, "workspace.force_unlock"):
        raise PermissionDenied("Only an admin can force-unlock a workspace.")
    given = (terraform_lock_id or "").strip()
    if not given:
        raise ValidationError({"terraform_lock_id": "Give the Terraform lock id of the workspace's state."})
    if lock.terraform_lock_id and given != lock.terraform_lock_id:
        raise ValidationError(
            {"terraform_lock_id": "That is not the Terraform lock id recorded for this lock."}
        )
    run = lock.run
    audit_record(
        tenant=lock.tenant,
        action="workspace.force_unlocked",
        actor=user,
        target=lock,
        summary=f"Force-unlocked {lock.workspace_key} (held by run #{run.pk}, {run.status})",
        data={
            "workspace_key": lock.workspace_key,
            "run": run.pk,
            "run_status": run.status,
            "flagged": lock.flagged,
            "flag_reason": lock.flag_reason,
            "terraform_lock_id": given,
            "reason": reason,
        },
    )
    lock.delete()
    run_note(run.pk, f"Workspace lock force-released by {getattr(user, 'email', user)}", actor=user)


# --- services: destroy and reconcile (runs.drift) ----------------------------------------------------


@transaction.atomic
def run_destroy_request(*, user, run_id: int) -> Run:
    """Plan the destruction of the stack that applied run `run_id` created (operator and up). The new
    run of kind `destroy` plans `terraform plan -destroy` of exactly that spec through the same gates and
    approvals as a change (prod needs its approvals) and is applied like any other run."""
    from .drift import SHAPING_KINDS, last_applied

    run = _load(user, run_id, "run.plan")
    if run.status != S.APPLIED or run.kind not in SHAPING_KINDS or not run.spec:
        raise ValidationError("Only an applied run's stack can be destroyed.")
    current = last_applied(run)
    if current is None:
        raise ValidationError("This stack has been destroyed already.")
    if current.pk != run.pk:
        raise ValidationError(f"Run #{current.pk} applied this stack since; destroy from that run.")
    config = _usable_config(user, run.config_id, "run.plan")
    stack = run.spec.get("stack", "stack")
    return _create_run(
        config=config,
        user=user,
        request_text=f"Destroy {stack} on {config.name} (applied by run #{run.pk})",
        status=S.QUEUED,
        message=f"Destroy of the stack applied by run #{run.pk}",
        data={"destroys": run.pk, "stack": stack},
        kind=RunKind.DESTROY,
        agent="destroy",
        spec=run.spec,
    )


@transaction.atomic
def run_reconcile_request(*, user, run_id: int) -> Run:
    """From a drift run that found drift: plan the stack back to its applied code (operator and up) as a
    new run of kind `reconcile` on the normal approval path; the drift run is superseded by it."""
    run = _load(user, run_id, "run.plan")
    if run.kind != RunKind.DRIFT or run.status != S.AWAITING_APPROVAL or not run.spec:
        raise ValidationError("Only a drift run that found drift, and is still open, can be reconciled.")
    config = _usable_config(user, run.config_id, "run.plan")
    stack = run.spec.get("stack", "stack")
    new = _create_run(
        config=config,
        user=user,
        request_text=f"Reconcile {stack} on {config.name} with its code (drift found by run #{run.pk})",
        status=S.QUEUED,
        message=f"Reconcile the drift found by run #{run.pk}",
        data={"drift_run": run.pk, "stack": stack},
        kind=RunKind.RECONCILE,
        agent="reconcile",
        replaces=run,
        spec=run.spec,
    )
    _supersede(run, new, user=user, message=f"Reconciling in run #{new.pk}")
    return new
