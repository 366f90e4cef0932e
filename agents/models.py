"""Agent records: what each language-model call cost, per tenant and per run."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from tenants.models import Tenant, TenantScopedQuerySet


class LlmOutcome(models.TextChoices):
    OK = "ok", "OK"
    REPAIRED = "repaired", "OK after a repair retry"
    INVALID = "invalid", "Invalid after the repair retry"
    REFUSED = "refused", "Refused (out-of-schema or Terraform-like content)"
    ERROR = "error", "Provider error"
    TIMEOUT = "timeout", "Timed out"


class LlmUsage(models.Model):
    """One parse through the LLM (all its attempts): tokens, cost and outcome. ``tenant`` is NULL for
    platform use (the ``intent`` command without a tenant); ``run_id`` names the run when there is one."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    model = models.CharField(max_length=200)
    attempts = models.PositiveSmallIntegerField(default=1)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=LlmOutcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="llm_usage_tenant_recent")]
        verbose_name = "LLM usage"
        verbose_name_plural = "LLM usage"

    def __str__(self) -> str:
        return f"{self.model} {self.outcome} {self.prompt_tokens}+{self.completion_tokens} tokens"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
