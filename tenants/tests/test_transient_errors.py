"""One `is_transient` decides, for the worker's retries and the read-only layer's breaker alike, whether an
AWS error is worth sending again."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from agents.aws_readonly import is_outage
from runs import worker
from tenants.aws import TRANSIENT_CODES, is_transient

# The union of the two lists that disagreed (runs/worker.py and agents/aws_readonly.py).
FORMER_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "SlowDown", "ProvisionedThroughputExceededException",
    "ServiceUnavailable", "RequestTimeout", "InternalError", "InternalFailure",
}  # fmt: skip


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Describe"
    )


def test_the_codes_cover_both_former_lists():
    assert FORMER_CODES <= TRANSIENT_CODES


@pytest.mark.parametrize("code", sorted(FORMER_CODES))
def test_every_transient_code_is_retried_and_opens_the_breaker(code):
    error = client_error(code)  # a 400, as most throttling answers are: the code alone decides
    assert is_transient(error) and worker.is_transient(error) and is_outage(error)
    assert is_transient(f"Error: operation error EC2: {code}: slow down")


@pytest.mark.parametrize("code", ["AccessDenied", "ValidationError", "InvalidParameterValue", "NoSuchBucket"])
def test_a_wrong_request_is_not_transient(code):
    error = client_error(code)
    assert not is_transient(error) and not is_outage(error)


def test_a_server_side_failure_and_a_dropped_connection_are_transient():
    assert is_transient(client_error("WeirdNewCode", status=503))
    assert is_transient(EndpointConnectionError(endpoint_url="https://ec2"))
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert is_transient("dial tcp 10.0.0.1:443: i/o timeout")


def test_everything_else_is_not():
    assert not is_transient(None) and not is_transient("Unsupported argument")
    assert not is_transient(ValueError("bad value")) and not is_transient(ParamValidationError(report="x"))


def test_the_worker_uses_the_one_function():
    assert worker.is_transient is is_transient
