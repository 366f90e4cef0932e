"""`manage.py check --deploy` is clean with production settings (PostgreSQL, Redis, S3, HTTPS)."""

from __future__ import annotations

import secrets
import string

import pytest

from portal.testing import services

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis]


def production_env(postgres_dsn: str, redis_url: str, var_dir) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return {
        "DJANGO_SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
        "DJANGO_DEBUG": "false",
        "GANTRY_HTTPS": "true",
        "DJANGO_ALLOWED_HOSTS": "gantry.example.com",
        "DATABASE_URL": postgres_dsn,
        "REDIS_URL": redis_url,
        "GANTRY_STORAGE": "s3",
        "GANTRY_S3_BUCKET": "x",
        "GANTRY_VAR_DIR": str(var_dir),
    }


def test_check_deploy_reports_nothing(postgres_dsn, redis_url, gantry_var_dir):
    env = production_env(postgres_dsn, redis_url, gantry_var_dir)
    result = services.run_manage(
        ["check", "--deploy", "--fail-level", "WARNING", "--database", "default"], env, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output and "?: (" not in output, output


def test_check_deploy_fails_on_insecure_settings(postgres_dsn, redis_url, gantry_var_dir):
    """The guard works: the same environment without HTTPS and with DEBUG on is refused."""
    env = {
        **production_env(postgres_dsn, redis_url, gantry_var_dir),
        "GANTRY_HTTPS": "false",
        "DJANGO_DEBUG": "true",
    }
    result = services.run_manage(["check", "--deploy", "--fail-level", "WARNING"], env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016", "security.W018"):
        assert check_id in output, output
