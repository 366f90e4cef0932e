"""The sandbox's CloudTrail event history: LookupEvents answers from seeded events as CloudTrail does, and
an account nobody seeded answers as moto always has (not implemented)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from iac import sandbox, sandbox_trail

REGION = "eu-west-1"


@pytest.fixture
def cloudtrail(endpoint):
    yield boto3.client(
        "cloudtrail", region_name=REGION, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}),
        aws_access_key_id=sandbox.SANDBOX_ACCESS_KEY, aws_secret_access_key=sandbox.SANDBOX_SECRET_KEY,
    )  # fmt: skip
    sandbox_trail.clear_events()


def event(name: str, user: str, at: datetime, resource: str = "logs-bucket") -> dict:
    return {"EventName": name, "Username": user, "EventTime": at, "Resources": [{"ResourceName": resource}]}


def test_unseeded_history_is_not_implemented(cloudtrail):
    with pytest.raises(ClientError, match="500"):
        cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "x"}])


def test_lookup_filters_by_resource_and_window_newest_first(cloudtrail):
    now = datetime.now(UTC)
    sandbox_trail.seed_events(sandbox.SANDBOX_ACCOUNT_ID, REGION, [
        event("PutBucketTagging", "alice", now - timedelta(hours=3)),
        event("PutBucketPolicy", "bob", now - timedelta(hours=1)),
        event("DeleteBucket", "carol", now - timedelta(days=3)),  # outside the window
        event("PutBucketTagging", "dave", now - timedelta(hours=2), resource="other-bucket"),
    ])  # fmt: skip
    found = cloudtrail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "logs-bucket"}],
        StartTime=now - timedelta(days=1),
        EndTime=now,
    )["Events"]
    assert [(e["EventName"], e["Username"]) for e in found] == [
        ("PutBucketPolicy", "bob"),
        ("PutBucketTagging", "alice"),
    ]
    assert abs(found[0]["EventTime"] - (now - timedelta(hours=1))) < timedelta(seconds=1)
    limited = cloudtrail.lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "alice"}], MaxResults=1
    )["Events"]
    assert [e["EventName"] for e in limited] == ["PutBucketTagging"]
    with pytest.raises(ClientError, match="InvalidLookupAttributes"):
        cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "Colour", "AttributeValue": "red"}])


def test_other_regions_keep_their_own_history(cloudtrail):
    sandbox_trail.seed_events(sandbox.SANDBOX_ACCOUNT_ID, "us-west-2", [event("X", "eve", datetime.now(UTC))])
    with pytest.raises(ClientError, match="500"):
        cloudtrail.lookup_events()


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"EventName": "X", "Username": "u"}, "needs EventTime"),
     ({"EventName": "X", "Username": "u", "EventTime": datetime(2026, 1, 1)}, "aware datetime")],
)  # fmt: skip
def test_a_bad_seed_is_refused_and_changes_nothing(cloudtrail, bad, message):
    with pytest.raises(ValueError, match=message):
        sandbox_trail.seed_events(sandbox.SANDBOX_ACCOUNT_ID, REGION, [bad])
    with pytest.raises(ClientError, match="500"):
        cloudtrail.lookup_events()
