"""Tenants, memberships, invitations, AWS accounts and configs.

Every tenant-owned row is read through `Model.objects.for_user(user, action)`: the query itself carries
the tenant scope, so a view cannot forget it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .roles import CONFIG_NARROWED_ACTIONS, Role, roles_allowed

ACCOUNT_ID_VALIDATOR = RegexValidator(r"^\d{12}$", "An AWS account id is 12 digits.")
ROLE_ARN_VALIDATOR = RegexValidator(
    r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$",
    "Expected a role ARN like arn:aws:iam::123456789012:role/GantryDeploy.",
)
REGION_VALIDATOR = RegexValidator(
    r"^[a-z]{2}(-gov)?-[a-z]+-\d$", "Expected an AWS region code like ap-south-1."
)
SLUG_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,62}$", "Lower-case letters, digits and dashes.")


class Currency(models.TextChoices):
    USD = "USD", "US dollar ($)"
    INR = "INR", "Indian rupee (₹)"
    EUR = "EUR", "Euro (€)"
    GBP = "GBP", "Pound sterling (£)"


class Tenant(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=63, unique=True, validators=[SLUG_VALIDATOR])
    is_active = models.BooleanField(default=True)
    mfa_required_for_privileged = models.BooleanField(
        "MFA required for approvers and admins",
        default=False,
        help_text="Approvers and admins must set up an authenticator app before using the portal.",
    )
    forbid_self_approval = models.BooleanField(
        default=True, help_text="A requester cannot approve their own run."
    )
    checkov_skip_checks = models.JSONField(
        default=dict,
        blank=True,
        help_text='Checkov checks this tenant skips, each with its reason: {"CKV_AWS_91": "why"}.',
    )
    checkov_severity_threshold = models.CharField(
        max_length=8,
        blank=True,
        choices=[("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical")],
        help_text="Checkov findings below this severity do not block (empty: every finding blocks).",
    )
    freeform_composition = models.BooleanField(
        "Free-form composition",
        default=False,
        help_text="With a language model configured, requests no curated stack covers may be composed "
        "from curated modules (never raw Terraform). Off by default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        skips = self.checkov_skip_checks = self.checkov_skip_checks or {}
        if not isinstance(skips, dict) or not all(
            re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", str(check)) and isinstance(reason, str) and reason.strip()
            for check, reason in skips.items()
        ):
            raise ValidationError(
                {
                    "checkov_skip_checks": 'Use {"CKV_AWS_91": "reason", …}: a check id and a reason for each skip.'
                }
            )


def memberships_allowing(user, action: str) -> models.QuerySet:
    """The tenant ids in which `user`'s role allows `action` (a subquery)."""
    return Membership.objects.filter(
        user=user, role__in=roles_allowed(action), tenant__is_active=True
    ).values("tenant_id")


class TenantScopedQuerySet(models.QuerySet):
    tenant_field = "tenant"

    def for_user(self, user, action: str = "view") -> models.QuerySet:
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(**{f"{self.tenant_field}__in": memberships_allowing(user, action)})


