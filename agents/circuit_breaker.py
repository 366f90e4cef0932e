"""A circuit breaker for the AWS calls agents make on a tenant's behalf.

One circuit per (AWS account, service). Closed: calls go through and consecutive failures are counted.
After `failure_threshold` consecutive failures it opens: calls are refused at once (no network, no wait)
until `cooldown_seconds` have passed. Then it is half-open: exactly one caller is let through as a probe
while the others are still refused; the probe's success closes the circuit, its failure opens it again
for another cool-down. A struggling AWS endpoint (throttling, timeouts, 5xx) thus costs each tool call
milliseconds instead of the SDK's retries and timeouts, and gets room to recover.

Thread-safe (the MCP server runs tools on worker threads); the clock is injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_COOLDOWN_SECONDS = 30.0


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The circuit refuses the call; `retry_after` is the number of seconds until a probe may go."""

    def __init__(self, key: Hashable, retry_after: float) -> None:
        self.key = key
        self.retry_after = max(0.0, retry_after)
        seconds = max(1, math.ceil(self.retry_after))
        super().__init__(f"AWS temporarily unavailable, retry after {seconds} s.")


@dataclass
class _Circuit:
    state: State = State.CLOSED
    failures: int = 0  # consecutive, while closed
    opened_at: float = 0.0
    probing: bool = False  # a half-open probe is in flight


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cooldown_seconds <= 0:
            raise ValueError("cooldown_seconds must be positive")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = float(cooldown_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[Hashable, _Circuit] = {}

    # --- the three steps of a guarded call ---------------------------------------------------------

    def acquire(self, key: Hashable) -> None:
        """Ask to make a call; raises CircuitOpen when the circuit refuses it."""
        with self._lock:
            circuit = self._circuits.setdefault(key, _Circuit())
            if circuit.state == State.CLOSED:
                return
            now = self._clock()
            remaining = circuit.opened_at + self.cooldown_seconds - now
            if circuit.state == State.OPEN:
                if remaining > 0:
                    raise CircuitOpen(key, remaining)
                circuit.state = State.HALF_OPEN
            # Half-open: one probe at a time; everyone else waits for its verdict.
            if circuit.probing:
                raise CircuitOpen(key, 1.0)
            circuit.probing = True

    def record_success(self, key: Hashable) -> None:
        with self._lock:
            circuit = self._circuits.setdefault(key, _Circuit())
            circuit.state, circuit.failures, circuit.probing = State.CLOSED, 0, False

    def record_failure(self, key: Hashable) -> None:
        with self._lock:
            circuit = self._circuits.setdefault(key, _Circuit())
            if circuit.state == State.HALF_OPEN:
                self._open(circuit)
                return
            if circuit.state == State.OPEN:
                return  # a call admitted before the circuit opened finished late
            circuit.failures += 1
            if circuit.failures >= self.failure_threshold:
                self._open(circuit)

    def release(self, key: Hashable) -> None:
        """The admitted call ended without telling anything about the service (e.g. a caller's own
        mistake answered by AWS); a half-open probe slot is given back, counts are left alone."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is not None:
                circuit.probing = False

    def _open(self, circuit: _Circuit) -> None:
        circuit.state, circuit.opened_at, circuit.failures, circuit.probing = (
            State.OPEN,
            self._clock(),
            0,
            False,
        )

    # --- convenience -------------------------------------------------------------------------------

    def call(
        self,
        key: Hashable,
        fn: Callable[[], T],
        *,
        is_failure: Callable[[BaseException], bool] = lambda exc: True,
    ) -> T:
        """Run `fn` through the circuit. An exception counts as a failure when `is_failure(exc)` says so
        (else the service answered and the circuit treats the call as a success); it is re-raised."""
        self.acquire(key)
        try:
            result = fn()
        except BaseException as exc:
            if isinstance(exc, Exception) and is_failure(exc):
                self.record_failure(key)
            elif isinstance(exc, Exception):
                self.record_success(key)
            else:
                self.release(key)  # KeyboardInterrupt, cancellation: no verdict
            raise
        self.record_success(key)
        return result

    def state(self, key: Hashable) -> State:
        """The state a caller would meet now (an open circuit past its cool-down reads half-open)."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None:
                return State.CLOSED
            if circuit.state == State.OPEN and self._clock() >= circuit.opened_at + self.cooldown_seconds:
                return State.HALF_OPEN
            return circuit.state

    def reset(self) -> None:
        with self._lock:
            self._circuits.clear()


_aws_breaker: CircuitBreaker | None = None
_aws_breaker_lock = threading.Lock()


def aws_breaker() -> CircuitBreaker:
    """The process-wide breaker for AWS calls, configured by GANTRY_AWS_BREAKER_FAILURES and
    GANTRY_AWS_BREAKER_COOLDOWN_SECONDS."""
    global _aws_breaker
    with _aws_breaker_lock:
        if _aws_breaker is None:
            _aws_breaker = CircuitBreaker(
                failure_threshold=int(
                    getattr(settings, "GANTRY_AWS_BREAKER_FAILURES", DEFAULT_FAILURE_THRESHOLD)
                ),
                cooldown_seconds=float(
                    getattr(settings, "GANTRY_AWS_BREAKER_COOLDOWN_SECONDS", DEFAULT_COOLDOWN_SECONDS)
                ),
            )
        return _aws_breaker


def reset_aws_breaker() -> None:
    """Forget the process-wide breaker (tests; settings changes take effect on next use)."""
    global _aws_breaker
    with _aws_breaker_lock:
        _aws_breaker = None
