"""The structured result every gate returns. Runs store it as JSON; pages and the API render it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    WARN = "warn"
    FAIL = "fail"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    severity: Severity = Severity.HIGH
    address: str = ""  # resource address or file:line
    blocking: bool = True  # False: a warning the approver must acknowledge

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GateResult:
    name: str
    status: Status = Status.PASS
    findings: list[Finding] = field(default_factory=list)
    duration_ms: int = 0
    summary: str = ""
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status != Status.FAIL

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        if finding.blocking:
            self.status = Status.FAIL
        elif self.status == Status.PASS:
            self.status = Status.WARN

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": str(self.status),
            "summary": self.summary,
            "duration_ms": self.duration_ms,
            "findings": [f.to_dict() for f in self.findings],
            "details": self.details,
        }


@contextmanager
def timed(result: GateResult) -> Iterator[GateResult]:
    """Fill in `duration_ms` however the gate body exits."""
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.duration_ms = int((time.perf_counter() - start) * 1000)
