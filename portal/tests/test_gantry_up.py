"""gantry_up starts in order: ports checked first, then the sandbox, and the rest only once it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from portal.management.commands import gantry_up
from portal.testing.services import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_process_may_start(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"started {args[0]!r} although a port was busy")

    monkeypatch.setattr(gantry_up.subprocess, "Popen", refuse)


@pytest.fixture
def busy_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_busy_web_port_names_it_and_starts_nothing(settings, busy_port, no_process_may_start):
    settings.GANTRY_SANDBOX_PORT = free_port()
    with pytest.raises(CommandError, match=rf"Port {busy_port} on 127.0.0.1 \(the web portal\).*GANTRY_PORT"):
        call_command("gantry_up", "--port", str(busy_port), stdout=StringIO())


def test_a_busy_sandbox_port_names_its_setting_and_starts_nothing(settings, busy_port, no_process_may_start):
    settings.GANTRY_SANDBOX_PORT = busy_port
    with pytest.raises(CommandError, match=rf"Port {busy_port} .*\(the AWS sandbox\).*GANTRY_SANDBOX_PORT"):
        call_command("gantry_up", "--port", str(free_port()), stdout=StringIO())


def test_an_exit_code_of_the_command_line_is_non_zero(busy_port):
    result = subprocess.run(
        [sys.executable, "manage.py", "gantry_up", "--port", str(busy_port)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GANTRY_SANDBOX_PORT": str(free_port())},
    )
    assert result.returncode != 0
    assert f"Port {busy_port}" in result.stderr


def _recorder(marker: Path, endpoint: str) -> list[str]:
    """A stand-in for worker or web that writes down whether the sandbox answered when it started."""
    code = (
        f"from iac.sandbox import is_running; open({str(marker)!r}, 'w').write(str(is_running({endpoint!r})))"
    )
    return [sys.executable, "-c", code]


def test_worker_and_web_start_only_after_the_sandbox_answers(tmp_path):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    slow_sandbox = (
        f"import time; time.sleep(2); from iac.sandbox import run_forever; run_forever('127.0.0.1', {port})"
    )
    commands = {
        "sandbox": [sys.executable, "-c", slow_sandbox],
        "worker": _recorder(tmp_path / "worker", endpoint),
        "web": _recorder(tmp_path / "web", endpoint),
    }
    command = gantry_up.Command(stdout=StringIO())
    running = command.start_stack(commands, sandbox_endpoint=endpoint, build_world=False, timeout=90)
    try:
        for name in ("worker", "web"):
            assert running[name].wait(timeout=60) == 0
            assert (tmp_path / name).read_text() == "True"
    finally:
        gantry_up.stop_all(running)


def test_a_sandbox_that_dies_stops_the_start_and_nothing_else_runs(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    commands = {
        "sandbox": [sys.executable, "-c", "raise SystemExit(3)"],
        "worker": _recorder(tmp_path / "worker", endpoint),
    }
    with pytest.raises(CommandError, match=r"sandbox exited \(code 3\) before it answered"):
        gantry_up.Command(stdout=StringIO()).start_stack(
            commands, sandbox_endpoint=endpoint, build_world=False
        )
    assert not (tmp_path / "worker").exists()
