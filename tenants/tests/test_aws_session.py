"""The boto3 session factory: STS AssumeRole with the account's external id and session tags, a credential
cache that refreshes five minutes before expiry, and errors that are safe to show.

Sandbox accounts talk to moto's ThreadedMotoServer on loopback (GANTRY_SANDBOX_ENDPOINT points there);
`aws` accounts talk to AWS's own endpoints, which `moto.mock_aws` intercepts in process, with the
platform session injected through `base=`. No test can reach real AWS.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from portal.testing import services
from portal.testing.fixtures import start_or_skip
from tenants import aws
from tenants.models import AccountMode, AwsAccount
from tenants.tasks import account_verify
from tenants.tests.factories import AwsAccountFactory, TenantFactory

pytestmark = pytest.mark.django_db

SANDBOX_ID = "111122223333"
OTHER_SANDBOX_ID = "444455556666"
REAL_ID = "222233334444"
FAKE_PLATFORM_KEYS = {
    "aws_access_key_id": "platform-test-key",
    "aws_secret_access_key": "platform-test-secret",
}


@pytest.fixture(scope="module")
def sandbox_endpoint():
    with contextlib.ExitStack() as stack:
        yield start_or_skip(stack, services.moto_server())


@pytest.fixture(autouse=True)
def _isolated_aws(settings, sandbox_endpoint, monkeypatch, tmp_path):
    """Point the sandbox at the test moto server, hide any real AWS configuration, empty the cache."""
    settings.GANTRY_SANDBOX_ENDPOINT = sandbox_endpoint
    settings.GANTRY_PLATFORM_AWS_PROFILE = ""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.clear_cache()
    yield
    aws.clear_cache()


def sandbox_account(account_id: str = SANDBOX_ID, slug: str = "acme") -> AwsAccount:
    return AwsAccountFactory(
        tenant=TenantFactory(slug=slug, name=slug.title()), account_id=account_id, default_region="us-east-1"
    )


def real_account() -> AwsAccount:
    return AwsAccountFactory(
        tenant=TenantFactory(slug="initech", name="Initech"),
        mode=AccountMode.AWS,
        account_id=REAL_ID,
        role_arn=f"arn:aws:iam::{REAL_ID}:role/GantryDeploy",
        default_region="us-east-1",
    )


def watch_assume_role(session: boto3.Session, calls: list[dict]) -> boto3.Session:
    """Record the parameters and URL of every AssumeRole made by clients of `session`."""

    def on_params(params, **_):
        calls.append({"params": dict(params)})

    def on_sign(request, **_):
        calls[-1]["url"] = request.url

    session.events.register("provide-client-params.sts.AssumeRole", on_params)
    session.events.register("before-sign.sts.AssumeRole", on_sign)
    return session


@pytest.fixture
def sts_calls(monkeypatch) -> list[dict]:
    """AssumeRole calls made through the factory's own platform session (sandbox accounts)."""
    calls: list[dict] = []
    original = aws.platform_session
    monkeypatch.setattr(aws, "platform_session", lambda account: watch_assume_role(original(account), calls))
    return calls


