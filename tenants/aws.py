"""One factory for every AWS call Gantry makes on a tenant's behalf.

Both modes take the same path: STS AssumeRole with the account's platform-generated external id and
session tags naming the tenant and run. In sandbox mode the STS and service endpoints are the embedded
moto server, whose assumed-role credentials keep each sandbox account's listings apart (moto enforces
no IAM, so that separation is for clarity, not security).
No tenant ever stores AWS keys.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from .models import AccountMode, AwsAccount

REFRESH_MARGIN = timedelta(minutes=5)
SANDBOX_ROLE = "GantrySandbox"
BOTO_CONFIG = BotoConfig(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


class AwsAccessError(Exception):
    """Gantry could not reach the account; the message is safe to show."""


# AWS answering "slow down", timing out or failing on its side: the request may succeed if sent again.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
    }
)
# The same, and network failures, as they show in text (Terraform's output, a run's stored error).
_TRANSIENT_TEXT_RE = re.compile(
    r"(Throttl|Rate exceeded|RequestLimitExceeded|TooManyRequests|SlowDown|RequestTimeout|"
    r"ProvisionedThroughputExceeded|ServiceUnavailable|InternalError|InternalFailure|"
    r"connection reset|connection refused|EndpointConnectionError|Could not connect to the endpoint|"
    r"i/o timeout|TLS handshake timeout|dial tcp)",
    re.IGNORECASE,
)


def is_transient(error: BaseException | str | None) -> bool:
    """Is this AWS error (an exception, or its text) worth retrying, rather than the request being wrong?"""
    if error is None:
        return False
    if isinstance(error, BaseException):
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(error, BotoConnectionError | ConnectionError | TimeoutError):
            return True
        if isinstance(error, ClientError):
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return error.response.get("Error", {}).get("Code") in TRANSIENT_CODES or int(status) >= 500
        error = str(error)
    return bool(_TRANSIENT_TEXT_RE.search(error))


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def fresh(self) -> bool:
        return self.expiration - datetime.now(UTC) > REFRESH_MARGIN

    def as_env(self) -> dict[str, str]:
        """For child processes such as terraform."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass(frozen=True)
class AccountSession:
    account: AwsAccount
    session: boto3.Session
    credentials: Credentials
    region: str
    endpoint_url: str | None

    def client(self, service: str, *, region: str | None = None):
        return self.session.client(
            service, region_name=region or self.region, endpoint_url=self.endpoint_url, config=BOTO_CONFIG
        )


_cache: dict[tuple, Credentials] = {}
_cache_lock = threading.Lock()


def sandbox_role_arn(account: AwsAccount) -> str:
    return f"arn:aws:iam::{account.account_id}:role/{SANDBOX_ROLE}"


def session_name(account: AwsAccount, run_id: int | str | None) -> str:
    raw = f"gantry-{account.tenant.slug}-{run_id if run_id is not None else 'portal'}"
    return re.sub(r"[^\w+=,.@-]", "-", raw)[:64]


def session_tags(account: AwsAccount, run_id: int | str | None) -> list[dict[str, str]]:
    tags = [{"Key": "gantry:tenant", "Value": account.tenant.slug}]
    if run_id is not None:
        tags.append({"Key": "gantry:run", "Value": str(run_id)})
    return tags


@cache
def shared_loader() -> botocore.loaders.Loader:
    """One botocore data loader for the process: it caches the service models and endpoint data it
    reads, which otherwise every new session reads and parses again (~0.2 s per client)."""
    return botocore.loaders.create_loader()


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 session (credentials, profile, region as boto3 takes them) over the shared loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", shared_loader())
    return boto3.Session(botocore_session=core, **kwargs)


def platform_session(account: AwsAccount) -> boto3.Session:
    """The platform's own identity: its credential chain for real accounts, fixed keys for the sandbox."""
    if account.mode == AccountMode.SANDBOX:
        return new_session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # noqa: S106
    return new_session(profile_name=settings.GANTRY_PLATFORM_AWS_PROFILE or None)


def endpoint_for(account: AwsAccount) -> str | None:
    return settings.GANTRY_SANDBOX_ENDPOINT if account.mode == AccountMode.SANDBOX else None


def assume_role(
    account: AwsAccount, *, run_id: int | str | None = None, base: boto3.Session | None = None
) -> Credentials:
    role_arn = account.role_arn or sandbox_role_arn(account)
    endpoint = endpoint_for(account)
    key = (role_arn, account.external_id, str(run_id), endpoint)
    with _cache_lock:
        cached = _cache.get(key)
        if cached and cached.fresh():
            return cached
    base = base or platform_session(account)
    sts = base.client("sts", region_name=account.default_region, endpoint_url=endpoint, config=BOTO_CONFIG)
    try:
        response = sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName=session_name(account, run_id),
            ExternalId=account.external_id,
            DurationSeconds=settings.GANTRY_ASSUME_ROLE_SECONDS,
            Tags=session_tags(account, run_id),
        )
    except (ClientError, BotoCoreError) as exc:
        raise AwsAccessError(f"Could not assume {role_arn}: {exc}") from exc
    raw = response["Credentials"]
    creds = Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], raw["Expiration"])
    with _cache_lock:
        _cache[key] = creds
    return creds


def session_for_account(
    account: AwsAccount,
    *,
    run_id: int | str | None = None,
    region: str | None = None,
    base: boto3.Session | None = None,
) -> AccountSession:
    creds = assume_role(account, run_id=run_id, base=base)
    session = new_session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name=region or account.default_region,
    )
    return AccountSession(
        account=account,
        session=session,
        credentials=creds,
        region=region or account.default_region,
        endpoint_url=endpoint_for(account),
    )


def verify_account_access(account: AwsAccount) -> str:
    """Assume the role and ask STS who we are; returns the caller ARN."""
    aws = session_for_account(account)
    try:
        return aws.client("sts").get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsAccessError(f"Assumed the role but could not call STS: {exc}") from exc


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
