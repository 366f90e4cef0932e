"""Carry out exactly an approved action document: re-check the world, call, wait, verify, report.

Gantry keeps its own idempotency: the caller persists each action's result (`on_action`) before the
next one starts and passes the done ones back as `done`, so a resumed apply never repeats an action
(the sandbox ignores EC2 ClientToken, and real APIs differ in what they dedupe).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tenants.models import Config

from . import actions as catalogue
from .actions.base import ActionContext, ActionFailed, ActionRequestInvalid, ActionSpec, Target, json_safe
from .client import ActionClients
from .cost import cost_delta
from .plan import ENGINE, SCHEMA_VERSION, action_entry, parse_args, summarize

NOT_CHECKED = {"ok": None, "detail": "Not checked yet: plan this rollback as a new run to check it."}


@dataclass
class ExecutionReport:
    ok: bool
    results: list[dict[str, Any]] = field(default_factory=list)
    failed_index: int | None = None
    error: str | None = None
    not_done: list[int] = field(default_factory=list)
    receipt: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def _context(clients: ActionClients, action: Mapping[str, Any]) -> tuple[ActionSpec, ActionContext]:
    spec = catalogue.get(action["name"])
    return spec, ActionContext(clients=clients, args=parse_args(spec, action["args"]), run_id=clients.run_id)


def _check_document(config: Config, document: Mapping[str, Any]) -> None:
    if document.get("engine") != ENGINE or document.get("schema_version") != SCHEMA_VERSION:
        raise ActionRequestInvalid("Not an aws action document of a version this engine reads.")
    if document.get("account_id") != config.account.account_id:
        raise ActionRequestInvalid(
            f"The document is for account {document.get('account_id')}, "
            f"not {config.account.account_id} of config {config.name}."
        )
    if not document.get("actions"):
        raise ActionRequestInvalid("The document has no actions.")


def _state_changes(before: Target, now: Target) -> list[str]:
    reasons = [
        f"{before.id}: {key} was {before.state.get(key)}, now {now.state.get(key)}"
        for key in sorted(set(before.state) | set(now.state))
        if before.state.get(key) != now.state.get(key)
    ]
    if before.tags != now.tags:
        changed = sorted(k for k in set(before.tags) | set(now.tags) if before.tags.get(k) != now.tags.get(k))
        reasons.append(f"{before.id}: tags changed ({', '.join(changed)})")
    return reasons


def recheck(config: Config, document: Mapping[str, Any], run_id: int | str | None = None) -> list[str]:
    """Why the world differs from the document, one reason each; empty when it is the same world."""
    _check_document(config, document)
    run_id = run_id if run_id is not None else document.get("run_id")
    clients = ActionClients(config, region=document["region"], run_id=run_id)
    spec, ctx = _context(clients, document["actions"][0])
    planned = {t["id"]: Target.from_dict(t) for a in document["actions"] for t in a["targets"]}
    skipped = {s["id"] for s in document.get("skipped", [])}

    reasons: list[str] = []
    now = spec.observe(ctx, list(planned))
    for tid, before in planned.items():
        if tid not in now:
            reasons.append(f"{tid} is gone")
        else:
            reasons.extend(_state_changes(before, now[tid]))
    try:
        resolved = spec.resolve(ctx, document.get("selector") or {})
    except ActionRequestInvalid as exc:
        if not reasons:  # a named target gone is already said above
            reasons.append(str(exc))
        resolved = []
    for found in resolved:
        target = found.target
        if target.id in planned:
            continue
        eligible = spec.skip_reason(ctx.args, target) is None
        if target.id not in skipped:
            reasons.append(f"{target.id} now matches the selector (new since the plan)")
        elif eligible:
            reasons.append(f"{target.id} was skipped but is now in the state the action needs")
    return reasons


def _problem(spec: ActionSpec, ctx: ActionContext, target: Target) -> str | None:
    """What now stops the action on this target: its state, or an argument it no longer admits."""
    return spec.precondition_problem(target) or (
        spec.check_target(ctx, target) if spec.check_target else None
    )


def _run_action(
    spec: ActionSpec, ctx: ActionContext, action: Mapping[str, Any]
) -> tuple[dict[str, Any], ActionFailed | None]:
    """One action: precondition, call, wait, verify. The result says whether the call was made."""
    started = time.monotonic()
    targets = [Target.from_dict(t) for t in action["targets"]]
    result: dict[str, Any] = {
        "index": action["index"],
        "name": spec.name,
        "targets": [t.id for t in targets],
        "called": False,
        "ok": False,
        "verified": False,
    }
    try:
        now = spec.observe(ctx, [t.id for t in targets])
        problems = [f"{t.id} is gone" for t in targets if t.id not in now]
        problems += [
            f"{t.id}: {problem}"
            for t in targets
            if t.id in now and (problem := _problem(spec, ctx, now[t.id]))
        ]
        if problems:
            raise ActionFailed(f"Precondition failed, nothing called: {'; '.join(problems)}.")
        response = spec.invoke(ctx, action["parameters"])
        result.update(
            called=True,
            request_id=(response.get("ResponseMetadata") or {}).get("RequestId"),
            response=spec.summarize(response),
        )
        problem = spec.response_problem(response) if spec.response_problem else None
        if problem:
            raise ActionFailed(f"{spec.label}: AWS reported failures: {problem}.")
        after, verified, waited = spec.wait(ctx, targets, response, action["expected"])
        result.update(after=after, verified=verified, ok=verified, waited_seconds=waited)
        if ctx.clients.sandbox and spec.sandbox_note:
            result["sandbox_note"] = spec.sandbox_note
        error = None
        if not verified:
            error = ActionFailed(
                f"{spec.label}: the expected outcome was not reached within {waited} s "
                f"(expected {action['expected']}, observed {after})."
            )
    except ActionFailed as exc:
        error = exc
        result["code"] = exc.code
        if exc.request_id:
            result.setdefault("request_id", exc.request_id)
    if error is not None:
        result["error"] = str(error)
    result["duration_seconds"] = round(time.monotonic() - started, 3)
    return json_safe(result), error


def _receipt(document: Mapping[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for result in results:
        for tid in result.get("targets", []):
            if tid in (result.get("after") or {}):
                targets[tid] = {
                    "index": result["index"],
                    "action": result["name"],
                    "after": result["after"][tid],
                    "verified": result["verified"],
                }
    return json_safe({"account_id": document["account_id"], "region": document["region"], "targets": targets})


def execute(
    config: Config,
    document: Mapping[str, Any],
    *,
    run_id: int | str | None = None,
    done: dict[int, dict] | None = None,
    on_action: Callable[[int, dict], None] | None = None,
) -> ExecutionReport:
    """Run the document's actions in order, skipping those in `done`. `on_action(index, result)` is
    called as soon as an action's API call was made (verified or not) and before the next one starts;
    persist it and pass it back in `done` on a resume. On the first failure nothing further runs."""
    _check_document(config, document)
    run_id = run_id if run_id is not None else document.get("run_id")
    done = {int(k): v for k, v in (done or {}).items()}
    report = ExecutionReport(ok=True)
    clients = ActionClients(config, region=document["region"], run_id=run_id)
    indexes = [a["index"] for a in document["actions"]]
    for position, action in enumerate(document["actions"]):
        index = action["index"]
        if index in done:
            report.results.append({**done[index], "resumed": True})
            if done[index].get("ok"):
                continue
            # Called before but not verified: never repeated, and nothing after it runs.
            report.ok, report.failed_index = False, index
            report.error = f"Action {index} was called before and not verified; it is not repeated."
            report.not_done = [i for i in indexes[position + 1 :] if i not in done]
            break
        spec, ctx = _context(clients, action)
        result, error = _run_action(spec, ctx, action)
        report.results.append(result)
        if result["called"] and on_action is not None:
            on_action(index, result)
        if error is not None:
            report.ok, report.failed_index, report.error = False, index, str(error)
            report.not_done = [i for i in indexes[position + 1 :] if i not in done]
            break
    report.receipt = _receipt(document, report.results)
    return report


def rollback_document(document: Mapping[str, Any], report: ExecutionReport) -> dict[str, Any] | None:
    """A new action document undoing the done actions (latest first) with their recorded rollbacks,
    on the targets as they were verified after the apply; None when nothing done is reversible.
    It is a proposal for a new reviewed run, never run automatically."""
    by_index = {a["index"]: a for a in document["actions"]}
    entries: list[dict[str, Any]] = []
    changes: list[tuple[ActionSpec, list[Target]]] = []
    for result in reversed(report.results):
        action = by_index.get(result["index"])
        if not result.get("called") or action is None or not action.get("rollback"):
            continue
        undo = catalogue.get(action["rollback"]["action"])
        args = parse_args(undo, action["rollback"]["args"])
        after = result.get("after") or {}
        targets = [
            Target.from_dict({**t, "state": {k: v for k, v in after[t["id"]].items() if k != "tags"},
                              "tags": after[t["id"]].get("tags", t.get("tags"))})
            if t["id"] in after
            else Target.from_dict(t)
            for t in action["targets"]
        ]  # fmt: skip
        entries.append(
            action_entry(
                undo,
                index=len(entries),
                args=args,
                targets=targets,
                parameters=action["rollback"]["parameters"],
                check=NOT_CHECKED,
            )
        )
        changes.append((undo, targets))
    if not entries:
        return None
    ids = list(dict.fromkeys(t["id"] for e in entries for t in e["targets"]))
    return json_safe(
        {
            **{
                k: document[k]
                for k in ("schema_version", "engine", "account_id", "sandbox", "region", "config")
            },
            "run_id": None,
            "action": entries[0]["name"],
            "allowed_services": document.get("allowed_services", []),
            "service_allowed": document.get("service_allowed", True),
            "selector": {"ids": ids},
            "actions": entries,
            "skipped": [],
            "summary": summarize(entries, []),
            "cost_delta": cost_delta(changes),
            "notes": [f"Rolls back the done actions of the plan for {document.get('action')}."],
            "rollback_of": {"run_id": document.get("run_id"), "action": document.get("action")},
        }
    )
