"""A wrapper around the terraform CLI: one structured result per call, never a raw traceback.

Every command runs with `-input=false -no-color`, TF_IN_AUTOMATION=1 and a minimal environment built from an
allow-list (no inherited TF_* or AWS_* variables, no ~/.terraformrc, no shared AWS config files, no instance
metadata), in its own process group so timeouts and cancellation stop providers and provisioners too: SIGINT
first (Terraform releases the state lock), SIGTERM after a grace period, SIGKILL as a last resort.
Output is streamed line by line to `on_line`, ANSI-stripped and redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from iac.redaction import Redactor, run_redactor

logger = logging.getLogger(__name__)

TAIL_LINES = 200
DEFAULT_GRACE_SECONDS = 30.0
# An interrupted apply finishes its in-flight API calls and writes state before exiting; killing it sooner
# orphans resources, so it gets much longer than plan or init.
APPLY_GRACE_SECONDS = 300.0
_TERM_WAIT_SECONDS = 5.0

# Variables a terraform process may inherit from the worker; everything else (database URLs, Django
# secrets, the worker's own AWS credentials, TF_CLI_ARGS*, TF_VAR_*) is left behind.
_INHERITED_ENV = {
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "AWS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
}
# Env names whose values are registered with the run's redactor.
_SECRET_ENV_RE = re.compile(r"(?i)(SECRET|TOKEN|PASSWORD|PASSWD|ACCESS_KEY_ID|PRIVATE_KEY|CREDENTIAL)")

# With no provider_installation block Terraform also searches implicit local mirrors (~/.terraform.d/plugins,
# /usr/share/terraform/plugins); an explicit `direct {}` keeps the registry case predictable.
_CLI_CONFIG = """disable_checkpoint = true
provider_installation {
  direct {}
}
"""
_cli_config_lock = threading.Lock()
_cli_config_path: Path | None = None
_version_cache: dict[tuple[str, float], str] = {}


class Category(StrEnum):
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    STALE_PLAN = "stale_plan"
    STATE_LOCKED = "state_locked"
    PROVIDER_ERROR = "provider_error"
    INVALID_CONFIG = "invalid_config"
    BACKEND_ERROR = "backend_error"
    BINARY_MISSING = "binary_missing"
    VERSION_UNSUPPORTED = "version_unsupported"
    ERROR = "error"


@dataclass
class TerraformResult:
    command: list[str]
    exit_code: int | None
    duration_ms: int
    ok: bool
    category: Category | None = None
    message: str = ""  # the first error summary, redacted
    stdout_tail: str = ""
    stderr_tail: str = ""
    output: str = ""  # full redacted stdout, only where the output is the product (show_text, fmt)
    json: Any = None  # parsed -json output (validate, show_json, version); show_json is NOT redacted
    changes: bool | None = None  # plan: -detailed-exitcode 2
    lock_id: str | None = None
    plan_sha256: str | None = None  # plan: the saved plan written; apply: the plan applied
    diagnostics: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["category"] = str(self.category) if self.category else None
        return data

    def raise_for_error(self) -> TerraformResult:
        if not self.ok:
            raise TerraformError(self)
        return self


class TerraformError(Exception):
    """Carries the structured result for callers who prefer exceptions."""

    def __init__(self, result: TerraformResult) -> None:
        self.result = result
        category = result.category or Category.ERROR
        super().__init__(f"terraform {' '.join(result.command[1:2])} failed ({category}): {result.message}")


def _setting(name: str, default: Any) -> Any:
    """Django setting read lazily; falls back to the environment default when Django isn't configured."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default


def _cli_config_file() -> Path:
    global _cli_config_path
    with _cli_config_lock:
        if _cli_config_path is None or not _cli_config_path.exists():
            directory = Path(tempfile.mkdtemp(prefix="gantry-terraform-"))
            path = directory / "cli.tfrc"
            path.write_text(_CLI_CONFIG)
            _cli_config_path = path
        return _cli_config_path


