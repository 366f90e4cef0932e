"""The embedded AWS sandbox: moto on loopback, the state backend, provider endpoints."""

from __future__ import annotations

import boto3
import pytest

from iac import sandbox


def _client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, **_creds())


def _creds() -> dict[str, str]:
    env = sandbox.sandbox_env()
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_REGION"],
    }


def test_threaded_server_answers_on_loopback(endpoint):
    assert endpoint.startswith("http://127.0.0.1:")
    assert sandbox.is_running(endpoint)


def test_is_running_false_when_nothing_listens():
    server, url = sandbox.start_threaded()
    server.stop()
    assert not sandbox.is_running(url, timeout=0.5)


def test_refuses_non_loopback_bind():
    with pytest.raises(sandbox.SandboxError):
        sandbox.start_threaded(host="0.0.0.0")  # noqa: S104
    with pytest.raises(sandbox.SandboxError):
        sandbox.run_forever("0.0.0.0", 4599)  # noqa: S104


def test_ensure_state_backend_is_idempotent(endpoint):
    for _ in range(2):
        sandbox.ensure_state_backend(endpoint, "gantry-state", "gantry-locks", "us-east-1")
    s3 = _client("s3", endpoint)
    assert s3.get_bucket_versioning(Bucket="gantry-state")["Status"] == "Enabled"
    table = _client("dynamodb", endpoint).describe_table(TableName="gantry-locks")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]


def test_ensure_state_backend_other_region(endpoint):
    sandbox.ensure_state_backend(endpoint, "gantry-state-eu", "gantry-locks-eu", "eu-west-1")
    s3 = boto3.client("s3", endpoint_url=endpoint, **{**_creds(), "region_name": "eu-west-1"})
    assert s3.get_bucket_location(Bucket="gantry-state-eu")["LocationConstraint"] == "eu-west-1"


def test_provider_endpoints_cover_every_curated_service():
    endpoints = sandbox.provider_endpoints("http://127.0.0.1:4599/")
    expected = {
        "ec2", "elbv2", "elb", "autoscaling", "rds", "s3", "kms", "eks", "iam", "sts", "cloudwatch",
        "logs", "dynamodb", "ssm", "secretsmanager", "acm", "route53", "sns", "sqs", "lambda", "ecs", "wafv2",
    }  # fmt: skip
    assert set(endpoints) == expected
    assert set(endpoints.values()) == {"http://127.0.0.1:4599"}


def test_sandbox_endpoint_reads_settings(settings):
    settings.GANTRY_SANDBOX_ENDPOINT = "http://127.0.0.1:4777/"
    assert sandbox.sandbox_endpoint() == "http://127.0.0.1:4777"


def test_run_forever_serves_in_the_foreground(tmp_path):
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from iac.sandbox import run_forever; run_forever('127.0.0.1', {port})"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sandbox.wait_until_running(f"http://127.0.0.1:{port}", timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
