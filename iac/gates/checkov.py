"""The checkov gate: static policy checks on the Terraform code (before plan) or the plan JSON (after).

Checkov is an isolated tool (its own venv, CHECKOV_BIN), run as a subprocess with `-o json --soft-fail`
so the exit code only signals crashes and the JSON carries the verdict. A missing binary or a crash is a
failing finding, never a silent pass. Inline `#checkov:skip` comments in generated code are not honoured:
only the platform's `skip_checks` (each with a reason) may skip a check.

`CheckovWorker` is the warm variant: a process of the same venv's python that has already imported
Checkov (`iac/checkov_worker.py`) and runs `Checkov(argv).run()` with exactly the CLI's argv and
environment, so a scan costs only the scan (~0.5 s instead of ~5 s). Any worker trouble (no venv python,
a crash, an error exit, output that is not JSON) falls back to the CLI, which then gives the verdict.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

from iac.gates.base import Finding, GateResult, Severity, timed

DEFAULT_TIMEOUT_SECONDS = 300
_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")


def _setting(name: str, default: Any) -> Any:
    from iac.terraform import _setting as read

    return read(name, default)


def _checkov_bin() -> str:
    default = os.environ.get(
        "CHECKOV_BIN", str(Path(__file__).resolve().parents[2] / ".tools" / "checkov" / "bin" / "checkov")
    )
    return str(_setting("CHECKOV_BIN", default))


def _severity(value: str | None) -> Severity | None:
    if not value:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        return None


def _reports(data: Any) -> list[dict]:
    """One report, a list of them (several frameworks), or a bare summary (nothing to scan)."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    return [data] if isinstance(data, dict) else []


def _env() -> dict[str, str]:
    env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
    env["LOG_LEVEL"] = "WARNING"
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _run(command: list[str], timeout: float) -> tuple[int | None, str, str, bool]:
    env = _env()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        except FileNotFoundError:
            return None, "", "", False
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            timed_out,
        )


WORKER_SCRIPT = Path(__file__).resolve().parents[1] / "checkov_worker.py"
_WORKER_EXITED = object()
_shared_lock = threading.Lock()
_shared: dict[tuple[str, str], CheckovWorker] = {}


@atexit.register
def _close_shared_workers() -> None:
    for worker in list(_shared.values()):
        if worker.owner_pid == os.getpid():
            worker.close()


