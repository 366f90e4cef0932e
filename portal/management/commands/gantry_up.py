"""`make run`: the portal, a Celery worker, beat and the embedded AWS sandbox, supervised together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from tenants.management.commands.seed_demo import DEMO_USERS, demo_password

QUEUES = "default,agents,plan,apply"


class Command(BaseCommand):
    help = "Start web, worker, beat and the sandbox; stop them all on Ctrl-C or when one exits."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("GANTRY_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("GANTRY_PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, host, port, concurrency, **options):
        py = sys.executable
        processes = {
            "sandbox": [py, "manage.py", "sandbox"],
            "worker": [py, "-m", "celery", "-A", "portal", "worker", "-Q", QUEUES, "-c", str(concurrency),
                       "-l", "INFO", "-n", "gantry-worker@%h"],
            "beat": [py, "-m", "celery", "-A", "portal", "beat", "-l", "INFO",
                     "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            "web": [py, "-m", "uvicorn", "portal.asgi:application", "--host", host, "--port", str(port),
                    "--proxy-headers", "--no-access-log"],
        }  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        running = {
            name: subprocess.Popen(cmd, env=env, start_new_session=True) for name, cmd in processes.items()
        }
        self.stdout.write(self.style.SUCCESS(f"\nGantry is starting on http://{host}:{port}/"))
        self.stdout.write(f"Embedded AWS sandbox: {settings.GANTRY_SANDBOX_ENDPOINT}")
        for name, role in DEMO_USERS:
            self.stdout.write(f"  {role:<9} {name}@demo.gantry.local  password: {demo_password(name)}")
        self.stdout.write("Press Ctrl-C to stop.\n")
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
            for proc in running.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in running.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