class TenantOwned(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class Membership(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="one_membership_per_tenant")]
        ordering = ["tenant__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


def hash_invitation_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def new_invitation_code() -> str:
    return secrets.token_urlsafe(18)


def default_invitation_expiry():
    return timezone.now() + timedelta(days=7)


class Invitation(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True, help_text="Optional: only this address can accept.")
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    code_hint = models.CharField(max_length=8, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    expires_at = models.DateTimeField(default=default_invitation_expiry)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation …{self.code_hint} to {self.tenant} as {self.role}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class AccountMode(models.TextChoices):
    SANDBOX = "sandbox", "Embedded sandbox"
    AWS = "aws", "AWS (AssumeRole)"


class KmsPreference(models.TextChoices):
    CUSTOMER_MANAGED = "customer_managed", "Customer-managed key per stack"
    EXISTING = "existing", "Existing key (set on the config)"
    AWS_MANAGED = "aws_managed", "AWS-managed keys"


def new_external_id() -> str:
    return f"gantry-{secrets.token_hex(16)}"


# moto's default account: clients using the sandbox's placeholder keys (the Terraform state backend) land
# there, so no tenant's sandbox account may share it.
MOTO_DEFAULT_ACCOUNT_ID = "123456789012"
SANDBOX_ID_TAKEN = (
    "This sandbox account id is already taken; leave it empty and the platform assigns a fresh one."
)


def random_account_id() -> str:
    """A random 12-digit id without a leading zero; `services.new_sandbox_account_id` makes it unique."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


class AwsAccount(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="accounts")
    name = models.CharField(max_length=80)
    alias = models.CharField(max_length=80, blank=True)
    account_id = models.CharField(max_length=12, validators=[ACCOUNT_ID_VALIDATOR])
    mode = models.CharField(max_length=8, choices=AccountMode.choices, default=AccountMode.SANDBOX)
    role_arn = models.CharField(
        "role ARN",
        max_length=2048,
        blank=True,
        validators=[ROLE_ARN_VALIDATOR],
        help_text="The role Gantry assumes in this account (mode aws).",
    )
    external_id = models.CharField(
        max_length=64,
        unique=True,
        default=new_external_id,
        editable=False,
        help_text="Generated by the platform; put it in the role's trust policy.",
    )
    default_region = models.CharField(max_length=32, default="us-east-1", validators=[REGION_VALIDATOR])
    allowed_regions = models.JSONField(default=list, blank=True, help_text="Empty: only the default region.")
    allowed_services = models.JSONField(default=list, blank=True, help_text="Empty: every curated service.")
    mandatory_tags = models.JSONField(
        default=list, blank=True, help_text="Tag keys every resource must carry."
    )
    daily_budget = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    monthly_budget = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    budget_currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    kms_preference = models.CharField(
        max_length=20, choices=KmsPreference.choices, default=KmsPreference.CUSTOMER_MANAGED
    )
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_verified_identity = models.CharField(max_length=2048, blank=True)
    last_verification_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="account_name_unique_in_tenant"),
            models.CheckConstraint(
                condition=Q(mode="sandbox") | ~Q(role_arn=""), name="aws_account_needs_role_arn"
            ),
            # The sandbox keeps accounts apart by id alone: two rows sharing one would share resources.
            models.UniqueConstraint(
                fields=["account_id"],
                condition=Q(mode="sandbox"),
                name="sandbox_account_id_unique",
                violation_error_message=SANDBOX_ID_TAKEN,
            ),
        ]
        verbose_name = "AWS account"

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    @property
    def regions(self) -> list[str]:
        return sorted({self.default_region, *self.allowed_regions})


class Environment(models.TextChoices):
    DEV = "dev", "Development"
    STAGING = "staging", "Staging"
    PROD = "prod", "Production"


class ConfigQuerySet(TenantScopedQuerySet):
    def for_user(self, user, action: str = "view") -> models.QuerySet:
        qs = super().for_user(user, action)
        if action not in CONFIG_NARROWED_ACTIONS:
            return qs
        from guardian.shortcuts import get_objects_for_user

        granted = get_objects_for_user(
            user, "tenants.use_config", klass=Config, accept_global_perms=False, with_superuser=False
        ).values("pk")
        admin_tenants = Membership.objects.filter(user=user, role=Role.ADMIN).values("tenant_id")
        return qs.filter(Q(restricted=False) | Q(tenant__in=admin_tenants) | Q(pk__in=granted))


class Config(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="configs")
    account = models.ForeignKey(AwsAccount, on_delete=models.PROTECT, related_name="configs")
    name = models.CharField(max_length=80)
    env = models.CharField(max_length=8, choices=Environment.choices, default=Environment.DEV)
    workspace = models.CharField(
        max_length=63, validators=[SLUG_VALIDATOR], help_text="Terraform state namespace for this config."
    )
    default_tags = models.JSONField(default=dict, blank=True)
    kms_key_arn = models.CharField("KMS key ARN", max_length=2048, blank=True)
    vpc_preferences = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"cidr": "10.20.0.0/16", "az_count": 2}'
    )
    region_override = models.CharField(max_length=32, blank=True, validators=[REGION_VALIDATOR])
    restricted = models.BooleanField(
        default=False,
        help_text="Only admins and members granted this config may plan, approve or apply with it.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConfigQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="config_name_unique_in_tenant"),
            models.UniqueConstraint(fields=["tenant", "workspace"], name="config_workspace_unique_in_tenant"),
        ]
        permissions = [("use_config", "May plan, approve and apply with this config")]

    def __str__(self) -> str:
        return f"{self.name} ({self.env})"

    @property
    def region(self) -> str:
        return self.region_override or self.account.default_region

    @property
    def tags(self) -> dict[str, str]:
        """Default tags plus the ones Gantry always sets."""
        return {**self.default_tags, "gantry:tenant": self.tenant.slug, "gantry:config": self.name}


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.strip().encode()).hexdigest()


class ApiToken(TenantOwned):
    """A personal access token for the REST API and the MCP server: shown once, stored as a sha256 hash,
    scoped to one tenant, and never above its owner's current role there (the effective role is the
    lower of `role` and the membership's role at each request)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)  # shown in lists to tell tokens apart
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
