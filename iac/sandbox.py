"""The embedded AWS sandbox: a moto server on loopback that Terraform plans and applies against for real.

`run_forever` is the foreground process behind `manage.py sandbox`; `start_threaded` runs the same server in
a thread for tests. Moto has no authentication, so it binds to loopback unless explicitly told otherwise.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

logger = logging.getLogger(__name__)

# The curated modules attach AWS managed IAM policies (SSM, RDS monitoring, EKS); moto only knows them when
# told to load them, which it reads when its IAM backend is first created.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

SANDBOX_ACCESS_KEY = "test"  # moto accepts any credentials; these are placeholders, not secrets
SANDBOX_SECRET_KEY = "test"  # noqa: S105
SANDBOX_REGION = "us-east-1"
SANDBOX_ACCOUNT_ID = "123456789012"  # moto's default account

# Every aws provider `endpoints` key the curated modules use.
PROVIDER_ENDPOINT_KEYS = (
    "acm",
    "autoscaling",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecs",
    "eks",
    "elb",
    "elbv2",
    "iam",
    "kms",
    "lambda",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
    "wafv2",
)


class SandboxError(RuntimeError):
    pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _quiet_werkzeug() -> None:
    # Werkzeug logs every request at INFO; Terraform makes thousands of them.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def sandbox_endpoint() -> str:
    """The configured sandbox URL (GANTRY_SANDBOX_ENDPOINT)."""
    from django.conf import settings

    return settings.GANTRY_SANDBOX_ENDPOINT.rstrip("/")


def sandbox_env(region: str = SANDBOX_REGION) -> dict[str, str]:
    """Environment for Terraform/boto3 against the sandbox: placeholder credentials, never real ones."""
    return {
        "AWS_ACCESS_KEY_ID": SANDBOX_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def provider_endpoints(endpoint: str) -> dict[str, str]:
    """The aws provider `endpoints` block mapping every service the curated modules use to the sandbox."""
    endpoint = endpoint.rstrip("/")
    return dict.fromkeys(PROVIDER_ENDPOINT_KEYS, endpoint)


def is_running(endpoint: str, timeout: float = 2.0) -> bool:
    """True when a moto server answers at `endpoint`."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/moto-api/", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_is_free(host: str, port: int) -> bool:
    """Can a server bind `host:port` now? (SO_REUSEADDR as the servers use, so TIME_WAIT does not count.)"""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def wait_until_running(endpoint: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(endpoint, timeout=1.0):
            return
        time.sleep(0.1)
    raise SandboxError(f"sandbox did not answer at {endpoint} within {timeout:.0f}s")


def start_threaded(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadedMotoServer, str]:
    """Start moto in a daemon thread (port 0 picks a free one); returns the server and its endpoint.

    The in-process server shares moto's global backends with `mock_aws` in the same process, so tests that
    use both should not expect them to be isolated from each other.
    """
    if not _is_loopback(host):
        raise SandboxError(f"refusing to bind the sandbox to non-loopback host {host!r}")
    from moto.server import ThreadedMotoServer

    _quiet_werkzeug()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    wait_until_running(endpoint)
    return server, endpoint


def run_forever(
    host: str,
    port: int,
    *,
    allow_remote: bool = False,
    state_path: Path | None = None,
    quiet_seconds: float = 5.0,
) -> None:
    """Serve the sandbox in the foreground until SIGINT/SIGTERM (used by `manage.py sandbox`).

    With `state_path`, the world is restored from that snapshot first, saved after `quiet_seconds`
    without requests, and saved again on the way out.
    """
    if not allow_remote and not _is_loopback(host):
        raise SandboxError(
            f"refusing to bind the sandbox to {host!r}: moto has no authentication; pass allow_remote=True"
        )
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from .sandbox_state import SandboxState

    _quiet_werkzeug()
    app: Any = DomainDispatcherApplication(create_backend_app)
    state = SandboxState(state_path, quiet_seconds=quiet_seconds) if state_path else None
    if state:
        app = state.gate.wrap(app)
    if not port_is_free(host, port):  # werkzeug would print its own hint and exit the process
        raise SandboxError(
            f"port {port} on {host} is already in use; stop what holds it or move the sandbox "
            "with GANTRY_SANDBOX_PORT"
        )
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    # SIGTERM (what gantry_up sends) ends the loop like Ctrl-C does, so the snapshot below is written.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if state:
        state.restore()  # before the first request is served: nobody sees an empty world
        state.start_autosave()
    logger.info("AWS sandbox listening on http://%s:%s", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if state:
            state.stop_autosave()
            state.save()


def _client(service: str, endpoint: str, region: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=SANDBOX_ACCESS_KEY,
        aws_secret_access_key=SANDBOX_SECRET_KEY,
    )


def ensure_state_backend(endpoint: str, bucket: str, table: str, region: str = SANDBOX_REGION) -> None:
    """Create the versioned S3 state bucket and the DynamoDB lock table if missing (idempotent)."""
    from botocore.exceptions import ClientError

    s3 = _client("s3", endpoint, region)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            }:
                raise
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    ensure_lock_table(_client("dynamodb", endpoint, region), table)


def ensure_lock_table(dynamodb: Any, table: str) -> None:
    """Create Terraform's DynamoDB lock table (hash key LockID) unless it exists; safe to race."""
    from botocore.exceptions import ClientError

    try:
        dynamodb.describe_table(TableName=table)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        try:
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as create_exc:
            if create_exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