def parse_version(text: str) -> tuple[int, ...]:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part or 0) for part in match.groups())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_LOCK_ID_RE = re.compile(r"^\s*ID:\s+(\S+)", re.M)
_ERROR_LINE_RE = re.compile(r"^(?:[│╷╵|]\s*)?Error:\s*(.+)$", re.M)
_PROVIDER_MARKERS = (
    "Failed to query available provider packages",
    "Failed to install provider",
    "Incompatible provider version",
    "Inconsistent dependency lock file",
    "Required plugins are not installed",
    "Failed to load plugin schemas",
    "Plugin did not respond",
    "Could not load plugin",
    "provider produced an unexpected",
    "Provider produced inconsistent",
    "The plugin encountered an error",
    "configuring Terraform AWS Provider",
    "failed to instantiate provider",
)
_INVALID_MARKERS = (
    "Unsupported argument",
    "Missing required argument",
    "Unsupported block type",
    "Unsupported attribute",
    "Reference to undeclared",
    "Argument or block definition required",
    "Unclosed configuration block",
    "Invalid expression",
    "Invalid reference",
    "Invalid function argument",
    "Invalid value for",
    "Invalid block definition",
    "Invalid character",
    "Invalid resource type",
    "Duplicate resource",
    "Duplicate ",
    "Call to unknown function",
    "Module not installed",
    "Unreadable module directory",
    "Missing required provider",
    "No value for required variable",
    "Unsuitable value type",
    "Incorrect attribute value type",
)
_BACKEND_MARKERS = (
    "Backend initialization required",
    "Backend configuration changed",
    "Failed to get existing workspaces",
    "error configuring S3 Backend",
    "Error loading state",
    "Failed to save state",
)


def classify(stderr: str, stdout: str = "") -> tuple[Category | None, str | None]:
    """The error category (and state lock id) Terraform's output implies."""
    text = f"{stderr}\n{stdout}"
    if "Saved plan is stale" in text:
        return Category.STALE_PLAN, None
    if "Error acquiring the state lock" in text or "Error locking state" in text:
        match = _LOCK_ID_RE.search(text)
        return Category.STATE_LOCKED, match.group(1) if match else None
    if any(marker in text for marker in _PROVIDER_MARKERS):
        return Category.PROVIDER_ERROR, None
    if any(marker in text for marker in _INVALID_MARKERS):
        return Category.INVALID_CONFIG, None
    if any(marker in text for marker in _BACKEND_MARKERS):
        return Category.BACKEND_ERROR, None
    return None, None


class _Pump(threading.Thread):
    """Reads one pipe line by line: redacts, keeps a tail, optionally keeps everything, calls back."""

    def __init__(
        self,
        pipe: IO[bytes],
        redactor: Redactor,
        on_line: Callable[[str], None] | None,
        keep_raw: bool,
        callback_lock: threading.Lock,
    ) -> None:
        super().__init__(daemon=True)
        self.callback_lock = callback_lock
        self.pipe = pipe
        self.stream = redactor.stream()
        self.on_line = on_line
        self.keep_raw = keep_raw
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.raw: list[str] = []
        self.redacted: list[str] = []

    def run(self) -> None:
        try:
            for chunk in iter(self.pipe.readline, b""):
                raw = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
                if self.keep_raw:
                    self.raw.append(raw)
                    continue
                line = self.stream(raw)
                self.tail.append(line)
                self.redacted.append(line)
                if self.on_line is not None:
                    try:
                        with self.callback_lock:  # stdout and stderr pumps share one sink
                            self.on_line(line)
                    except Exception:  # a broken log sink must not kill the run
                        logger.exception("terraform on_line callback failed")
        finally:
            with contextlib.suppress(OSError):
                self.pipe.close()


