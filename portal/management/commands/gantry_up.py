"""`make run`: the portal, a Celery worker, beat and the embedded AWS sandbox, supervised together.

Start-up is ordered: every port is checked first (a busy one names the setting that moves it, and nothing
starts), then the sandbox, which must answer before the demo world is built and worker, beat and web start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from iac.sandbox import is_running, port_is_free
from tenants.demo_world import build_demo_world, demo_account
from tenants.management.commands.seed_demo import DEMO_USERS, demo_password

QUEUES = "default,agents,plan,apply"
SANDBOX_TIMEOUT_SECONDS = 90.0  # a restored snapshot of a large world takes a few seconds on top of imports
FILE_MAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


class Command(BaseCommand):
    help = "Start the sandbox, then worker, beat and web; stop them all on Ctrl-C or when one exits."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("GANTRY_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("GANTRY_PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--no-demo-world", action="store_true", help="do not build the demo AWS world")

    def handle(self, *args, host, port, concurrency, no_demo_world, **options):
        check_ports(
            [
                (
                    settings.GANTRY_SANDBOX_HOST,
                    settings.GANTRY_SANDBOX_PORT,
                    "the AWS sandbox",
                    "GANTRY_SANDBOX_PORT",
                ),
                (host, port, "the web portal", "--port or GANTRY_PORT"),
            ]
        )
        py = sys.executable
        commands = {
            "sandbox": [py, "manage.py", "sandbox"],
            "worker": [py, "-m", "celery", "-A", "portal", "worker", "-Q", QUEUES, "-c", str(concurrency),
                       "-l", "INFO", "-n", "gantry-worker@%h"],
            "beat": [py, "-m", "celery", "-A", "portal", "beat", "-l", "INFO",
                     "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            "web": [py, "-m", "uvicorn", "portal.asgi:application", "--host", host, "--port", str(port),
                    "--proxy-headers", "--no-access-log"],
        }  # fmt: skip
        running = self.start_stack(commands, sandbox_endpoint=settings.GANTRY_SANDBOX_ENDPOINT,
                                   build_world=not no_demo_world)  # fmt: skip
        self.greet(host, port)
        self.supervise(running)

    def start_stack(
        self,
        commands: dict[str, list[str]],
        *,
        sandbox_endpoint: str,
        build_world: bool = True,
        timeout: float = SANDBOX_TIMEOUT_SECONDS,
    ) -> dict[str, subprocess.Popen]:
        """The sandbox first; the others only once it answers (and the demo world is built)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        sandbox = subprocess.Popen(commands["sandbox"], env=env, start_new_session=True)
        try:
            self.wait_for_sandbox(sandbox, sandbox_endpoint, timeout)
            if build_world and (account := demo_account()):
                self.stdout.write("Building the demo AWS world (only what is missing) …")
                counts = build_demo_world(account)
                self.stdout.write("Demo AWS world: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        except BaseException:
            stop_all({"sandbox": sandbox})
            raise
        running = {"sandbox": sandbox}
        for name, command in commands.items():
            if name != "sandbox":
                running[name] = subprocess.Popen(command, env=env, start_new_session=True)
        return running

    def wait_for_sandbox(self, sandbox: subprocess.Popen, endpoint: str, timeout: float) -> None:
        self.stdout.write(f"Waiting for the AWS sandbox at {endpoint} …")
        deadline = time.monotonic() + timeout
        while not is_running(endpoint, timeout=1.0):
            if (code := sandbox.poll()) is not None:
                raise CommandError(f"The AWS sandbox exited (code {code}) before it answered at {endpoint}.")
            if time.monotonic() > deadline:
                raise CommandError(f"The AWS sandbox did not answer at {endpoint} within {timeout:.0f}s.")
            time.sleep(0.2)

    def greet(self, host: str, port: int) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nGantry is starting on http://{host}:{port}/"))
        self.stdout.write(f"Embedded AWS sandbox: {settings.GANTRY_SANDBOX_ENDPOINT}")
        if settings.EMAIL_BACKEND == FILE_MAIL_BACKEND:
            self.stdout.write(
                f"Outgoing mail (sign-up verification links): files in {settings.EMAIL_FILE_PATH}"
            )
        for name, role in DEMO_USERS:
            self.stdout.write(f"  {role:<9} {name}@demo.gantry.local  password: {demo_password(name)}")
        self.stdout.write("Press Ctrl-C to stop.\n")

    def supervise(self, running: dict[str, subprocess.Popen]) -> None:
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                exited = [name for name, proc in running.items() if proc.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping the others.")
                    break
                time.sleep(0.5)
        finally:
            stop_all(running)


def check_ports(wanted: list[tuple[str, int, str, str]]) -> None:
    """Refuse to start anything while a port the stack needs is taken; say which and what moves it."""
    for host, port, role, setting in wanted:
        if not port_is_free(host, port):
            raise CommandError(
                f"Port {port} on {host} ({role}) is already in use. Stop what holds it "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or choose another port with {setting}."
            )


def stop_all(running: dict[str, subprocess.Popen]) -> None:
    """SIGTERM every process group (the sandbox saves its world on it), then SIGKILL the stragglers."""
    for proc in running.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in running.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
