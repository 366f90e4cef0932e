import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from runs.models import AuditEvent
from tenants.models import Config, Membership
from tenants.roles import Role
from tenants.services import (
    account_update,
    config_update,
    membership_change_role,
    membership_remove,
    tenant_update_settings,
)


def test_every_config_change_bumps_the_version_and_is_audited(own):
    admin = own.members[Role.ADMIN]
    config_update(actor_membership=admin, config_id=own.dev.pk, default_tags={"Owner": "new"})
    config = Config.objects.get(pk=own.dev.pk)
    assert config.version == 2
    event = AuditEvent.objects.filter(action="config.updated").get()
    assert event.data["changes"]["default_tags"] == [{"Owner": "team"}, {"Owner": "new"}]
    config_update(actor_membership=admin, config_id=own.dev.pk, default_tags={"Owner": "new"})  # no change
    assert Config.objects.get(pk=own.dev.pk).version == 2


def test_account_change_bumps_its_configs(own):
    account_update(
        actor_membership=own.members[Role.ADMIN], account_pk=own.account.pk, allowed_regions=["ap-south-1"]
    )
    assert set(Config.objects.values_list("version", flat=True)) == {2}


def test_region_override_must_be_allowed_by_the_account(own):
    with pytest.raises(ValidationError, match="not allowed"):
        config_update(
            actor_membership=own.members[Role.ADMIN], config_id=own.dev.pk, region_override="eu-west-3"
        )
    assert Config.objects.get(pk=own.dev.pk).version == 1


def test_config_cannot_use_another_tenants_account(own, other):
    with pytest.raises(ValidationError):
        config_update(actor_membership=own.members[Role.ADMIN], config_id=own.dev.pk, account=other.account)
    assert Config.objects.get(pk=own.dev.pk).account == own.account


def test_last_admin_cannot_be_demoted_or_removed(own):
    admin = own.members[Role.ADMIN]
    with pytest.raises(ValidationError, match="at least one admin"):
        membership_change_role(actor_membership=admin, membership_id=admin.pk, role="viewer")
    with pytest.raises(ValidationError, match="at least one admin"):
        membership_remove(actor_membership=admin, membership_id=admin.pk)
    assert Membership.objects.get(pk=admin.pk).role == Role.ADMIN


def test_aws_mode_needs_a_matching_role_arn(own):
    admin = own.members[Role.ADMIN]
    with pytest.raises(ValidationError, match="role ARN"):
        account_update(actor_membership=admin, account_pk=own.account.pk, mode="aws")
    with pytest.raises(ValidationError, match="another account"):
        account_update(
            actor_membership=admin,
            account_pk=own.account.pk,
            mode="aws",
            role_arn="arn:aws:iam::999999999999:role/Gantry",
        )


@pytest.mark.parametrize("skips", [["CKV_AWS_1"], {"CKV_AWS_1": ""}, {"not-a-check": "why"}])
def test_checkov_skips_need_a_check_id_and_a_reason(own, skips):
    with pytest.raises(ValidationError, match="reason"):
        tenant_update_settings(actor_membership=own.members[Role.ADMIN], checkov_skip_checks=skips)
    own.tenant.refresh_from_db()
    assert own.tenant.checkov_skip_checks == {}


def test_settings_page_shows_a_bad_skip_list_as_a_form_error(own, client_as):
    client = client_as(own.user(Role.ADMIN), own.tenant)
    response = client.post(reverse("tenant_settings"), {"name": "Acme", "checkov_skip_checks": '["x"]'})
    assert response.status_code == 200 and "a check id and a reason" in response.content.decode()
