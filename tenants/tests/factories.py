import os
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from tenants.models import AccountMode, AwsAccount, Config, Membership, Tenant
from tenants.roles import Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct-horse-battery")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OPERATOR


def sandbox_account_id(n: int) -> str:
    """Unique across the xdist workers too: tests share one sandbox, and two workers' accounts with the
    same id would share moto's resources and Terraform state."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return f"{100000000000 + (int(worker) if worker.isdigit() else 0) * 10**9 + n}"


class AwsAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AwsAccount

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"account-{n}")
    account_id = factory.Sequence(lambda n: sandbox_account_id(n))
    mode = AccountMode.SANDBOX
    default_region = "ap-south-1"
    allowed_regions = factory.LazyFunction(lambda: ["ap-south-1", "us-east-1"])
    daily_budget = Decimal("1500")
    budget_currency = "INR"


class ConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Config

    tenant = factory.SubFactory(TenantFactory)
    account = factory.SubFactory(AwsAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"config-{n}")
    env = "dev"
    workspace = factory.Sequence(lambda n: f"ws-{n}")
    default_tags = factory.LazyFunction(lambda: {"Owner": "team"})
