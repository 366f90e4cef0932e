"""The structured result every gate returns. Runs store it as JSON; pages and the API render it."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


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


# --- the gate digest: what an approval binds, for every engine ------------------------------------

_VOLATILE_DETAIL_KEYS = re.compile(r"(_ms|_seconds|duration)$")


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if not _VOLATILE_DETAIL_KEYS.search(str(k))}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def gate_digest(gates: Iterable[GateResult | dict]) -> str:
    """sha256 over the canonical gate results (timings left out): what an approval records."""
    items = []
    for gate in gates:
        data = gate.to_dict() if isinstance(gate, GateResult) else dict(gate)
        data.pop("duration_ms", None)
        data = _stable(data)
        # Tools such as Checkov report findings in no fixed order; the digest must not depend on it.
        data["findings"] = sorted(data.get("findings", []), key=_canonical)
        items.append(data)
    return hashlib.sha256(_canonical(items).encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