class TerraformRunner:
    """Runs terraform in one work directory."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        cancel_event: threading.Event | None = None,
        binary: str | None = None,
        plugin_dir: str | os.PathLike[str] | None = None,
        plugin_cache_dir: str | os.PathLike[str] | None = None,
        grace_seconds: float | None = None,
        lock_timeout: str = "0s",
        redactor: Redactor | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.extra_env = dict(env or {})
        self.timeout = timeout
        self.on_line = on_line
        self.cancel_event = cancel_event
        self.binary = binary
        self.plugin_dir = plugin_dir
        self.plugin_cache_dir = plugin_cache_dir
        self.grace_seconds = grace_seconds
        self.lock_timeout = lock_timeout
        self.redactor = redactor or run_redactor()
        # Credentials handed to the run are masked wherever they surface.
        self.redactor.register(*(v for k, v in self.extra_env.items() if _SECRET_ENV_RE.search(k)))

    # --- configuration, read lazily ------------------------------------------------------------------
    def _binary(self) -> str:
        return self.binary or _setting("TERRAFORM_BIN", os.environ.get("TERRAFORM_BIN", "terraform"))

    def _timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return float(
            _setting("TERRAFORM_TIMEOUT_SECONDS", int(os.environ.get("TERRAFORM_TIMEOUT_SECONDS", "1800")))
        )

    def _plugin_dir(self) -> str:
        if self.plugin_dir is not None:
            return str(self.plugin_dir)
        return str(_setting("TERRAFORM_PLUGIN_DIR", os.environ.get("TERRAFORM_PLUGIN_DIR", "")) or "")

    def _plugin_cache_dir(self) -> str:
        if self.plugin_cache_dir is not None:
            return str(self.plugin_cache_dir)
        value = _setting("TERRAFORM_PLUGIN_CACHE_DIR", os.environ.get("TERRAFORM_PLUGIN_CACHE_DIR", ""))
        return str(value or "")

    def build_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in _INHERITED_ENV or k.startswith("LC_")}
        env.update(
            {
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
                "TF_CLI_CONFIG_FILE": str(_cli_config_file()),
                # Credentials come only from the platform (env given to the runner), never from the
                # worker's shared files or instance profile.
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_CONFIG_FILE": os.devnull,
            }
        )
        if not self._plugin_dir():
            cache = self._plugin_cache_dir()
            if cache:
                Path(cache).mkdir(parents=True, exist_ok=True)
                env["TF_PLUGIN_CACHE_DIR"] = cache
        env.update(self.extra_env)
        return env

    # --- process handling ----------------------------------------------------------------------------
    def _signal(self, proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _stop(self, proc: subprocess.Popen, grace: float) -> None:
        """SIGINT (Terraform stops gracefully and unlocks state), then SIGTERM, then SIGKILL."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, _TERM_WAIT_SECONDS)):
            self._signal(proc, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            self._signal(proc, signal.SIGKILL)
            proc.wait()
        # Stragglers (provider plugins, provisioner children) share the group.
        self._signal(proc, signal.SIGKILL)

    def _run(
        self,
        args: list[str],
        *,
        ok_codes: Iterable[int] = (0,),
        keep_raw_stdout: bool = False,
        stream: bool = True,
        timeout: float | None = None,
    ) -> tuple[TerraformResult, list[str]]:
        command = [self._binary(), *args]
        start = time.monotonic()
        if self.cancel_event is not None and self.cancel_event.is_set():
            return self._result(
                command, None, start, category=Category.CANCELLED, message="cancelled before start"
            ), []
        try:
            proc = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.build_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own process group: signals reach providers and provisioners
            )
        except FileNotFoundError:
            return self._result(
                command,
                None,
                start,
                category=Category.BINARY_MISSING,
                message=f"terraform binary not found: {command[0]}",
            ), []
        except OSError as exc:
            return self._result(
                command, None, start, category=Category.ERROR, message=f"cannot start terraform: {exc}"
            ), []

        callback = self.on_line if stream else None
        sink_lock = threading.Lock()
        out = _Pump(proc.stdout, self.redactor, callback, keep_raw_stdout, sink_lock)  # type: ignore[arg-type]
        err = _Pump(proc.stderr, self.redactor, callback, False, sink_lock)  # type: ignore[arg-type]
        out.start()
        err.start()

        deadline = start + (timeout if timeout is not None else self._timeout())
        grace = self.grace_seconds
        if grace is None:
            grace = APPLY_GRACE_SECONDS if args[0] == "apply" else DEFAULT_GRACE_SECONDS
        stopped: Category | None = None
        try:
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self.cancel_event is not None and self.cancel_event.is_set():
                    stopped = Category.CANCELLED
                elif time.monotonic() >= deadline:
                    stopped = Category.TIMEOUT
                if stopped:
                    self._stop(proc, grace)
                    break
        except BaseException:
            # The worker itself is going down: never leave terraform running unattended.
            if proc.poll() is None:
                self._stop(proc, grace)
            raise
        out.join(timeout=10)
        err.join(timeout=10)

        stdout_tail, stderr_tail = "\n".join(out.tail), "\n".join(err.tail)
        stderr_all = "\n".join(err.redacted)
        stdout_all = "\n".join(out.redacted)
        if stopped is not None:
            message = "timed out" if stopped == Category.TIMEOUT else "cancelled"
            result = self._result(
                command,
                proc.returncode,
                start,
                category=stopped,
                message=message,
                stdout=stdout_tail,
                stderr=stderr_tail,
            )
        elif proc.returncode in tuple(ok_codes):
            result = self._result(command, proc.returncode, start, stdout=stdout_tail, stderr=stderr_tail)
        else:
            category, lock_id = classify(stderr_all, stdout_all)
            errors = _ERROR_LINE_RE.findall(stderr_all) or _ERROR_LINE_RE.findall(stdout_all)
            message = errors[0].strip() if errors else (stderr_tail.strip().splitlines() or ["failed"])[-1]
            result = self._result(
                command,
                proc.returncode,
                start,
                category=category or Category.ERROR,
                message=message,
                stdout=stdout_tail,
                stderr=stderr_tail,
                lock_id=lock_id,
            )
        return result, out.raw if keep_raw_stdout else out.redacted

    def _result(
        self,
        command: list[str],
        exit_code: int | None,
        start: float,
        *,
        category: Category | None = None,
        message: str = "",
        stdout: str = "",
        stderr: str = "",
        lock_id: str | None = None,
    ) -> TerraformResult:
        return TerraformResult(
            command=[self.redactor.redact(part) for part in command],
            exit_code=exit_code,
            duration_ms=int((time.monotonic() - start) * 1000),
            ok=category is None,
            category=category,
            message=message,
            stdout_tail=stdout,
            stderr_tail=stderr,
            lock_id=lock_id,
        )

    # --- commands ------------------------------------------------------------------------------------
    def version(self) -> TerraformResult:
        result, lines = self._run(["version", "-json"], keep_raw_stdout=True, stream=False, timeout=60)
        if result.ok:
            try:
                result.json = json.loads("\n".join(lines))
            except json.JSONDecodeError:
                result.ok, result.category, result.message = (
                    False,
                    Category.ERROR,
                    "unparseable version output",
                )
        return result

    def check_version(self) -> str:
        """The binary's version; raises TerraformError when it is missing or older than the minimum."""
        binary = self._binary()
        try:
            key = (binary, os.stat(_which(binary)).st_mtime)
        except OSError:
            key = (binary, 0.0)
        if key not in _version_cache:
            result = self.version()
            if not result.ok:
                raise TerraformError(result)
            _version_cache[key] = result.json.get("terraform_version", "")
        found = _version_cache[key]
        minimum = str(_setting("TERRAFORM_MIN_VERSION", os.environ.get("TERRAFORM_MIN_VERSION", "1.6.0")))
        if parse_version(found) < parse_version(minimum):
            raise TerraformError(
                TerraformResult(
                    command=[binary, "version"],
                    exit_code=0,
                    duration_ms=0,
                    ok=False,
                    category=Category.VERSION_UNSUPPORTED,
                    message=f"terraform {found} is older than the required {minimum}",
                )
            )
        return found

    def init(
        self,
        *,
        backend: bool = True,
        backend_config: Mapping[str, str] | None = None,
        reconfigure: bool = False,
    ) -> TerraformResult:
        """Install providers and modules: offline from the plugin mirror when one is configured.

        `-plugin-dir` makes .terraform/providers hold a symlink into the mirror (no copy per work dir);
        without a mirror the shared TF_PLUGIN_CACHE_DIR plays the same role for registry downloads.
        """
        try:
            self.check_version()
        except TerraformError as exc:
            return exc.result
        args = ["init", "-input=false", "-no-color", f"-lock-timeout={self.lock_timeout}"]
        plugin_dir = self._plugin_dir()
        if plugin_dir:
            args.append(f"-plugin-dir={plugin_dir}")
        if not backend:
            args.append("-backend=false")
        for key, value in (backend_config or {}).items():
            args.append(f"-backend-config={key}={value}")
        if reconfigure:
            args.append("-reconfigure")
        return self._run(args)[0]

    def validate(self) -> TerraformResult:
        result, lines = self._run(["validate", "-json", "-no-color"], ok_codes=(0, 1), keep_raw_stdout=True)
        try:
            data = json.loads("\n".join(lines)) if lines else None
        except json.JSONDecodeError:
            data = None
        if data is None:
            if result.ok:
                result.ok, result.category = False, Category.ERROR
                result.message = result.message or "validate produced no JSON"
            return result
        result.json = self.redactor.redact_json(data)
        result.diagnostics = result.json.get("diagnostics", [])
        if result.category is None and not data.get("valid", False):
            result.ok = False
            result.category = classify(json.dumps(data))[0] or Category.INVALID_CONFIG
            if result.category == Category.ERROR:
                result.category = Category.INVALID_CONFIG
            errors = [d.get("summary", "") for d in result.diagnostics if d.get("severity") == "error"]
            result.message = errors[0] if errors else "configuration is invalid"
        return result

    def fmt_check(self) -> TerraformResult:
        """`terraform fmt -check`: `output` lists the files that need formatting, one per line."""
        result, lines = self._run(["fmt", "-check", "-recursive", "-list=true", "-no-color"], ok_codes=(0, 3))
        result.output = "\n".join(line for line in lines if line.strip())
        if result.ok and result.exit_code == 3:
            result.ok = False
            result.category = Category.INVALID_CONFIG
            result.message = "files are not formatted: " + ", ".join(result.output.splitlines())
        return result

    def fmt_diff(self) -> TerraformResult:
        result, lines = self._run(["fmt", "-check", "-recursive", "-diff", "-no-color"], ok_codes=(0, 3))
        result.output = "\n".join(lines)
        return result

    def plan(
        self,
        out: str = "plan.tfplan",
        destroy: bool = False,
        refresh_only: bool = False,
        *,
        var_files: Iterable[str] = (),
    ) -> TerraformResult:
        """Plan to a saved file; `changes` is True on exit 2, False on exit 0."""
        args = [
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            f"-lock-timeout={self.lock_timeout}",
            f"-out={out}",
        ]
        if destroy:
            args.append("-destroy")
        if refresh_only:
            args.append("-refresh-only")
        args.extend(f"-var-file={path}" for path in var_files)
        result, _ = self._run(args, ok_codes=(0, 2))
        if result.ok:
            result.changes = result.exit_code == 2
            planfile = self.workdir / out
            if planfile.is_file():
                result.plan_sha256 = sha256_file(planfile)
        return result

    def show_json(self, planfile: str = "plan.tfplan") -> TerraformResult:
        """The plan as JSON in `json` (unredacted: policy gates need real values; redact before storing)."""
        result, lines = self._run(
            ["show", "-json", "-no-color", planfile], keep_raw_stdout=True, stream=False
        )
        if result.ok:
            try:
                result.json = json.loads("\n".join(lines))
            except json.JSONDecodeError:
                result.ok, result.category, result.message = False, Category.ERROR, "unparseable plan JSON"
        return result

    def show_text(self, planfile: str = "plan.tfplan") -> TerraformResult:
        """The human plan rendering, redacted, in `output`."""
        result, lines = self._run(["show", "-no-color", planfile], stream=False)
        result.output = "\n".join(lines)
        return result

    def apply(self, planfile: str = "plan.tfplan") -> TerraformResult:
        """Apply a saved plan, and only a saved plan (a plan file needs no -auto-approve)."""
        path = self.workdir / planfile
        start = time.monotonic()
        if not path.is_file():
            return self._result(
                [self._binary(), "apply", planfile],
                None,
                start,
                category=Category.ERROR,
                message=f"no saved plan at {planfile}; apply only runs saved plans",
            )
        plan_sha = sha256_file(path)
        result, _ = self._run(
            ["apply", "-input=false", "-no-color", f"-lock-timeout={self.lock_timeout}", planfile]
        )
        result.plan_sha256 = plan_sha
        return result

    def refresh_state(self) -> TerraformResult:
        """`terraform apply -refresh-only -auto-approve`: read the real resources back into the state.
        It changes no resource, only what the state records of them, so it needs no reviewed plan."""
        result, _ = self._run(
            ["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color",
             f"-lock-timeout={self.lock_timeout}"]
        )  # fmt: skip
        return result


def _which(binary: str) -> str:
    if os.sep in binary:
        return binary
    from shutil import which

    return which(binary) or binary
