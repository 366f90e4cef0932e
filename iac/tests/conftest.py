"""Shared IaC test fixtures: one embedded sandbox (moto server) per test session, the plugin mirror."""

from __future__ import annotations

import os

import pytest

from iac import sandbox

# The hashicorp/aws mirror terraform installs from offline (`make test` exports it).
PLUGIN_DIR = os.environ.get("TERRAFORM_PLUGIN_DIR") or "/opt/tf-plugins"


@pytest.fixture(scope="session")
def endpoint():
    """URL of a moto server on loopback shared by every test of the session (tests use unique names)."""
    server, url = sandbox.start_threaded()
    yield url
    server.stop()


@pytest.fixture
def sandbox_settings(settings, endpoint):
    """Point GANTRY_SANDBOX_ENDPOINT (STS for session_for_account, rendered endpoints) at the shared server."""
    from tenants.aws import clear_cache

    settings.GANTRY_SANDBOX_ENDPOINT = endpoint
    settings.TERRAFORM_PLUGIN_DIR = PLUGIN_DIR
    clear_cache()
    yield settings
    clear_cache()
