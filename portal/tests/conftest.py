"""Real-service fixtures for the integration tests in this package (see portal.testing.fixtures)."""

from portal.testing.fixtures import (  # noqa: F401
    gantry_var_dir,
    migrated_postgres,
    migrated_postgres_template,
    moto_endpoint,
    new_postgres_database,
    postgres_dsn,
    redis_url,
    start_celery_worker,
)
