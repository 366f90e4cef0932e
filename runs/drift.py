"""Drift: is the infrastructure still what Terraform applied?

A periodic sweep (Celery beat → `runs.drift_sweep`) starts a run of kind `drift` for every applied stack
whose last check is older than its environment's interval. That run goes through the ordinary workers
(workspace lock, lease, heartbeat, reconciler) with a read-only `terraform plan -refresh-only` instead of
a change plan (`runs.plan_variants.refresh_plan`):

- no drift → the run ends `no_changes`;
- drift → the run waits in `awaiting_approval` with the per-resource differences in
  `plan_summary["drift"]` and, where CloudTrail answers, who made each change; approvers are notified.
  From there an operator starts a reconcile run (`runs.services.run_reconcile_request`: a normal plan of
  the applied code, which puts the resources back, through the normal approval path), or approvers
  approve and apply the refresh-only plan itself, which accepts the drift into Terraform's state.

The schedule: Config has no drift field, so the interval comes from the setting (env var)
GANTRY_DRIFT_CHECK_HOURS, per environment (default prod 6 h, staging 12 h, dev 24 h; 0 turns checks off
for that environment).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Run, RunKind
from .plan_variants import drifted_resources
from .states import END_STATES, RunStatus

logger = logging.getLogger(__name__)
S = RunStatus

DEFAULT_INTERVAL_HOURS = {"prod": 6, "staging": 12, "dev": 24}
# Runs whose apply leaves a stack as its spec describes (a destroy run's leaves nothing to check).
SHAPING_KINDS = (RunKind.CHANGE, RunKind.RECONCILE, RunKind.DRIFT)
# Runs whose apply changes real resources and so leaves provider-computed attributes to read back (a drift
# run's apply is itself a refresh; a destroy leaves nothing).
REFRESHED_AFTER_APPLY = (RunKind.CHANGE, RunKind.RECONCILE)


def drift_interval(env: str) -> timedelta | None:
    """How often a stack in `env` is checked; None when checks are off there."""
    table = {**DEFAULT_INTERVAL_HOURS, **getattr(settings, "GANTRY_DRIFT_CHECK_HOURS", {})}
    hours = float(table.get(env, table.get("default", 24)))
    return timedelta(hours=hours) if hours > 0 else None


def stack_key(run: Run) -> tuple[int, str]:
    """A stack's identity: its config and its Terraform state object."""
    return run.config_id, str(((run.spec or {}).get("backend") or {}).get("key", ""))


def applied_stacks(*, tenant_id: int | None = None) -> list[Run]:
    """For each stack, the last applied run that shaped it (none for a stack destroyed since)."""
    applied = Run.objects.filter(status=S.APPLIED).exclude(spec={}).select_related("config", "tenant")
    if tenant_id is not None:
        applied = applied.filter(tenant_id=tenant_id)
    latest: dict[tuple[int, str], Run] = {}
    for run in applied.order_by("-finished_at", "-pk"):
        latest.setdefault(stack_key(run), run)
    return [run for run in latest.values() if run.kind in SHAPING_KINDS and run.tenant.is_active]


def last_applied(run: Run) -> Run | None:
    """The run whose apply last shaped `run`'s stack."""
    key = stack_key(run)
    return next((r for r in applied_stacks(tenant_id=run.tenant_id) if stack_key(r) == key), None)


def drift_sweep(*, now: datetime | None = None) -> list[int]:
    """Start a drift run for every applied stack that is due; returns the new runs' ids."""
    from .services import _create_run

    now = now or timezone.now()
    drift_runs: dict[tuple[int, str], list[Run]] = {}
    for check in Run.objects.filter(kind=RunKind.DRIFT).only("pk", "config_id", "spec", "status",
                                                               "created_at"):  # fmt: skip
        drift_runs.setdefault(stack_key(check), []).append(check)
    started = []
    for applied in applied_stacks():
        interval = drift_interval(applied.config.env)
        if interval is None:
            continue
        checks = drift_runs.get(stack_key(applied), [])
        if any(c.status not in END_STATES for c in checks):
            continue  # one open check (or drift still waiting for people) at a time
        last = max([applied.finished_at or applied.created_at, *(c.created_at for c in checks)])
        if now - last < interval:
            continue
        stack = applied.spec.get("stack", "stack")
        with transaction.atomic():
            run = _create_run(
                config=applied.config,
                user=None,
                request_text=f"Drift check of {stack} on {applied.config.name} (applied by run #{applied.pk})",
                status=S.QUEUED,
                message="Scheduled drift check",
                data={"applied_run": applied.pk, "stack": stack},
                kind=RunKind.DRIFT,
                agent="drift",
                spec=applied.spec,
            )
        started.append(run.pk)
    if started:
        logger.info("drift sweep started %s check(s): %s", len(started), started)
    return started


