"""Live stage notifications for `run_pipeline(on_stage=...)`.

The callback is `on_stage(stage, status, info)`, always on the thread that called `run_pipeline`:
- `(stage, "started", {})` when a stage starts (the speculative plan "starts" when every code gate has
  passed and it becomes the run's plan: a plan cancelled by a failing gate is never announced);
- `(stage, status, {"duration_ms": int, "summary": str, ...})` when it ends, status one of
  passed / warned / failed (a gate's verdict blocked the run) / skipped (never ran: not requested, or an
  earlier stage blocked or failed) / error (the stage could not complete: terraform or the account
  failed, a gate crashed, the run was cancelled mid-stage). Gate stages add `"gate"`: the gate's
  structured result. Every stage that was announced as started also ends, exactly once.

A callback is an observer: an exception it raises is logged and the pipeline carries on with the same
verdict, except `StageCancelled` (or a BaseException such as KeyboardInterrupt), which propagates out of
`run_pipeline` after the running work is stopped and discarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

StageCallback = Callable[[str, str, dict], None]

STARTED = "started"
PASSED, WARNED, FAILED, SKIPPED, ERROR = "passed", "warned", "failed", "skipped", "error"
END_STATUSES = (PASSED, WARNED, FAILED, SKIPPED, ERROR)


class StageCancelled(Exception):
    """Raised by an `on_stage` callback to stop the run; it is not swallowed like other errors."""


class StageEvents:
    """Emits each stage's start and end at most once, and keeps a misbehaving callback harmless."""

    def __init__(self, callback: StageCallback | None, stages: Iterable[str]) -> None:
        self.callback = callback
        self.stages = tuple(stages)
        self.started: set[str] = set()
        self.ended: dict[str, str] = {}

    def start(self, name: str, **info: object) -> None:
        if name not in self.stages or name in self.started or name in self.ended:
            return
        self.started.add(name)
        self._emit(name, STARTED, dict(info))

    def end(self, name: str, status: str, *, duration_ms: int = 0, summary: str = "", **info: object) -> None:
        if name not in self.stages or name in self.ended:
            return
        if status not in END_STATUSES:
            raise ValueError(f"not a stage end status: {status!r}")
        self.ended[name] = status
        self._emit(name, status, {"duration_ms": duration_ms, "summary": summary, **info})

    def end_stage(
        self, name: str, stage_status: str, *, duration_ms: int, summary: str, gate: dict | None = None
    ) -> None:
        """End a stage from the pipeline's own stage status (ok/blocked/failed/skipped/cancelled)."""
        if stage_status == "ok":
            status = WARNED if gate is not None and gate.get("status") == "warn" else PASSED
        elif stage_status == "blocked":
            status = FAILED
        elif stage_status == "skipped" or name not in self.started:
            status = SKIPPED  # includes "cancelled before it started"
        else:
            status = ERROR  # failed, or cancelled while running
        if gate is not None and any(f.get("rule") == "gate-crashed" for f in gate.get("findings", [])):
            status = ERROR  # the gate failed closed: no verdict on the code
        extra = {"gate": gate} if gate is not None else {}
        self.end(name, status, duration_ms=duration_ms, summary=summary, **extra)

    def pending(self) -> list[str]:
        return [name for name in self.stages if name not in self.ended]

    def skip_pending(self, reason: str, *, cut_short: str = SKIPPED) -> None:
        """End every stage not ended yet: skipped if it never started, else `cut_short` (skipped when a
        verdict made it moot, error when the run failed or was cancelled under it)."""
        for name in self.pending():
            self.end(name, cut_short if name in self.started else SKIPPED, summary=reason)

    def _emit(self, name: str, status: str, info: dict) -> None:
        if self.callback is None:
            return
        try:
            self.callback(name, status, info)
        except StageCancelled:
            raise
        except Exception:
            logger.exception("on_stage callback failed on %s %s; the pipeline carries on", name, status)


__all__ = ["END_STATUSES", "StageCallback", "StageCancelled", "StageEvents"]
