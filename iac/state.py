"""Terraform state placement: one s3 object per tenant/config/stack, one bucket per account and region.

    bucket  gantry-state-<account_id>-<region>              (GANTRY_STATE_BUCKET_TEMPLATE)
    key     tenants/<tenant-slug>/<config-workspace>/<stack>.tfstate
    locks   S3 lock files next to the state (GANTRY_STATE_LOCKING="lockfile", the default), or a DynamoDB
            table gantry-locks-<account_id>-<region> (GANTRY_STATE_LOCKING="dynamodb",
            GANTRY_STATE_LOCK_TABLE_TEMPLATE)

In sandbox mode the backend is created on first use with `iac.sandbox.ensure_state_backend`. That helper
talks to moto as the platform (moto's default account), while Terraform runs with the tenant account's
assumed-role credentials: S3 bucket names are global in moto, so the state bucket is reachable from the
account, but DynamoDB tables are per account, so with DynamoDB locking the table is also created in the
account's own scope. Real accounts are bootstrapped outside Gantry; `ensure_backend` only checks that
the bucket is reachable with the account's credentials.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from iac.placement import BackendSpec

if TYPE_CHECKING:
    from tenants.models import AwsAccount, Config

DEFAULT_BUCKET_TEMPLATE = "gantry-state-{account_id}-{region}"
DEFAULT_LOCK_TABLE_TEMPLATE = "gantry-locks-{account_id}-{region}"


class StateBackendError(RuntimeError):
    """The state backend is missing or unreachable; the message is safe to show."""


def _setting(name: str, default: Any) -> Any:
    from iac.terraform import _setting as read

    return read(name, default)


def state_key(tenant_slug: str, workspace: str, stack: str) -> str:
    for label, value in (("tenant", tenant_slug), ("workspace", workspace), ("stack", stack)):
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", value):
            raise ValueError(f"{label} {value!r} cannot be part of a state key")
    return f"tenants/{tenant_slug}/{workspace}/{stack}.tfstate"


def bucket_name(account_id: str, region: str) -> str:
    template = _setting("GANTRY_STATE_BUCKET_TEMPLATE", DEFAULT_BUCKET_TEMPLATE)
    return template.format(account_id=account_id, region=region)[:63]


def lock_table_name(account_id: str, region: str) -> str:
    template = _setting("GANTRY_STATE_LOCK_TABLE_TEMPLATE", DEFAULT_LOCK_TABLE_TEMPLATE)
    return template.format(account_id=account_id, region=region)


def locking() -> str:
    value = str(_setting("GANTRY_STATE_LOCKING", "lockfile")).lower()
    if value not in ("lockfile", "dynamodb"):
        raise ValueError(f"GANTRY_STATE_LOCKING must be 'lockfile' or 'dynamodb', not {value!r}")
    return value


def backend_for(account: AwsAccount, config: Config, stack: str, *, region: str | None = None) -> BackendSpec:
    """The backend for `stack` in `config`: the bucket lives in the config's region of the account."""
    region = region or config.region
    dynamodb = locking() == "dynamodb"
    return BackendSpec(
        bucket=bucket_name(account.account_id, region),
        key=state_key(config.tenant.slug, config.workspace, stack),
        region=region,
        lock_table=lock_table_name(account.account_id, region) if dynamodb else None,
        use_lockfile=not dynamodb,
    )


def ensure_backend(backend: BackendSpec, *, account: AwsAccount, endpoint: str | None = None) -> None:
    """Create the sandbox backend on first use (idempotent); for real accounts, check it is reachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    from tenants.aws import session_for_account

    if account.mode == "sandbox":
        from iac import sandbox

        endpoint = endpoint or sandbox.sandbox_endpoint()
        table = backend.lock_table or lock_table_name(account.account_id, backend.region)
        try:
            sandbox.ensure_state_backend(endpoint, backend.bucket, table, backend.region)
            if backend.lock_table:
                _ensure_lock_table(session_for_account(account, region=backend.region), backend.lock_table)
        except (ClientError, BotoCoreError) as exc:
            raise StateBackendError(f"cannot prepare the sandbox state backend: {exc}") from exc
        return
    session = session_for_account(account, region=backend.region)
    try:
        session.client("s3").head_bucket(Bucket=backend.bucket)
        if backend.lock_table:
            session.client("dynamodb").describe_table(TableName=backend.lock_table)
    except (ClientError, BotoCoreError) as exc:
        raise StateBackendError(
            f"state backend s3://{backend.bucket} (region {backend.region}) is not reachable with the "
            f"account's role; bootstrap it first: {exc}"
        ) from exc


def _ensure_lock_table(session: Any, table: str) -> None:
    from iac.sandbox import ensure_lock_table

    ensure_lock_table(session.client("dynamodb"), table)
