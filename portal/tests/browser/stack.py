"""The whole of Gantry as separate processes on loopback, for the browser tests.

A real browser needs a real web server, and a run needs a real Celery worker, the AWS sandbox and
Terraform, all sharing one database. pytest-django's test database lives inside the test process (and in
memory on SQLite), so nothing else could see it; instead every process here runs against the embedded
defaults in a private ``GANTRY_VAR_DIR``: a SQLite file (WAL, shared by web and worker), the file-system
Celery broker, file cache and local artifact storage.

- the sandbox is ``manage.py sandbox`` in its own process: an in-process moto would share its backends
  with ``mock_aws`` in other tests of the same pytest worker, which resets them;
- ``manage.py migrate`` and a seed (``seed_demo``, MFA required for approvers and admins, a TOTP
  authenticator for each demo user) run as subprocesses;
- the web is uvicorn serving ``portal.asgi`` as in production; the worker (queues default, agents, plan,
  apply) starts on first use, since only the end-to-end flow needs it.

Every process runs in its own session and its group is killed on exit (``portal.testing.services``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from portal.testing import services

DEMO_DOMAIN = "demo.gantry.local"
DEMO_USERS = ("admin", "approver", "approver2", "operator", "viewer")
STARTUP_TIMEOUT = 90.0

SEED = """
import json, os
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import get_user_model
from django.core.management import call_command
from tenants.models import Tenant

call_command("seed_demo", verbosity=0)
tenant = Tenant.objects.get(slug="demo")
tenant.mfa_required_for_privileged = True
tenant.save(update_fields=["mfa_required_for_privileged"])
for name, secret in json.loads(os.environ["T_TOTP_SECRETS"]).items():
    TOTP.activate(get_user_model().objects.get(username=name), secret)
emit({"tenant": tenant.pk})
"""


def demo_email(name: str) -> str:
    return f"{name}@{DEMO_DOMAIN}"


def demo_password(name: str) -> str:
    return f"{name}-gantry-demo"  # seed_demo's default suffix; the stack never sets another


class Process:
    """A long-running child in its own session, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                cmd,
                cwd=services.BASE_DIR,
                env=services.child_env(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return services.log_tail(self.log_path, lines)

    def stop(self) -> None:
        services.stop_process(self.popen, sig=signal.SIGTERM, timeout=20)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait_until_up(process: Process, url: str, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not _http_ok(url):
        if not process.alive():
            raise services.ServiceError(
                f"{what} exited with {process.popen.returncode}:\n{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise services.ServiceError(f"{what} not up within {STARTUP_TIMEOUT:.0f}s:\n{process.log_tail()}")
        time.sleep(0.2)


def _start_listening(name: str, cmd_for_port, env: dict[str, str], log_dir: Path, path: str) -> tuple:
    """Start a server on a free port (retrying when the port was taken meanwhile); returns (process, url)."""
    for attempt in range(3):
        port = services.free_port()
        process = Process(name, cmd_for_port(port), env, log_dir)
        url = f"http://{services.LOOPBACK}:{port}"
        try:
            _wait_until_up(process, url + path, name)
        except services.ServiceError:
            process.stop()
            if "address already in use" in process.log_tail().lower() and attempt < 2:
                continue
            raise
        return process, url
    raise AssertionError("unreachable")


@dataclass
class Stack:
    base_url: str
    sandbox_url: str
    var_dir: Path
    log_dir: Path
    env: dict[str, str]
    totp_secrets: dict[str, str]
    tenant_id: int
    processes: dict[str, Process] = field(default_factory=dict)
    _exit: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    sign_ins: dict[str, dict] = field(default_factory=dict, repr=False)  # user -> Playwright storage state

    def url(self, path: str) -> str:
        return self.base_url + path

    def ensure_worker(self) -> services.Worker:
        """The Celery worker, started on first call and stopped with the stack."""
        worker = getattr(self, "_worker", None)
        if worker is None or not worker.alive():
            worker = self._exit.enter_context(
                services.celery_worker(self.env, concurrency=1, log_dir=self.log_dir)
            )
            self._worker = worker
        return worker

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the stack's database directly (assertions only; the processes own the writes)."""
        with contextlib.closing(sqlite3.connect(self.var_dir / "gantry.sqlite3", timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def diagnostics(self) -> str:
        parts = [f"--- {name} ---\n{process.log_tail(40)}" for name, process in self.processes.items()]
        worker = getattr(self, "_worker", None)
        if worker is not None:
            parts.append(f"--- worker ---\n{worker.log_tail(80)}")
        return "\n".join(parts)


@contextlib.contextmanager
def running_stack(root: Path, totp_secrets: dict[str, str]) -> Iterator[Stack]:
    """Migrate, seed and start sandbox + web in ``root``; yields the Stack and stops everything after."""
    var_dir, log_dir = root / "var", root / "logs"
    var_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "GANTRY_VAR_DIR": str(var_dir),
        "DJANGO_ALLOWED_HOSTS": f"{services.LOOPBACK},localhost",
        "GANTRY_LOG_LEVEL": "WARNING",
        "GANTRY_HEARTBEAT_SECONDS": "2",
    }
    if plugin_dir := os.environ.get("TERRAFORM_PLUGIN_DIR"):
        env["TERRAFORM_PLUGIN_DIR"] = plugin_dir
    py = sys.executable
    with contextlib.ExitStack() as stack:
        sandbox, sandbox_url = _start_listening(
            "sandbox",
            lambda port: [
                py,
                "manage.py",
                "sandbox",
                "--ephemeral",
                "--host",
                services.LOOPBACK,
                "--port",
                str(port),
            ],
            env,
            log_dir,
            "/moto-api/",
        )
        stack.callback(sandbox.stop)
        env["GANTRY_SANDBOX_ENDPOINT"] = sandbox_url
        services.run_manage(["migrate", "--noinput"], env)
        seeded = services.manage_shell(SEED, {**env, "T_TOTP_SECRETS": json.dumps(totp_secrets)})
        web, base_url = _start_listening(
            "web",
            lambda port: [py, "-m", "uvicorn", "portal.asgi:application", "--host", services.LOOPBACK,
                          "--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "5"],
            env,
            log_dir,
            "/healthz",
        )  # fmt: skip
        stack.callback(web.stop)
        gantry = Stack(
            base_url=base_url,
            sandbox_url=sandbox_url,
            var_dir=var_dir,
            log_dir=log_dir,
            env=env,
            totp_secrets=totp_secrets,
            tenant_id=seeded["tenant"],
            processes={"sandbox": sandbox, "web": web},
        )
        stack.enter_context(gantry._exit)  # the worker, when one was started, stops first
        yield gantry