def travel_to(monkeypatch, moment: datetime) -> None:
    """Make the factory's clock read `moment` (only `tenants.aws` sees the change)."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)

    monkeypatch.setattr(aws, "datetime", Clock)


# --- sandbox accounts --------------------------------------------------------------------------------


def test_sandbox_account_assumes_the_sandbox_role_on_the_sandbox(settings, sandbox_endpoint, sts_calls):
    account = sandbox_account()
    session = aws.session_for_account(account, run_id=42)

    assert len(sts_calls) == 1
    params = sts_calls[0]["params"]
    assert params["RoleArn"] == f"arn:aws:iam::{SANDBOX_ID}:role/GantrySandbox"
    assert params["ExternalId"] == account.external_id
    assert account.external_id.startswith("gantry-")
    assert "acme" in params["RoleSessionName"] and "42" in params["RoleSessionName"]
    assert params["RoleSessionName"] == "gantry-acme-42"
    assert params["Tags"] == [{"Key": "gantry:tenant", "Value": "acme"}, {"Key": "gantry:run", "Value": "42"}]
    assert params["DurationSeconds"] == settings.GANTRY_ASSUME_ROLE_SECONDS
    assert sts_calls[0]["url"].startswith(sandbox_endpoint)  # the loopback sandbox, never AWS

    assert session.endpoint_url == sandbox_endpoint
    assert session.region == "us-east-1"
    assert session.credentials.access_key_id not in {"", "sandbox"}
    assert session.credentials.session_token
    sts = session.client("sts")
    assert sts.meta.endpoint_url == sandbox_endpoint
    assert sts.get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{SANDBOX_ID}:assumed-role/GantrySandbox/gantry-acme-42"
    )


def test_session_without_a_run_is_tagged_with_the_tenant_only(sts_calls):
    aws.session_for_account(sandbox_account())
    params = sts_calls[0]["params"]
    assert params["RoleSessionName"] == "gantry-acme-portal"
    assert params["Tags"] == [{"Key": "gantry:tenant", "Value": "acme"}]


def test_region_override(sts_calls, sandbox_endpoint):
    session = aws.session_for_account(sandbox_account(), region="eu-west-1")
    assert session.region == "eu-west-1"
    assert session.client("sqs").meta.region_name == "eu-west-1"


def test_verify_account_access_returns_the_callers_arn_in_the_account():
    arn = aws.verify_account_access(sandbox_account())
    assert arn == f"arn:aws:sts::{SANDBOX_ID}:assumed-role/GantrySandbox/gantry-acme-portal"
    assert SANDBOX_ID in arn


def test_account_verify_task_records_the_identity():
    account = sandbox_account()
    account_verify(account.pk)  # the task body, run in process
    account.refresh_from_db()
    assert account.last_verified_at is not None
    assert SANDBOX_ID in account.last_verified_identity
    assert account.last_verification_error == ""


# --- aws accounts, platform session injected -----------------------------------------------------------


def test_aws_account_assumes_its_role_with_the_injected_platform_session(monkeypatch):
    monkeypatch.setattr(aws, "platform_session", pytest.fail)  # `base` must be used instead
    with mock_aws():
        account = real_account()
        calls: list[dict] = []
        base = watch_assume_role(boto3.Session(**FAKE_PLATFORM_KEYS, region_name="us-east-1"), calls)
        session = aws.session_for_account(account, run_id="r-9", base=base)

        assert len(calls) == 1
        params = calls[0]["params"]
        assert params["RoleArn"] == f"arn:aws:iam::{REAL_ID}:role/GantryDeploy"
        assert params["ExternalId"] == account.external_id
        assert params["RoleSessionName"] == "gantry-initech-r-9"
        assert params["Tags"] == [
            {"Key": "gantry:tenant", "Value": "initech"},
            {"Key": "gantry:run", "Value": "r-9"},
        ]
        assert ".amazonaws.com" in calls[0]["url"]  # AWS's endpoint (intercepted by moto), not the sandbox
        assert session.endpoint_url is None
        assert session.credentials.access_key_id != FAKE_PLATFORM_KEYS["aws_access_key_id"]
        identity = session.client("sts").get_caller_identity()
        # moto attributes assumed-role credentials to the role's account.
        assert identity["Account"] == REAL_ID
        assert identity["Arn"] == f"arn:aws:sts::{REAL_ID}:assumed-role/GantryDeploy/gantry-initech-r-9"


def test_verify_account_access_for_an_aws_account(monkeypatch):
    with mock_aws():
        monkeypatch.setattr(aws, "platform_session", lambda account: boto3.Session(**FAKE_PLATFORM_KEYS))
        arn = aws.verify_account_access(real_account())
    assert arn == f"arn:aws:sts::{REAL_ID}:assumed-role/GantryDeploy/gantry-initech-portal"


# --- the credential cache ------------------------------------------------------------------------------


def test_credentials_are_cached_per_account_and_run(sts_calls):
    account = sandbox_account()
    first = aws.session_for_account(account, run_id=1)
    second = aws.session_for_account(account, run_id=1)
    assert len(sts_calls) == 1  # the second call made no STS call
    assert second.credentials is first.credentials
    aws.session_for_account(account, run_id=2)
    assert len(sts_calls) == 2  # another run: its own session name and tags, so its own credentials
    aws.session_for_account(account, run_id=1)
    assert len(sts_calls) == 2


def test_credentials_refresh_within_five_minutes_of_expiry(sts_calls, monkeypatch):
    account = sandbox_account()
    first = aws.session_for_account(account, run_id=7).credentials
    expiration = first.expiration
    assert expiration.tzinfo is not None

    travel_to(monkeypatch, expiration - timedelta(minutes=5, seconds=30))
    assert aws.session_for_account(account, run_id=7).credentials is first
    assert len(sts_calls) == 1

    travel_to(monkeypatch, expiration - timedelta(minutes=4, seconds=30))
    refreshed = aws.session_for_account(account, run_id=7).credentials
    assert len(sts_calls) == 2
    assert refreshed is not first
    assert refreshed.access_key_id != first.access_key_id

    travel_to(monkeypatch, expiration + timedelta(hours=1))  # long expired: refreshed again
    aws.session_for_account(account, run_id=7)
    assert len(sts_calls) == 3


def test_fresh_is_false_inside_the_refresh_margin():
    now = datetime.now(UTC)

    def creds(expires_in: timedelta) -> aws.Credentials:
        return aws.Credentials("AKIA", "secret", "token", now + expires_in)

    assert timedelta(minutes=5) == aws.REFRESH_MARGIN
    assert creds(timedelta(minutes=5, seconds=20)).fresh()
    assert not creds(timedelta(minutes=4, seconds=40)).fresh()
    assert not creds(timedelta(seconds=-1)).fresh()


def test_clear_cache_forces_a_new_assume_role(sts_calls):
    account = sandbox_account()
    first = aws.session_for_account(account).credentials
    aws.clear_cache()
    second = aws.session_for_account(account).credentials
    assert len(sts_calls) == 2
    assert second.access_key_id != first.access_key_id


def test_credentials_as_env_for_child_processes():
    creds = aws.session_for_account(sandbox_account()).credentials
    assert creds.as_env() == {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_SESSION_TOKEN": creds.session_token,
    }


# --- errors ----------------------------------------------------------------------------------------


def deny_assume_role(session: boto3.Session) -> boto3.Session:
    """Make every AssumeRole from `session` answer like STS does when the trust policy says no."""

    def deny(**_):
        body = {
            "Error": {"Code": "AccessDenied", "Message": "User is not authorized to perform: sts:AssumeRole"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        return SimpleNamespace(status_code=403, headers={}, content=b""), body

    session.events.register("before-call.sts.AssumeRole", deny)
    return session


def test_an_sts_error_becomes_aws_access_error(monkeypatch, sts_calls):
    account = sandbox_account()
    original = aws.platform_session
    monkeypatch.setattr(aws, "platform_session", lambda a: deny_assume_role(original(a)))
    with pytest.raises(aws.AwsAccessError, match="AccessDenied") as raised:
        aws.session_for_account(account, run_id=3)
    message = str(raised.value)
    assert message.startswith(f"Could not assume arn:aws:iam::{SANDBOX_ID}:role/GantrySandbox")
    assert isinstance(raised.value.__cause__, ClientError)

    monkeypatch.setattr(aws, "platform_session", original)  # a failure is not cached
    assert aws.session_for_account(account, run_id=3).credentials.access_key_id


def test_an_unreachable_endpoint_becomes_aws_access_error(settings, monkeypatch):
    settings.GANTRY_SANDBOX_ENDPOINT = f"http://127.0.0.1:{services.free_port()}"  # nothing listens
    monkeypatch.setattr(aws, "BOTO_CONFIG", BotoConfig(retries={"max_attempts": 1}, connect_timeout=1))
    with pytest.raises(aws.AwsAccessError, match="Could not connect"):
        aws.session_for_account(sandbox_account())


def test_verify_account_access_wraps_sts_errors_after_the_role_was_assumed(monkeypatch):
    original = aws.AccountSession.client

    def expired_client(self, service, **kwargs):
        client = original(self, service, **kwargs)
        stubber = Stubber(client)
        stubber.add_client_error("get_caller_identity", "ExpiredToken", "The security token has expired")
        stubber.activate()
        return client

    monkeypatch.setattr(aws.AccountSession, "client", expired_client)
    with pytest.raises(aws.AwsAccessError, match=r"Assumed the role but could not call STS.*ExpiredToken"):
        aws.verify_account_access(sandbox_account())


def test_account_verify_task_records_the_error(monkeypatch):
    account = sandbox_account()
    original = aws.platform_session
    monkeypatch.setattr(aws, "platform_session", lambda a: deny_assume_role(original(a)))
    account_verify(account.pk)
    account.refresh_from_db()
    assert account.last_verified_at is not None
    assert account.last_verified_identity == ""
    assert "AccessDenied" in account.last_verification_error


# --- what the sandbox keeps apart ---------------------------------------------------------------------


def test_sandbox_accounts_see_only_their_own_resources():
    """moto files resources under the account its assumed-role credentials belong to."""
    one = aws.session_for_account(sandbox_account(SANDBOX_ID, "acme"))
    two = aws.session_for_account(sandbox_account(OTHER_SANDBOX_ID, "globex"))
    bucket = f"gantry-iso-{uuid.uuid4().hex[:12]}"
    one.client("s3").create_bucket(Bucket=bucket)
    one.client("sqs").create_queue(QueueName="acme-only")

    assert bucket in [b["Name"] for b in one.client("s3").list_buckets()["Buckets"]]
    assert bucket not in [b["Name"] for b in two.client("s3").list_buckets()["Buckets"]]
    assert any(
        url.endswith(f"/{SANDBOX_ID}/acme-only") for url in one.client("sqs").list_queues()["QueueUrls"]
    )
    assert "QueueUrls" not in two.client("sqs").list_queues()
    assert two.client("sts").get_caller_identity()["Account"] == OTHER_SANDBOX_ID


def test_sandbox_does_not_enforce_access_across_accounts():
    """Documents moto's limits: listings are per account, but moto checks no IAM/bucket policy, so another
    sandbox account that knows a bucket's name can read and write it (real AWS would answer 403), and S3
    bucket names are one global namespace, as on AWS. The sandbox separates tenants' views, not their
    access; tenant isolation must not rely on it."""
    one = aws.session_for_account(sandbox_account(SANDBOX_ID, "acme"))
    two = aws.session_for_account(sandbox_account(OTHER_SANDBOX_ID, "globex"))
    bucket = f"gantry-iso-{uuid.uuid4().hex[:12]}"
    one.client("s3").create_bucket(Bucket=bucket)

    two.client("s3").head_bucket(Bucket=bucket)  # no AccessDenied
    two.client("s3").put_object(Bucket=bucket, Key="from-two", Body=b"x")
    keys = [o["Key"] for o in one.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["from-two"]
    with pytest.raises(ClientError) as taken:
        two.client("s3").create_bucket(Bucket=bucket)
    assert taken.value.response["Error"]["Code"] in {"BucketAlreadyExists", "BucketAlreadyOwnedByYou"}
