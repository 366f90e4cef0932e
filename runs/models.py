"""Runs and their records: the audit log (which every app writes to), runs, their timeline, gate results,
approvals, artifacts, workspace locks and notifications."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from tenants.models import CONFIG_NARROWED_ACTIONS, Config, Tenant, TenantScopedQuerySet

from .states import RunStatus, is_end


class AuditChainHead(models.Model):
    """The latest link of one tenant's chain; locked while an event is appended so links never fork."""

    chain = models.CharField(max_length=64, unique=True)  # tenant id, or "platform"
    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"{self.chain}@{self.seq}"


class AuditEvent(models.Model):
    """Append-only and tamper-evident: each row's hash covers its content and the previous row's hash.

    On PostgreSQL a trigger rejects UPDATE, DELETE and TRUNCATE; `manage.py verify_audit` re-walks the
    chain everywhere.
    """

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    chain = models.CharField(max_length=64, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    created_at = models.DateTimeField(editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)  # survives the user's deletion
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False, unique=True)
    # Which run and config the event is about (derived from the target when it is written: a run, a row
    # of a run, or a config), so the audit search filters by config, account and agent with an index
    # instead of matching object ids as text. Lookup columns, not content: outside the hash, and never
    # constrained, since the log outlives what it describes.
    run = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    config = models.ForeignKey(
        Config,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_tenant_config serves it
        related_name="+",
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_recent"),
            models.Index(fields=["tenant", "action", "-created_at"], name="audit_tenant_action"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["tenant", "config", "-created_at"], name="audit_tenant_config"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action}"


# --- runs ------------------------------------------------------------------------------------------
# Everything below is tenant-owned and read through `for_user(user, action)`. State changes go through
# `runs.services` (the lifecycle is `runs.states`); nothing here has behaviour in save() or signals.


class RunKind(models.TextChoices):
    CHANGE = "change", "Change"
    DRIFT = "drift", "Drift check"
    RECONCILE = "reconcile", "Reconcile"
    DESTROY = "destroy", "Destroy"


class RunEngine(models.TextChoices):
    """What carries the change out (`runs.engines`; settings.GANTRY_ENGINES maps each to its code)."""

    TERRAFORM = "terraform", "Terraform"
    AWS = "aws", "AWS actions"


class RunQuerySet(TenantScopedQuerySet):
    """Tenant scope by role, narrowed by the config: a run on a restricted config is only actionable by
    those who may use that config (`Config.objects.for_user(user, action)` as a subquery)."""

    def for_user(self, user, action: str = "view") -> models.QuerySet:
        qs = super().for_user(user, action)
        if action in CONFIG_NARROWED_ACTIONS:
            qs = qs.filter(config__in=Config.objects.for_user(user, action).values("pk"))
        return qs


class Run(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="runs")
    config = models.ForeignKey(Config, on_delete=models.PROTECT, related_name="runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )  # the run this one re-plans
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts"
    )  # a request spanning several stacks: one run per stack, the first is the parent
    request_text = models.TextField(max_length=10_000)
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.CHANGE)
    engine = models.CharField(max_length=16, choices=RunEngine.choices, default=RunEngine.TERRAFORM)

    # Understanding the request
    intent = models.JSONField(default=dict, blank=True)
    agent = models.CharField(max_length=64, blank=True)
    parser = models.CharField(max_length=32, blank=True)
    belief = models.JSONField(default=dict, blank=True)
    clarification = models.JSONField(default=dict, blank=True)  # {"questions": [...], "answers": {...}}
    blueprint_version_id = models.IntegerField(null=True, blank=True)
    spec = models.JSONField(default=dict, blank=True)
    workspace_key = models.CharField(max_length=200, db_index=True)

    # Lifecycle (the job row is the truth)
    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.QUEUED)
    last_event_seq = models.PositiveIntegerField(default=0, editable=False)
    stage_timings = models.JSONField(default=dict, blank=True)  # {stage: {"started": iso, "ms": int}}
    log_tail = models.TextField(blank=True)  # the last lines of the current stage, redacted

    # What was planned (and what approvals bind to)
    spec_sha256 = models.CharField(max_length=64, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    plan_sha256 = models.CharField(max_length=64, blank=True)
    config_version = models.PositiveIntegerField(null=True, blank=True)
    gate_digest = models.CharField(max_length=64, blank=True)
    cost_estimate = models.JSONField(default=dict, blank=True)
    plan_summary = models.JSONField(default=dict, blank=True)  # {"add": n, "change": n, "destroy": n}
    has_changes = models.BooleanField(null=True, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    error_category = models.CharField(max_length=32, blank=True)

    # Approval
    approvals_required = models.PositiveSmallIntegerField(default=1)
    ticket_required = models.BooleanField(default=False)  # a policy asked for a change ticket on this plan
    awaiting_approval_since = models.DateTimeField(null=True, blank=True)
    approval_deadline = models.DateTimeField(null=True, blank=True)
    apply_requested_at = models.DateTimeField(null=True, blank=True)
    apply_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    apply_started_at = models.DateTimeField(null=True, blank=True)

    # Worker bookkeeping: a lease taken with a conditional UPDATE, kept alive by the heartbeat
    worker_lease = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="run_tenant_recent"),
            models.Index(fields=["tenant", "status", "-created_at"], name="run_tenant_status"),
            models.Index(fields=["tenant", "config", "-created_at"], name="run_tenant_config"),
            # The audit search's agent filter: the ids of an agent's runs, read from the index alone.
            models.Index(fields=["agent", "id"], name="run_agent_ids"),
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return is_end(self.status)


class RunScoped(models.Model):
    """Rows hanging off a run carry the tenant too, so they are scoped the same way."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class RunEvent(RunScoped):
    """The run's timeline: one row per state change (or note, with from == to)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24)
    message = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_event_seq_unique")]

    def __str__(self) -> str:
        return f"#{self.run_id}.{self.seq} {self.from_status or '∅'} → {self.to_status}"


class GateStatus(models.TextChoices):
    PASS = "pass", "Pass"
    WARN = "warn", "Warning"
    FAIL = "fail", "Fail"


class GateResult(RunScoped):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="gate_results")
    name = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=GateStatus.choices)
    summary = models.CharField(max_length=1000, blank=True)
    findings = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["run", "order"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="gate_result_unique_per_run")]

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"


class ApprovalDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Approval(RunScoped):
    """Binds a decision to exactly what was planned: plan file, rendered source, spec, config version and
    gate digest. Live approvals (not voided) are unique per approver, run and plan in the database."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=ApprovalDecision.choices)
    comment = models.TextField(blank=True, max_length=4000)
    change_ticket = models.CharField(max_length=120, blank=True)
    plan_sha256 = models.CharField(max_length=64)
    spec_sha256 = models.CharField(max_length=64, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    config_version = models.PositiveIntegerField()
    gate_digest = models.CharField(max_length=64, blank=True)
    acknowledged_warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["run", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "approver", "plan_sha256"],
                condition=models.Q(voided_at__isnull=True),
                name="one_live_approval_per_approver_plan",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} on run #{self.run_id}"


class ArtifactKind(models.TextChoices):
    SOURCE_ARCHIVE = "source_archive", "Rendered source (archive)"
    PLAN_FILE = "plan_file", "Plan file"
    PLAN_JSON_REDACTED = "plan_json_redacted", "Plan JSON (redacted)"
    PLAN_TEXT = "plan_text", "Plan text"
    GATE_REPORT = "gate_report", "Gate report"
    COST_REPORT = "cost_report", "Cost report"
    APPLY_LOG = "apply_log", "Apply log"


class Artifact(RunScoped):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=24, choices=ArtifactKind.choices)
    key = models.CharField(max_length=500, unique=True)  # storage name: tenants/<id>/runs/<id>/...
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    filename = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "kind", "-created_at"]
        indexes = [models.Index(fields=["run", "kind"], name="artifact_run_kind")]

    def __str__(self) -> str:
        return f"{self.kind} of run #{self.run_id}"


class WorkspaceLock(RunScoped):
    """One plan or apply per workspace at a time: taken by INSERT (the unique key is the lock)."""

    workspace_key = models.CharField(max_length=200, unique=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=8, default="plan")  # plan | apply
    acquired_at = models.DateTimeField(auto_now_add=True)
    flagged = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=500, blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    terraform_lock_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["workspace_key"]

    def __str__(self) -> str:
        return f"{self.workspace_key} held by run #{self.run_id}"


class AppliedPlan(RunScoped):
    """A plan is applied at most once: inserted in the transaction that moves the run to applying."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="applied_plan")
    workspace_key = models.CharField(max_length=200)
    plan_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace_key", "plan_sha256"], name="plan_applied_once")
        ]

    def __str__(self) -> str:
        return f"{self.plan_sha256[:12]} on {self.workspace_key}"


class Notification(RunScoped):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    message = models.CharField(max_length=500)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class TenantWebhook(RunScoped):
    """Optional per-tenant webhook: run events POSTed as JSON, signed with HMAC-SHA256."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    is_active = models.BooleanField(default=True)
    events = models.JSONField(default=list, blank=True, help_text="Run statuses to send; empty: all.")
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Webhook of {self.tenant}"


class SavedSearch(RunScoped):
    """A user's named audit search: the query string of the audit page's filters."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=16, default="runs")  # which list: runs or events
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "name"], name="one_saved_search_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name
