"""Shared fixtures: two tenants with one member per role, and clients signed in as any of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tenants.context import SESSION_CONFIG, SESSION_TENANT
from tenants.roles import Role
from tenants.tests.factories import AwsAccountFactory, ConfigFactory, MembershipFactory, TenantFactory

ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]


@dataclass
class World:
    """A tenant with an account, a dev and a prod config, and a member for each role."""

    tenant: object
    account: object
    dev: object
    prod: object
    members: dict = field(default_factory=dict)

    def user(self, role: str):
        return self.members[role].user


def build_world(label: str) -> World:
    tenant = TenantFactory(name=f"{label} Corp", slug=label)
    account = AwsAccountFactory(tenant=tenant, name=f"{label}-sandbox")
    dev = ConfigFactory(tenant=tenant, account=account, name="dev", env="dev", workspace=f"{label}-dev")
    prod = ConfigFactory(tenant=tenant, account=account, name="prod", env="prod", workspace=f"{label}-prod")
    world = World(tenant=tenant, account=account, dev=dev, prod=prod)
    for role in ROLES:
        world.members[role] = MembershipFactory(
            tenant=tenant, role=role, user__username=f"{label}-{role}", user__email=f"{role}@{label}.test"
        )
    return world


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media")},
    }}  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness only slows the suite down; tests don't need it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _locmem_cache(settings):
    """An empty cache per test: locmem storage is per process, so without the clear a cached model parse
    (or rate-limit counter) from one test would leak into the next."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def own(db) -> World:
    return build_world("acme")


@pytest.fixture
def other(db) -> World:
    return build_world("globex")


@pytest.fixture
def client_as(client):
    """client_as(user, tenant=None, config=None): a client signed in with that tenant/config active."""

    def sign_in(user, tenant=None, config=None):
        client.force_login(user)
        session = client.session
        if tenant is not None:
            session[SESSION_TENANT] = tenant.pk
        if config is not None:
            session[SESSION_CONFIG] = config.pk
        session.save()
        return client

    return sign_in


@pytest.fixture(scope="session")
def endpoint():
    """URL of one embedded sandbox (moto server on loopback) shared by the session; tests use unique names."""
    from iac import sandbox

    server, url = sandbox.start_threaded()
    yield url
    server.stop()


@pytest.fixture
def sandbox_settings(settings, endpoint):
    """Point the AWS session factory and rendered providers at the shared sandbox, with the plugin mirror."""
    from iac.testing import PLUGIN_DIR
    from tenants.aws import clear_cache

    settings.GANTRY_SANDBOX_ENDPOINT = endpoint
    settings.TERRAFORM_PLUGIN_DIR = PLUGIN_DIR
    clear_cache()
    yield settings
    clear_cache()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires_tools(*names): needs these programs (portal.testing.requirements)"
    )


def pytest_runtest_setup(item):
    """A missing program skips the test, or fails it under GANTRY_REQUIRE_SERVICES=1."""
    from portal.testing.requirements import check_marks

    check_marks(item)
