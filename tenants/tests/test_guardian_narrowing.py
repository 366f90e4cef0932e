"""A restricted (prod) config is usable only by admins and the operators granted it."""

import pytest
from django.urls import reverse

from tenants import selectors
from tenants.models import Config
from tenants.roles import Role
from tenants.services import config_set_grant, config_update


@pytest.fixture
def restricted_prod(own):
    config_update(actor_membership=own.members[Role.ADMIN], config_id=own.prod.pk, restricted=True)
    return Config.objects.get(pk=own.prod.pk)


def test_non_granted_operator_cannot_use_restricted_config(own, restricted_prod, client_as):
    operator = own.user(Role.OPERATOR)
    assert restricted_prod not in selectors.usable_configs(operator, own.tenant)
    assert restricted_prod in selectors.visible_configs(operator, own.tenant)  # may still look at it
    client = client_as(operator, own.tenant, own.dev)
    response = client.post(reverse("context_switch"), {"config": restricted_prod.pk})
    assert response.status_code == 302
    assert client.session["gantry_config_id"] == own.dev.pk  # switch refused, active config unchanged


def test_granted_operator_can_use_it_and_revoking_takes_it_away(own, restricted_prod, client_as):
    operator = own.user(Role.OPERATOR)
    admin = own.members[Role.ADMIN]
    config_set_grant(actor_membership=admin, config_id=restricted_prod.pk, user_id=operator.pk, granted=True)
    assert restricted_prod in selectors.usable_configs(operator, own.tenant)
    client = client_as(operator, own.tenant, own.dev)
    client.post(reverse("context_switch"), {"config": restricted_prod.pk})
    assert client.session["gantry_config_id"] == restricted_prod.pk
    config_set_grant(actor_membership=admin, config_id=restricted_prod.pk, user_id=operator.pk, granted=False)
    assert restricted_prod not in selectors.usable_configs(operator, own.tenant)


def test_admin_always_uses_restricted_configs(own, restricted_prod):
    assert restricted_prod in selectors.usable_configs(own.user(Role.ADMIN), own.tenant)


def test_grant_does_not_cross_tenants(own, other, restricted_prod):
    """A grant on one tenant's config gives nothing in another tenant."""
    config_update(actor_membership=other.members[Role.ADMIN], config_id=other.prod.pk, restricted=True)
    operator = own.user(Role.OPERATOR)
    config_set_grant(
        actor_membership=own.members[Role.ADMIN],
        config_id=restricted_prod.pk,
        user_id=operator.pk,
        granted=True,
    )
    assert not Config.objects.for_user(operator, "config.use").filter(tenant=other.tenant).exists()


def test_viewer_cannot_use_any_config(own):
    assert not selectors.usable_configs(own.user(Role.VIEWER), own.tenant).exists()
