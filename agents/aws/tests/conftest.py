"""One sandbox account for this package's tests (a random id keeps them apart from other packages);
moto builds an account's EC2 world in seconds, so the tests share it and keep apart by unique tags and
names instead."""

from __future__ import annotations

import random

import pytest

from agents.circuit_breaker import reset_aws_breaker
from tenants.aws import session_for_account
from tenants.tests.factories import AwsAccountFactory, ConfigFactory


@pytest.fixture(autouse=True)
def _fast_waits(settings):
    settings.GANTRY_AWS_WAIT_SECONDS = 2
    settings.GANTRY_AWS_POLL_SECONDS = 0.01
    reset_aws_breaker()
    yield
    reset_aws_breaker()


ACCOUNT_ID = str(random.randint(10**11, 10**12 - 1))
_images: dict[str, str] = {}


@pytest.fixture
def config(db, sandbox_settings):
    account = AwsAccountFactory(account_id=ACCOUNT_ID)
    return ConfigFactory(tenant=account.tenant, account=account)


@pytest.fixture
def aws(config):
    """aws("ec2") -> a boto3 client for the config's sandbox account and region."""
    session = session_for_account(config.account, region=config.region)
    return lambda service: session.client(service)


@pytest.fixture
def launch(aws):
    """launch(n, tags) -> instance ids, running."""
    ec2 = aws("ec2")
    if "image" not in _images:
        _images["image"] = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    image = _images["image"]

    def run(count: int = 1, tags: dict[str, str] | None = None, instance_type: str = "t3.micro") -> list[str]:
        spec = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
        ]
        response = ec2.run_instances(
            ImageId=image,
            MinCount=count,
            MaxCount=count,
            InstanceType=instance_type,
            **({"TagSpecifications": spec} if tags else {}),
        )
        return sorted(i["InstanceId"] for i in response["Instances"])

    return run


def instance_state(aws, instance_id: str) -> str:
    reservations = aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]
