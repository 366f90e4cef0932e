"""Idempotent demo data: a tenant, one user per role, a sandbox account, dev and prod configs; with --world,
also the small running AWS world in that sandbox account (tenants/demo_world.py)."""

import os
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from iac.sandbox import is_running
from runs.audit import audit_record
from tenants.demo_world import DEMO_ACCOUNT_NAME, DEMO_TENANT_SLUG, build_demo_world
from tenants.models import AccountMode, AwsAccount, Config, Currency, Membership, Tenant
from tenants.roles import Role
from tenants.services import new_sandbox_account_id

DEMO_DOMAIN = "demo.gantry.local"
DEMO_USERS = [
    ("admin", Role.ADMIN),
    ("approver", Role.APPROVER),
    ("approver2", Role.APPROVER),
    ("operator", Role.OPERATOR),
    ("viewer", Role.VIEWER),
]


def demo_password(name: str) -> str:
    """Known demo passwords (suffix from GANTRY_DEMO_PASSWORD_SUFFIX); never seed production."""
    return f"{name}-{os.environ.get('GANTRY_DEMO_PASSWORD_SUFFIX', 'gantry-demo')}"


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant, users, sandbox account and configs. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--world",
            action="store_true",
            help="also build the demo AWS world in the running sandbox (make run does this once it answers)",
        )

    def handle(self, *args, world: bool, **options):
        account = self.seed_database()
        if world:
            if not is_running(settings.GANTRY_SANDBOX_ENDPOINT):
                raise CommandError(
                    f"The AWS sandbox does not answer at {settings.GANTRY_SANDBOX_ENDPOINT}; "
                    "start it with `manage.py sandbox` (or `make run`, which builds the world itself)."
                )
            self.report_world(build_demo_world(account))

    def report_world(self, counts: dict[str, int]) -> None:
        self.stdout.write("Demo AWS world: " + ", ".join(f"{n} {what}" for what, n in counts.items()))

    @transaction.atomic
    def seed_database(self) -> AwsAccount:
        tenant, created = Tenant.objects.get_or_create(
            slug=DEMO_TENANT_SLUG, defaults={"name": "Demo Platform Team"}
        )
        users = {}
        for name, role in DEMO_USERS:
            email = f"{name}@{DEMO_DOMAIN}"
            user, _ = get_user_model().objects.get_or_create(username=name, defaults={"email": email})
            user.email = email
            user.set_password(demo_password(name))
            user.save()
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": role})
            users[name] = user
        account, _ = AwsAccount.objects.get_or_create(
            tenant=tenant,
            name=DEMO_ACCOUNT_NAME,
            defaults={
                "alias": "Embedded AWS sandbox",
                "account_id": new_sandbox_account_id(),
                "mode": AccountMode.SANDBOX,
                "default_region": "ap-south-1",
                "allowed_regions": ["ap-south-1", "us-east-1", "eu-central-1"],
                "mandatory_tags": ["Owner", "CostCenter"],
                "daily_budget": Decimal("5000"),
                "monthly_budget": Decimal("150000"),
                "budget_currency": Currency.INR,
            },
        )
        for name, env in [("dev", "dev"), ("prod", "prod")]:
            Config.objects.get_or_create(
                tenant=tenant,
                name=name,
                defaults={
                    "account": account,
                    "env": env,
                    "workspace": f"demo-{name}",
                    "default_tags": {"Owner": "platform-team", "CostCenter": "cc-100", "Environment": env},
                    "vpc_preferences": {
                        "cidr": "10.20.0.0/16" if env == "dev" else "10.30.0.0/16",
                        "az_count": 2,
                    },
                },
            )
        if created:
            audit_record(tenant=tenant, action="tenant.seeded", summary="Demo tenant created by seed_demo")
        self.stdout.write(self.style.SUCCESS(f"Demo tenant '{tenant.name}' is ready. Sign in as:"))
        for name, role in DEMO_USERS:
            self.stdout.write(f"  {role:<9} {users[name].email:<32} password: {demo_password(name)}")
        return account
