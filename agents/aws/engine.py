"""The `aws` engine: a run whose source is an action request and whose plan is an action document.

Source (`Run.spec`): `{"action": catalogue name, "params": {...}, "selector": {...}}` as the ops agent
(or an MCP tool) wrote it; its sha256 is the run's source digest. Plan: targets resolved with read-only
calls, preconditions checked by Gantry, a DryRun permission pre-check where the API has one, the Rego
gates; the canonical JSON document is the plan document an approver approves by its sha256. Apply:
re-resolve first (`recheck`: anything changed → stale, nothing runs), then each action in order, its
result persisted before the next starts, verified by re-reading the touched resources; the verified
after-state is the run's receipt. A failure stops the run and offers the rollback of the done part as
a new reviewed run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from runs import artifacts
from runs.engines import ApplyJob, ApplyOutcome, PlanJob, PlanOutcome, PlanStatus, StoredArtifact
from runs.models import ArtifactKind
from runs.services import approvals_required_for, canonical_json
from tenants.aws import AwsAccessError, is_transient

from .actions.base import ActionFailed, ActionRequestInvalid, NothingToDo
from .execute import execute, recheck, rollback_document
from .gates import action_gates
from .plan import build_action_plan, canonical_bytes

SOURCE_FILE = "request.json"
PLAN_FILE = "actions.json"


def source_bytes(source: dict[str, Any]) -> bytes:
    return canonical_json(source).encode()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _aws_error(exc: Exception) -> tuple[str, bool]:
    return str(exc), is_transient(exc) or is_transient(getattr(exc, "code", None) or "")


@dataclass(frozen=True)
class ActionPlanView:
    """A plan document with its canonical bytes and their sha256 (what an approval binds)."""

    document: dict
    bytes: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.bytes).hexdigest()


class AwsEngine:
    name = "aws"
    stales_siblings = False  # each action plan re-resolves its own targets before it runs

    # --- plan ------------------------------------------------------------------------------------

    def plan(self, job: PlanJob) -> PlanOutcome:
        run, config = job.run, job.config
        source = dict(run.spec or {})
        raw = source_bytes(source)
        kept = [StoredArtifact(ArtifactKind.SOURCE_ARCHIVE, raw, SOURCE_FILE)]
        base = {"source_sha256": hashlib.sha256(raw).hexdigest(), "artifacts": kept}

        job.on_stage("resolve", "started", {})
        started = time.perf_counter()
        if "document" in source:  # a proposed document (the rollback of a failed run): same world only
            return self._plan_given(job, source["document"], started, base)
        try:
            plan = build_action_plan(
                config,
                action=source.get("action", ""),
                params=source.get("params") or {},
                selector=source.get("selector") or {},
                limits={"max_count": source.get("max_count")} if source.get("max_count") else None,
                run_id=run.pk,
                allow_free_command=bool(source.get("allow_free_command")),
            )
        except NothingToDo as exc:
            job.on_stage("resolve", "passed", {"duration_ms": _ms(started)})
            summary = {"filters": exc.filters, "targets": 0}
            return PlanOutcome(PlanStatus.NOTHING_TO_DO, message=str(exc), plan_summary=summary, **base)
        except (ActionRequestInvalid, KeyError) as exc:
            job.on_stage("resolve", "failed", {"duration_ms": _ms(started)})
            message = str(exc) if isinstance(exc, ActionRequestInvalid) else f"Unknown action {exc}"
            return PlanOutcome(
                PlanStatus.FAILED,
                message="Request refused",
                error=message,
                error_category="invalid_request",
                stopped_at="code",
                **base,
            )
        except (ActionFailed, AwsAccessError) as exc:
            job.on_stage("resolve", "failed", {"duration_ms": _ms(started)})
            error, transient = _aws_error(exc)
            return PlanOutcome(
                PlanStatus.FAILED,
                message="AWS did not answer the read-only calls",
                error=error,
                error_category="aws",
                stopped_at="plan",
                transient=transient,
                **base,
            )
        job.on_stage("resolve", "passed", {"duration_ms": _ms(started)})
        return self._gated(job, plan.document, plan.bytes, base)

    def _plan_given(self, job: PlanJob, document: dict, started: float, base: dict) -> PlanOutcome:
        """A document proposed by Gantry (not resolved from a request): it may run only against the
        world it was written for, so any difference fails the plan and asks for a fresh request."""
        try:
            reasons = recheck(job.config, document, run_id=job.run.pk)
        except (ActionFailed, AwsAccessError, ActionRequestInvalid, KeyError) as exc:
            reasons = [str(exc)]
        job.on_stage("resolve", "failed" if reasons else "passed", {"duration_ms": _ms(started)})
        if reasons:
            return PlanOutcome(
                PlanStatus.FAILED,
                message="The account changed since this was proposed",
                error="; ".join(reasons) + ". Plan a new request instead.",
                error_category="stale",
                stopped_at="plan",
                **base,
            )
        document = {**document, "run_id": job.run.pk}
        return self._gated(job, document, canonical_bytes(document), base)

    def _gated(self, job: PlanJob, document: dict, plan_bytes: bytes, base: dict) -> PlanOutcome:
        config = job.config
        plan = ActionPlanView(document, plan_bytes)
        job.on_stage("policy", "started", {})
        gates, requirement = action_gates(plan.document, config)
        blocked = next((g for g in gates if not g.passed), None)
        job.on_stage(
            "policy", "failed" if blocked else "passed", {"duration_ms": sum(g.duration_ms for g in gates)}
        )
        gate_dicts = [g.to_dict() for g in gates]
        base["artifacts"] = [
            *base["artifacts"],
            StoredArtifact(ArtifactKind.PLAN_FILE, plan.bytes, PLAN_FILE, plan_document=True),
            StoredArtifact(ArtifactKind.PLAN_JSON_REDACTED, plan.bytes, PLAN_FILE),
            StoredArtifact(ArtifactKind.GATE_REPORT, canonical_json({"gates": gate_dicts}), "gates.json"),
        ]
        fields: dict[str, Any] = {"approvals_required": approvals_required_for(config.env)}
        if requirement:
            fields["approvals_required"] = max(fields["approvals_required"], int(requirement["approvals"]))
            fields["ticket_required"] = bool(requirement.get("ticket"))
        outcome = PlanOutcome(
            PlanStatus.BLOCKED if blocked else PlanStatus.PASSED,
            message=f"Blocked by the {blocked.name} gate" if blocked else "Action plan ready for approval",
            gates=gate_dicts,
            plan_sha256=plan.sha256,
            has_changes=True,
            plan_summary=document.get("summary") or {},
            cost_estimate=document.get("cost_delta") or {},
            fields=fields,
            **base,
        )
        if blocked:
            outcome.error, outcome.error_category = outcome.message, "gate"
        return outcome

    def source_digest(self, stored: bytes) -> str:
        return hashlib.sha256(stored).hexdigest()

    # --- apply -----------------------------------------------------------------------------------

    def recheck(self, run) -> list[str]:
        """What changed in the account since the plan; any reason makes the approved run stale."""
        document = self._document(run)
        try:
            return recheck(run.config, document, run_id=run.pk)
        except (ActionFailed, AwsAccessError) as exc:
            return [f"the targets could not be re-read: {exc}"]

    def apply(self, job: ApplyJob) -> ApplyOutcome:
        run = job.run
        document = json.loads(job.read_artifact(ArtifactKind.PLAN_FILE))
        done = {int(k): v for k, v in ((run.outputs or {}).get("actions") or {}).items()}
        results: dict[str, Any] = {str(k): v for k, v in done.items()}

        def persist(index: int, result: dict) -> None:
            results[str(index)] = result
            job.record({"outputs": {"actions": dict(results)}})
            job.on_line(f"{document['actions'][index]['name']} #{index}: {result.get('summary') or 'done'}")

        started = time.perf_counter()
        report = execute(run.config, document, run_id=run.pk, done=done, on_action=persist)
        outcome = ApplyOutcome(ok=report.ok, duration_ms=_ms(started), receipt=report.receipt)
        outcome.fields["outputs"] = {
            "actions": dict(results),
            "receipt": report.receipt,
            "report": report.to_dict(),
        }
        if report.ok:
            outcome.message = f"Applied and verified {len(document['actions'])} action(s)"
            return outcome
        outcome.error = report.error or "an action failed"
        outcome.error_category = "aws"
        outcome.message = f"Action #{report.failed_index} failed; {len(report.not_done)} not run"
        rollback = rollback_document(document, report)
        if rollback is not None:
            outcome.follow_up = {
                "kind": "rollback",
                "message": "The done actions can be rolled back: plan the rollback as a new reviewed run.",
                "document": rollback,
            }
        return outcome

    # --- the run page ------------------------------------------------------------------------------

    template = "ops/_action_plan.html"

    def page(self, run) -> dict[str, Any]:
        """What the run page shows instead of a Terraform diff: one row per action and target, and
        after the apply each action's verified result."""
        artifact = artifacts.latest(run, ArtifactKind.PLAN_JSON_REDACTED)
        page: dict[str, Any] = {"template": self.template}
        if artifact is None:
            return page
        try:
            document = json.loads(artifacts.artifact_read(artifact))
        except (OSError, ValueError, artifacts.ArtifactIntegrityError):
            return {**page, "error": "The action plan could not be read."}
        results = (run.outputs or {}).get("actions") or {}
        rows = [
            {
                **{
                    k: action.get(k)
                    for k in ("index", "name", "label", "precondition", "rollback", "downtime", "risk")
                },
                "target": target,
                "expected": (action.get("expected") or {}).get(target["id"], {}),
                "permission_ok": (action.get("permission_check") or {}).get("ok"),
                "result": results.get(str(action["index"])),
            }
            for action in document.get("actions", [])
            for target in action.get("targets", [])
        ]
        follow_up = next(
            (e.data["follow_up"] for e in run.events.order_by("-seq") if (e.data or {}).get("follow_up")),
            None,
        )
        return {
            **page,
            "actions": document.get("actions", []),
            "rows": rows,
            "results": results,
            "summary": document.get("summary") or {},
            "cost": document.get("cost_delta") or {},
            "skipped": document.get("skipped") or [],
            "notes": document.get("notes") or [],
            "follow_up": follow_up,
        }

    def _document(self, run) -> dict[str, Any]:
        artifact = artifacts.latest(run, ArtifactKind.PLAN_FILE)
        return json.loads(artifacts.artifact_read(artifact)) if artifact is not None else {}
