"""Every transition of the AWS circuit breaker, on an injected clock."""

from __future__ import annotations

import threading

import pytest

from agents.circuit_breaker import CircuitBreaker, CircuitOpen, State

KEY = (1, "ec2")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def boom():
    raise ConnectionError("endpoint down")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def breaker(clock):
    return CircuitBreaker(failure_threshold=3, cooldown_seconds=30, clock=clock)


def fail(breaker, times, key=KEY):
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(key, boom)


def test_closed_passes_calls_and_success_resets_the_count(breaker):
    fail(breaker, 2)
    assert breaker.call(KEY, lambda: "ok") == "ok"
    fail(breaker, 2)  # the count restarted: two more failures do not open it
    assert breaker.state(KEY) == State.CLOSED


def test_opens_after_n_consecutive_failures_and_refuses_at_once(breaker):
    fail(breaker, 3)
    assert breaker.state(KEY) == State.OPEN
    called = []
    with pytest.raises(CircuitOpen) as refused:
        breaker.call(KEY, lambda: called.append(1))
    assert called == []  # refused without calling
    assert refused.value.retry_after == 30
    assert "AWS temporarily unavailable, retry after 30 s" in str(refused.value)


def test_retry_after_counts_down_with_the_clock(breaker, clock):
    fail(breaker, 3)
    clock.advance(12.5)
    with pytest.raises(CircuitOpen) as refused:
        breaker.acquire(KEY)
    assert refused.value.retry_after == pytest.approx(17.5)
    assert "retry after 18 s" in str(refused.value)


def test_half_open_after_cooldown_lets_exactly_one_probe_through(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    assert breaker.state(KEY) == State.HALF_OPEN
    breaker.acquire(KEY)  # the probe
    with pytest.raises(CircuitOpen):
        breaker.acquire(KEY)  # everyone else waits for its verdict


def test_probe_success_closes(breaker, clock):
    fail(breaker, 3)
    clock.advance(31)
    assert breaker.call(KEY, lambda: "back") == "back"
    assert breaker.state(KEY) == State.CLOSED
    fail(breaker, 2)
    assert breaker.state(KEY) == State.CLOSED  # a fresh count after closing


def test_probe_failure_reopens_for_a_new_cooldown(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    fail(breaker, 1)  # the probe fails
    assert breaker.state(KEY) == State.OPEN
    clock.advance(29)
    with pytest.raises(CircuitOpen):
        breaker.acquire(KEY)
    clock.advance(1)
    assert breaker.state(KEY) == State.HALF_OPEN


def test_errors_that_are_not_outages_count_as_answers(breaker, clock):
    def not_found():
        raise LookupError("no such instance")

    for _ in range(5):
        with pytest.raises(LookupError):
            breaker.call(KEY, not_found, is_failure=lambda exc: not isinstance(exc, LookupError))
    assert breaker.state(KEY) == State.CLOSED
    fail(breaker, 3)
    clock.advance(30)
    with pytest.raises(LookupError):  # a probe answered by the service closes the circuit
        breaker.call(KEY, not_found, is_failure=lambda exc: not isinstance(exc, LookupError))
    assert breaker.state(KEY) == State.CLOSED


def test_release_gives_the_probe_slot_back(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    breaker.acquire(KEY)
    breaker.release(KEY)
    breaker.acquire(KEY)  # another probe may go
    assert breaker.state(KEY) == State.HALF_OPEN


def test_circuits_are_per_account_and_service(breaker):
    fail(breaker, 3, key=(1, "ec2"))
    assert breaker.state((1, "ec2")) == State.OPEN
    assert breaker.call((1, "rds"), lambda: "rds fine") == "rds fine"
    assert breaker.call((2, "ec2"), lambda: "other account fine") == "other account fine"


def test_a_late_failure_does_not_extend_an_open_circuit(breaker, clock):
    fail(breaker, 3)
    clock.advance(20)
    breaker.record_failure(KEY)  # a call admitted before it opened finishes late
    clock.advance(10)
    assert breaker.state(KEY) == State.HALF_OPEN


def test_concurrent_callers_admit_a_single_probe(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    admitted, refused = [], []
    barrier = threading.Barrier(8)

    def caller():
        barrier.wait()
        try:
            breaker.acquire(KEY)
            admitted.append(1)
        except CircuitOpen:
            refused.append(1)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(admitted), len(refused)) == (1, 7)


def test_concurrent_failures_open_exactly_at_the_threshold(clock):
    breaker = CircuitBreaker(failure_threshold=50, cooldown_seconds=5, clock=clock)
    threads = [threading.Thread(target=lambda: breaker.record_failure(KEY)) for _ in range(49)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.state(KEY) == State.CLOSED
    breaker.record_failure(KEY)
    assert breaker.state(KEY) == State.OPEN


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"cooldown_seconds": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)
