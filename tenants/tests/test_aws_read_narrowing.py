"""`aws.read` is narrowed like planning: on a restricted config only admins and granted members read the
account, whatever their role allows on unrestricted ones."""

import pytest

from tenants.models import Config
from tenants.roles import CONFIG_NARROWED_ACTIONS, Role, least_role
from tenants.services import config_set_grant, config_update


@pytest.fixture
def restricted_prod(own):
    config_update(actor_membership=own.members[Role.ADMIN], config_id=own.prod.pk, restricted=True)
    return Config.objects.get(pk=own.prod.pk)


def readable(user, tenant) -> set[str]:
    return set(Config.objects.for_user(user, "aws.read").filter(tenant=tenant).values_list("name", flat=True))


def test_aws_read_is_a_viewer_action_that_restricted_configs_narrow():
    assert least_role("aws.read") == Role.VIEWER and "aws.read" in CONFIG_NARROWED_ACTIONS
    assert "view" not in CONFIG_NARROWED_ACTIONS  # seeing a config's name and runs is not reading its account


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER])
def test_members_read_a_restricted_account_only_with_a_grant(own, restricted_prod, role):
    user = own.user(role)
    assert readable(user, own.tenant) == {"dev"}
    assert restricted_prod in Config.objects.for_user(user, "view")  # still visible by name
    admin = own.members[Role.ADMIN]
    config_set_grant(actor_membership=admin, config_id=restricted_prod.pk, user_id=user.pk, granted=True)
    assert readable(user, own.tenant) == {"dev", "prod"}
    config_set_grant(actor_membership=admin, config_id=restricted_prod.pk, user_id=user.pk, granted=False)
    assert readable(user, own.tenant) == {"dev"}


def test_admins_read_every_account_and_nobody_reads_another_tenants(own, other, restricted_prod):
    assert readable(own.user(Role.ADMIN), own.tenant) == {"dev", "prod"}
    assert readable(own.user(Role.ADMIN), other.tenant) == set()
