"""The engine interface: what runs/ asks of whatever carries a reviewed change out.

runs/ owns the lifecycle (leases, locks, heartbeats, transitions, approvals, the apply guard, audit) and
knows no engine's details. An engine turns a run's source into a plan document, runs its gates, applies
exactly the approved plan, verifies the outcome and says what it did. Engines are named by `Run.engine`
and found through `settings.GANTRY_ENGINES` (name → dotted path), so runs/ imports none of them: the
Terraform engine's adapter sits in `runs.terraform_engine` over iac/, the `aws` engine in
`agents.aws.engine` over the action catalogue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PlanStatus:
    PASSED = "passed"  # a plan document waits for approval
    NO_CHANGES = "no_changes"
    NOTHING_TO_DO = "nothing_to_do"  # the targets resolved to none
    BLOCKED = "blocked"  # a gate failed
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class StoredArtifact:
    """An artifact an engine wants kept with the run (`kind` is a runs.models.ArtifactKind value)."""

    kind: str
    content: bytes | str | Path
    filename: str = ""
    # The plan document: only kept (and its sha256 bound) when the plan waits for approval.
    plan_document: bool = False


@dataclass
class PlanJob:
    """What the worker hands an engine for one plan attempt."""

    run: Any  # runs.models.Run, with config, account and tenant loaded
    config: Any
    workdir: Path
    on_line: Callable[[str], None]
    on_stage: Callable[[str, str, dict], None]
    cancel_event: threading.Event


@dataclass
class PlanOutcome:
    status: str
    message: str = ""
    gates: list[dict] = field(default_factory=list)
    gate_digest: str = ""
    source_sha256: str = ""
    plan_sha256: str = ""
    has_changes: bool | None = None
    plan_summary: dict = field(default_factory=dict)
    cost_estimate: dict | None = None
    error: str = ""
    error_category: str = ""
    # Where the run stopped, for the stages it walks: "code" (before planning), "plan" or "gates".
    stopped_at: str = "gates"
    artifacts: list[StoredArtifact] = field(default_factory=list)
    stage_timings: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)  # engine-owned run fields (drift summary, approvals…)
    transient: bool = False  # a retry may succeed (throttling, a dropped connection)


@dataclass
class ApplyJob:
    run: Any
    workdir: Path
    on_line: Callable[[str], None]
    read_artifact: Callable[[str], bytes | None]  # kind → the stored bytes (verified by the guard)
    record: Callable[[dict], None]  # persist progress on the run (per-action results) as it happens


@dataclass
class ApplyOutcome:
    ok: bool
    message: str = ""
    error: str = ""
    error_category: str = ""
    duration_ms: int = 0
    fields: dict = field(default_factory=dict)
    stage_timings: dict = field(default_factory=dict)
    receipt: dict | None = None  # the verified after-state, written into the audit chain
    follow_up: dict | None = None  # e.g. the recorded rollback, offered as a new reviewed run


class Engine(Protocol):
    name: str
    # Whether an apply makes the other waiting plans of the same workspace stale (Terraform state moves).
    stales_siblings: bool

    def plan(self, job: PlanJob) -> PlanOutcome: ...

    def recheck(self, run) -> list[str]:
        """Just before an approved run applies: what changed in the world since its plan (one reason
        each). Any reason makes the run stale and nothing is applied."""
        ...

    def apply(self, job: ApplyJob) -> ApplyOutcome: ...

    def page(self, run) -> dict | None:
        """What the run page shows of this engine's plan: {"template": partial, ...its context}, or None
        for the page's built-in plan diff."""
        ...

    def source_digest(self, stored: bytes) -> str:
        """The digest of the stored source artifact, compared with the run's (and approval's)
        `source_sha256` before an apply."""
        ...


def work_root() -> Path:
    return Path(getattr(settings, "GANTRY_WORK_ROOT", Path(settings.VAR_DIR) / "work"))


def workdir_for(run) -> Path:
    """The run's scratch directory on this worker (an engine may leave a plan there for its apply)."""
    return work_root() / f"run-{run.pk}"


class UnknownEngine(LookupError):
    pass


@cache
def _load(path: str) -> Engine:
    return import_string(path)()


def engine_for(name: str) -> Engine:
    try:
        path = settings.GANTRY_ENGINES[name]
    except KeyError:
        raise UnknownEngine(
            f"no engine named {name!r} (known: {', '.join(settings.GANTRY_ENGINES)})"
        ) from None
    return _load(path)
