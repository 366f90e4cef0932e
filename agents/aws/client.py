"""Mutating and read calls of the action library for one config's account and region.

Every call goes through the session factory (STS AssumeRole, or the sandbox) and the per-(account,
service) circuit breaker, like `agents.aws_readonly.ReadOnlyAws`; AWS errors come back as
`ActionFailed` carrying the AWS error code so callers can tell "no such instance" from an outage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from agents.aws_readonly import is_outage
from agents.circuit_breaker import CircuitBreaker, CircuitOpen, aws_breaker
from tenants.aws import AwsAccessError, session_for_account
from tenants.models import AccountMode, Config

from .actions.base import ActionFailed, ActionRequestInvalid

T = TypeVar("T")

# A missing sandbox operation answers 500 and botocore would retry it; one attempt there.
SANDBOX_CONFIG = BotoConfig(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=30)
REAL_CONFIG = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)


def allowed_region(config: Config, region: str | None) -> str:
    """The config's region or one of its account's regions; anything else is refused."""
    region = region or config.region
    allowed = sorted(set(config.account.regions) | {config.region})
    if region not in allowed:
        raise ActionRequestInvalid(
            f"Region {region} is not allowed for account {config.account.name}; use one of {', '.join(allowed)}."
        )
    return region


class ActionClients:
    """boto3 clients for one account and region, every call guarded by the breaker."""

    def __init__(
        self,
        config: Config,
        *,
        region: str | None = None,
        run_id: int | str | None = None,
        breaker: CircuitBreaker | None = None,
        session_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.config, self.account = config, config.account
        self.region = allowed_region(config, region)
        self.run_id = run_id
        self.sandbox = self.account.mode == AccountMode.SANDBOX
        self.breaker = breaker or aws_breaker()
        self._session_factory = session_factory or session_for_account
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            aws = self._session_factory(self.account, run_id=self.run_id, region=self.region)
            self._clients[service] = aws.session.client(
                service,
                region_name=self.region,
                endpoint_url=aws.endpoint_url,
                config=SANDBOX_CONFIG if self.sandbox else REAL_CONFIG,
            )
        return self._clients[service]

    def call(self, service: str, operation: Callable[[Any], T]) -> T:
        def run() -> T:
            return operation(self._client(service))

        try:
            return self.breaker.call((self.account.pk, service), run, is_failure=is_outage)
        except ClientError as exc:
            raise _client_error(service, exc, sandbox=self.sandbox) from exc
        except AwsAccessError as exc:
            raise ActionFailed(str(exc), code="AccessError") from exc
        except CircuitOpen as exc:
            raise ActionFailed(str(exc), code="CircuitOpen") from exc
        except BotoCoreError as exc:
            raise ActionFailed(f"Could not reach AWS {service} in {self.region}: {exc}") from exc


def _client_error(service: str, exc: ClientError, *, sandbox: bool) -> ActionFailed:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = error.get("Code") or "Error"
    status = int(meta.get("HTTPStatusCode") or 0)
    if sandbox and status >= 500:
        message = f"AWS {service}: this operation is not supported by the sandbox ({code})."
    else:
        message = f"AWS {service} answered {code}: {error.get('Message', '')}".strip()
    return ActionFailed(message, code=code, request_id=meta.get("RequestId"))
