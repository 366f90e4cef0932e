"""Each sandbox account is its own moto account: the platform assigns the id, and no two sandbox accounts
share one, so one tenant's resources never show through another tenant's read-only AWS layer."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from agents.aws_readonly import ReadOnlyAws
from tenants import services
from tenants.aws import session_for_account
from tenants.models import MOTO_DEFAULT_ACCOUNT_ID, SANDBOX_ID_TAKEN, AccountMode, AwsAccount
from tenants.roles import Role
from tenants.tests.factories import AwsAccountFactory, ConfigFactory, MembershipFactory

pytestmark = pytest.mark.django_db

ACCOUNT_FIELDS = {"mode": AccountMode.SANDBOX, "default_region": "us-east-1", "budget_currency": "INR"}


def admin_of(slug: str):
    return MembershipFactory(tenant__slug=slug, tenant__name=slug.title(), role=Role.ADMIN)


def launch_instance(account: AwsAccount) -> str:
    ec2 = session_for_account(account).client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    reservation = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    return reservation["Instances"][0]["InstanceId"]


def listed_ids(account: AwsAccount) -> set[str]:
    config = ConfigFactory(tenant=account.tenant, account=account)
    return {i["id"] for i in ReadOnlyAws(config).ec2_list_instances()["instances"]}


def test_platform_assigned_ids_keep_two_tenants_apart(sandbox_settings):
    acme, globex = admin_of("acme"), admin_of("globex")
    one = services.account_create(actor_membership=acme, name="sandbox", **ACCOUNT_FIELDS)
    two = services.account_create(actor_membership=globex, name="sandbox", **ACCOUNT_FIELDS)

    assert one.account_id != two.account_id
    for account in (one, two):
        assert len(account.account_id) == 12 and account.account_id.isdigit()
        assert account.account_id != MOTO_DEFAULT_ACCOUNT_ID

    acme_instance, globex_instance = launch_instance(one), launch_instance(two)
    assert acme_instance in listed_ids(one) and globex_instance not in listed_ids(one)
    assert globex_instance in listed_ids(two) and acme_instance not in listed_ids(two)


def test_service_refuses_an_id_another_tenant_holds():
    held = AwsAccountFactory(account_id="300000000001")
    acme = admin_of("acme")
    with pytest.raises(ValidationError) as error:
        services.account_create(
            actor_membership=acme, name="mine", account_id=held.account_id, **ACCOUNT_FIELDS
        )
    assert error.value.message_dict["account_id"] == [SANDBOX_ID_TAKEN]
    assert not AwsAccount.objects.filter(tenant=acme.tenant).exists()


def test_update_to_a_taken_id_is_refused_and_changes_nothing():
    AwsAccountFactory(account_id="300000000002")
    acme = admin_of("acme")
    mine = services.account_create(actor_membership=acme, name="mine", **ACCOUNT_FIELDS)
    with pytest.raises(ValidationError):
        services.account_update(actor_membership=acme, account_pk=mine.pk, account_id="300000000002")
    mine.refresh_from_db()
    assert mine.account_id != "300000000002"


def test_aws_mode_needs_its_own_id():
    acme = admin_of("acme")
    with pytest.raises(ValidationError) as error:
        services.account_create(
            actor_membership=acme,
            name="real",
            role_arn="arn:aws:iam::210000000009:role/GantryDeploy",
            **{**ACCOUNT_FIELDS, "mode": AccountMode.AWS},
        )
    assert "need their 12-digit AWS account id" in str(error.value.message_dict["account_id"])
    assert not AwsAccount.objects.filter(tenant=acme.tenant).exists()


def test_form_shows_the_error_and_creates_nothing(client_as):
    held = AwsAccountFactory(account_id="300000000003")
    acme = admin_of("acme")
    page = client_as(acme.user, tenant=acme.tenant).post(
        reverse("aws_account_create"),
        {
            "name": "mine",
            "account_id": held.account_id,
            "mode": "sandbox",
            "default_region": "us-east-1",
            "budget_currency": "INR",
            "kms_preference": "customer_managed",
        },
    )
    assert page.status_code == 200
    assert SANDBOX_ID_TAKEN in page.content.decode()
    assert not AwsAccount.objects.filter(tenant=acme.tenant).exists()


def test_form_without_an_id_gets_one_assigned(client_as):
    acme = admin_of("acme")
    page = client_as(acme.user, tenant=acme.tenant).post(
        reverse("aws_account_create"),
        {
            "name": "mine",
            "mode": "sandbox",
            "default_region": "us-east-1",
            "budget_currency": "INR",
            "kms_preference": "customer_managed",
        },
    )
    assert page.status_code == 302
    assert AwsAccount.objects.get(tenant=acme.tenant).account_id.isdigit()


def test_database_forbids_shared_sandbox_ids_but_not_shared_real_ones():
    AwsAccountFactory(account_id="300000000004")
    with pytest.raises(IntegrityError), transaction.atomic():
        AwsAccountFactory(account_id="300000000004")
    real = {"mode": AccountMode.AWS, "account_id": "300000000005"}
    AwsAccountFactory(role_arn="arn:aws:iam::300000000005:role/A", **real)
    AwsAccountFactory(role_arn="arn:aws:iam::300000000005:role/B", **real)