class CheckovWorker:
    """A warm checkov process (`iac/checkov_worker.py`) that serves scans one at a time, each in a fresh
    fork of the imported process; see the module docstring.

    `start()` returns None when there is no venv python next to CHECKOV_BIN or it cannot be started.
    Always `close()` it (a context manager does): a worker that never got a request is stopped.
    """

    def __init__(self, proc: subprocess.Popen, stderr: Any) -> None:
        self.proc = proc
        self.owner_pid = os.getpid()
        self._stderr = stderr
        self._lines: queue.Queue[Any] = queue.Queue()
        self._ready = False
        self._broken = False
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="checkov-worker-reader", daemon=True).start()

    @classmethod
    def start(cls) -> CheckovWorker | None:
        binary = _checkov_bin()
        python = Path(binary).parent / "python"
        if os.sep not in binary or not python.exists() or not WORKER_SCRIPT.is_file():
            return None
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the worker, closed in close()
        try:
            proc = subprocess.Popen(
                [str(python), str(WORKER_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=_env(),
                start_new_session=True,
            )
        except OSError:
            stderr.close()
            return None
        return cls(proc, stderr)

    @classmethod
    def shared(cls) -> CheckovWorker | None:
        """This process's long-lived warm worker, started on first use and again if it died or broke.

        The worker never scans in its own process (each scan is a fresh fork of the freshly imported
        state), so one worker can serve every run of a long-lived process (a Celery worker) and a run
        pays for Checkov's imports only once per process. Never close it: it is stopped at exit.
        """
        key = (_checkov_bin(), str(WORKER_SCRIPT))
        with _shared_lock:
            worker = _shared.get(key)
            if worker is None or not worker.usable():
                if worker is not None:
                    worker.close()
                worker = cls.start()
                if worker is None:
                    _shared.pop(key, None)
                    return None
                _shared[key] = worker
            return worker

    def usable(self) -> bool:
        """Still alive, not broken, and a child of this process (not inherited through a fork)."""
        return not self._broken and self.owner_pid == os.getpid() and self.proc.poll() is None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self._lines.put(json.loads(raw))
            except ValueError:
                self._lines.put({"error": "unreadable worker output"})
        self._lines.put(_WORKER_EXITED)

    def _next(self, deadline: float) -> Any:
        return self._lines.get(timeout=max(0.0, deadline - time.monotonic()))

    def run(self, argv: list[str], timeout: float) -> tuple[int | None, str, str, bool] | None:
        """(exit code, stdout, stderr, timed out) like `_run`, or None when the CLI should be used instead.

        Scans are serialised; after any trouble the worker is not used again (the CLI takes over)."""
        with self._lock:
            if self._broken or self.proc.poll() is not None:
                return None
            deadline = time.monotonic() + timeout
            try:
                if not self._ready:
                    ready = self._next(deadline)
                    if not (isinstance(ready, dict) and ready.get("ready")):
                        self._broken = True
                        return None
                    self._ready = True
                assert self.proc.stdin is not None
                self.proc.stdin.write((json.dumps({"argv": argv}) + "\n").encode("utf-8"))
                self.proc.stdin.flush()
                answer = self._next(deadline)
            except queue.Empty:
                self._broken = True
                self.close()
                return None, "", "", True
            except OSError:  # the worker died before reading the request
                self._broken = True
                return None
            if answer is _WORKER_EXITED:
                self._broken = True
        if not isinstance(answer, dict) or "error" in answer or answer.get("exit_code") != 0:
            return None
        stdout = answer.get("stdout")
        return (0, stdout, "", False) if isinstance(stdout, str) else None

    def gate(
        self,
        target: str | os.PathLike[str],
        *,
        kind: Literal["code", "plan"] = "code",
        skip_checks: dict[str, str] | None = None,
        severity_threshold: Severity | str | None = None,
        timeout: float | None = None,
    ) -> GateResult:
        """`checkov_gate` through this warm worker (falling back to the CLI); same arguments, same verdict."""
        return _gate(target, kind, skip_checks, severity_threshold, timeout, self)

    def close(self) -> None:
        """Stop the worker (and anything it forked): its answer, if any, has been read already."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, AttributeError):
                stream.close()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):
            self._stderr.close()

    def __enter__(self) -> CheckovWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def checkov_gate(
    target: str | os.PathLike[str],
    *,
    kind: Literal["code", "plan"] = "code",
    skip_checks: dict[str, str] | None = None,
    severity_threshold: Severity | str | None = None,
    timeout: float | None = None,
) -> GateResult:
    """Run checkov on a work dir (kind="code") or a `terraform show -json` file (kind="plan").

    skip_checks: check id -> reason; reasons are recorded in details["skipped"].
    severity_threshold: failed checks below it are non-blocking warnings. Checks without a severity (the
    offline default: severities come from the Prisma platform) always block.
    """
    return _gate(target, kind, skip_checks, severity_threshold, timeout, None)


def _gate(
    target: str | os.PathLike[str],
    kind: str,
    skip_checks: dict[str, str] | None,
    severity_threshold: Severity | str | None,
    timeout: float | None,
    worker: CheckovWorker | None,
) -> GateResult:
    gate = GateResult(name=f"checkov_{kind}")
    skip_checks = dict(skip_checks or {})
    threshold = _severity(str(severity_threshold)) if severity_threshold else None
    with timed(gate):
        missing_reason = [check for check, reason in skip_checks.items() if not (reason or "").strip()]
        if missing_reason:
            gate.add(
                Finding(
                    rule="checkov-skip-without-reason",
                    message=f"skipped checks need a reason: {', '.join(sorted(missing_reason))}",
                )
            )
        binary = _checkov_bin()
        path = Path(target)
        if kind == "code":
            command = [binary, "-d", str(path), "--framework", "terraform"]
        elif kind == "plan":
            command = [
                binary,
                "-f",
                str(path),
                "--framework",
                "terraform_plan",
                "--repo-root-for-plan-enrichment",
                str(path.parent),
            ]
        else:
            raise ValueError(f"kind must be 'code' or 'plan', not {kind!r}")
        command += ["-o", "json", "--soft-fail", "--skip-download", "--compact"]
        if skip_checks:
            command += ["--skip-check", ",".join(sorted(skip_checks))]
        gate.details["skipped"] = [{"check_id": c, "reason": r} for c, r in sorted(skip_checks.items())]
        gate.details["command"] = command[1:]

        if not Path(binary).exists() and os.sep in binary:
            gate.add(
                Finding(rule="checkov-missing", message=f"checkov binary not found at {binary}; cannot scan")
            )
            gate.summary = "checkov is not installed"
            return gate
        if not path.exists():
            gate.add(Finding(rule="checkov-target-missing", message=f"nothing to scan at {path}"))
            gate.summary = "scan target missing"
            return gate

        budget = timeout if timeout is not None else DEFAULT_TIMEOUT_SECONDS
        ran = worker.run(command[1:], budget) if worker is not None else None
        if ran is None:  # no warm worker, or it failed: the CLI decides
            ran = _run(command, budget)
        code, stdout, stderr, timed_out = ran
        if code is None:
            gate.add(
                Finding(rule="checkov-missing", message=f"checkov binary not found: {binary}; cannot scan")
            )
            gate.summary = "checkov is not installed"
            return gate
        if timed_out:
            gate.add(Finding(rule="checkov-timeout", message=f"checkov did not finish within {budget:.0f}s"))
            gate.summary = "checkov timed out"
            return gate
        try:
            data = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            data = None
        if code != 0 or data is None:
            gate.add(
                Finding(
                    rule="checkov-error", message=f"checkov failed (exit {code}): {stderr.strip()[-500:]}"
                )
            )
            gate.summary = "checkov failed"
            return gate

        failed = passed = 0
        inline_skips: list[dict] = []
        for report in _reports(data):
            results = report.get("results") or {}
            passed += len(results.get("passed_checks") or [])
            for check in results.get("failed_checks") or []:
                failed += 1
                severity = _severity(check.get("severity"))
                blocking = True
                if threshold is not None and severity is not None:
                    blocking = _SEVERITY_ORDER.index(severity) >= _SEVERITY_ORDER.index(threshold)
                lines = check.get("file_line_range") or []
                location = f" ({check.get('file_path', '').lstrip('/')}:{lines[0]})" if lines else ""
                gate.add(
                    Finding(
                        rule=check.get("check_id", "checkov"),
                        message=f"{check.get('check_name', '')}{location}",
                        severity=severity or Severity.HIGH,
                        address=check.get("resource", ""),
                        blocking=blocking,
                    )
                )
            for check in results.get("skipped_checks") or []:
                # Only the platform's skip list counts; a suppression comment in generated code does not.
                check_id = check.get("check_id", "")
                if check_id in skip_checks:
                    continue
                comment = (check.get("check_result") or {}).get("suppress_comment", "")
                inline_skips.append(
                    {"check_id": check_id, "resource": check.get("resource", ""), "comment": comment}
                )
                gate.add(
                    Finding(
                        rule=check_id or "checkov-inline-skip",
                        message=f"{check.get('check_name', '')} (inline skip ignored: {comment})",
                        severity=_severity(check.get("severity")) or Severity.HIGH,
                        address=check.get("resource", ""),
                    )
                )
            for error in results.get("parsing_errors") or []:
                gate.add(Finding(rule="checkov-parse-error", message=f"checkov could not parse {error}"))
        gate.details.update({"passed": passed, "failed": failed, "inline_skips": inline_skips})
        gate.summary = f"{failed} failed, {passed} passed, {len(skip_checks)} skipped by policy"
    return gate
