"""Blueprints: reusable, reviewed compositions of a curated stack, and their immutable versions.

A blueprint with ``tenant`` NULL is platform-wide (the curated ones in ``data/curated.json``); every
other blueprint belongs to one tenant. Reads go through ``for_user(user, action)``: platform rows plus
the rows of the user's tenants whose role allows the action. Platform rows are changed only by
superusers (``blueprint.approve`` and the curated loader).

Versions are write-once: a ``BlueprintVersion``'s spec and sha256 never change; the only later write is
its approval (``approved_by``/``approved_at``, once), done by ``blueprints.services.blueprint_approve``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from blueprints.stacks import STACK_CHOICES
from tenants.models import Tenant, memberships_allowing

# Actions that change a platform-wide row; only superusers get platform rows for these.
PLATFORM_WRITE_ACTIONS = frozenset({"blueprint.approve", "tenant.manage", "policy.manage"})


class BlueprintStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"


class BlueprintQuerySet(models.QuerySet):
    tenant_field = "tenant"

    def for_user(self, user, action: str = "view") -> models.QuerySet:
        """Platform rows plus the rows of tenants where the user's role allows ``action``."""
        if user is None or not user.is_authenticated:
            return self.none()
        field = self.tenant_field
        own = Q(**{f"{field}__in": memberships_allowing(user, action)})
        if action in PLATFORM_WRITE_ACTIONS and not user.is_superuser:
            return self.filter(own)
        return self.filter(own | Q(**{f"{field}__isnull": True}))

    def approved(self) -> models.QuerySet:
        return self.filter(status=BlueprintStatus.APPROVED)


class Blueprint(models.Model):
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="blueprints"
    )  # NULL: platform-wide
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80)
    description = models.TextField(blank=True)
    stack = models.CharField(max_length=32, choices=STACK_CHOICES)
    resource_types = models.JSONField(default=list, blank=True)
    parameter_schema = models.JSONField(default=dict, blank=True)
    defaults = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=BlueprintStatus.choices, default=BlueprintStatus.DRAFT)
    usage_count = models.PositiveIntegerField(default=0)
    source_run_id = models.BigIntegerField(null=True, blank=True)  # the run it was saved from
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BlueprintQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "slug"], condition=Q(tenant__isnull=False), name="blueprint_slug_in_tenant"
            ),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(tenant__isnull=True), name="blueprint_slug_platform"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.stack})"

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    def latest_version(self) -> BlueprintVersion | None:
        return self.versions.order_by("-number").first()

    def latest_approved_version(self) -> BlueprintVersion | None:
        return self.versions.filter(approved_at__isnull=False).order_by("-number").first()


class BlueprintVersionQuerySet(BlueprintQuerySet):
    tenant_field = "blueprint__tenant"


class BlueprintVersion(models.Model):
    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField()
    source_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BlueprintVersionQuerySet.as_manager()

    # The only fields a saved version may ever change (once, on approval).
    APPROVAL_FIELDS = frozenset({"approved_by", "approved_at"})

    class Meta:
        ordering = ["blueprint", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["blueprint", "number"], name="blueprint_version_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.blueprint.slug} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        # Integrity guard, not business logic: a stored version's content is never rewritten.
        if self.pk is not None and not kwargs.get("force_insert"):
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.APPROVAL_FIELDS:
                raise ValueError("blueprint versions are immutable; create a new version instead")
        super().save(*args, **kwargs)