# --- right after an apply: read back what the apply itself caused ----------------------------------


def state_refresh_after_apply(run: Run, workdir: Path, *, env: dict[str, str], on_line=None) -> dict:
    """`terraform apply -refresh-only -auto-approve` right after a change's apply, while the run still
    holds the workspace lock, so the state records what our own apply did to the real resources.

    Why: some provider attributes only settle on a later read. The aws provider fills `aws_s3_bucket`'s
    legacy inline attributes (versioning, server-side encryption, policy, lifecycle) from the separate
    `aws_s3_bucket_*` resources, but only on refresh; without this, the first drift check after every apply
    reports those as "changed outside Terraform" although Gantry changed them in this very apply.
    Refreshing here, rather than ignoring those attributes in the drift comparison, keeps every attribute
    under drift detection: a later edit of the bucket's versioning is still reported. The refresh writes
    state only (no resource is touched) and is confined to the seconds right after the apply.

    Returns the stage timing; a failed refresh is noted on the run and never fails the apply (the
    resources are applied; the next drift check then shows the unsettled attributes)."""
    from iac.terraform import TerraformRunner

    from .services import run_note

    started = timezone.now()
    try:
        result = TerraformRunner(workdir, env=env, on_line=on_line).refresh_state()
        ok, problem = bool(result.ok), result.message or "terraform apply -refresh-only failed"
    except Exception as exc:  # the resources are applied whatever happens here
        logger.exception("state refresh after the apply of run #%s failed", run.pk)
        ok, problem = False, f"{type(exc).__name__}: {exc}"
    if not ok:
        run_note(run.pk, f"Applied, but the state refresh after the apply failed: {problem}"[:1000])
    ms = int((timezone.now() - started).total_seconds() * 1000)
    return {"status": "passed" if ok else "error", "started": started.isoformat(), "ms": ms}


# --- what the drift run records ---------------------------------------------------------------------


def drift_fields(run: Run, result, *, summary: dict) -> tuple[str, dict[str, Any]]:
    """The drift run's message and fields from its refresh-only plan: `summary` (the plan summary) with
    the per-resource differences and, where CloudTrail answers, who changed each resource since the
    stack's last apply."""
    resources = drifted_resources(result.plan_json or {}, result.plan_json_redacted or {})
    applied = last_applied(run)
    since = (applied.finished_at if applied is not None else None) or run.created_at - timedelta(days=1)
    trail = cloudtrail_changes(run, resources, since=since) if resources else {"status": "not_needed"}
    for resource in resources:
        resource["changed_by"] = trail.get("events", {}).get(resource["address"], [])
    summary = {
        **summary,
        "drifted": len(resources),
        "drift": {
            "resources": resources,
            "since": since.isoformat(),
            "applied_run": applied.pk if applied is not None else None,
            "cloudtrail": {k: v for k, v in trail.items() if k != "events"},
        },
    }
    if not resources:
        return "No drift", {"plan_summary": summary}
    names = ", ".join(r["address"] for r in resources[:5]) + (" …" if len(resources) > 5 else "")
    return f"Drift detected in {len(resources)} resource(s): {names}"[:1000], {"plan_summary": summary}


def cloudtrail_changes(run: Run, resources: list[dict], *, since: datetime) -> dict[str, Any]:
    """Who changed each drifted resource: CloudTrail `LookupEvents` by resource name since `since`,
    leaving out Gantry's own sessions. Returns {"status": "available", "events": {address: [...]}} or
    {"status": "unavailable", "reason": ...} when the account (or the sandbox) cannot answer."""
    from tenants.aws import session_for_account

    region = (run.spec or {}).get("region") or run.config.region
    try:
        client = session_for_account(run.config.account, run_id=run.pk, region=region).client("cloudtrail")
    except Exception as exc:  # no access at all: drift is still reported
        return {"status": "unavailable", "reason": f"cannot reach the account: {exc}"[:300]}
    own_session = f"gantry-{run.tenant.slug}-"
    events: dict[str, list[dict]] = {}
    for resource in resources:
        if not resource.get("id"):
            continue
        try:
            found = client.lookup_events(
                LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": str(resource["id"])}],
                StartTime=since,
                EndTime=timezone.now(),
                MaxResults=20,
            ).get("Events", [])
        except Exception as exc:  # not enabled, not permitted, or not implemented (the moto sandbox)
            return {"status": "unavailable", "reason": f"CloudTrail LookupEvents failed: {exc}"[:300]}
        events[resource["address"]] = [
            {
                "event": e.get("EventName", ""),
                "user": e.get("Username", ""),
                "source": e.get("EventSource", ""),
                "time": e["EventTime"].isoformat() if hasattr(e.get("EventTime"), "isoformat") else "",
            }
            for e in found
            if not str(e.get("Username", "")).startswith(own_session)
        ]
    return {"status": "available", "events": events}
