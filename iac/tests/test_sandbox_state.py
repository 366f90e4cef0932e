"""The sandbox's world survives restarts: saved after a quiet period and at shutdown, restored at start."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from iac import sandbox
from iac.sandbox_state import SandboxState, SnapshotMismatch, restore_backends
from portal.testing.services import free_port

REPO = Path(__file__).resolve().parents[2]


class SandboxProcess:
    """`run_forever` in its own process, as `manage.py sandbox` runs it."""

    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port = state, port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        code = (
            "from pathlib import Path; from iac.sandbox import run_forever; "
            f"run_forever('127.0.0.1', {self.port}, state_path=Path({str(self.state)!r}), quiet_seconds=0.3)"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE)
        sandbox.wait_until_running(self.endpoint, timeout=60)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def ec2(self):
        return boto3.client(
            "ec2",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


def instance_states(ec2) -> dict[str, str]:
    reservations = ec2.describe_instances()["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def test_instances_come_back_with_their_ids_and_states(tmp_path):
    box = SandboxProcess(tmp_path / "state.pickle", free_port())
    box.start()
    try:
        ec2 = box.ec2()
        image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
        launched = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, InstanceType="t3.micro")
        first, second = (i["InstanceId"] for i in launched["Instances"])
        ec2.stop_instances(InstanceIds=[first])
    finally:
        assert box.stop(signal.SIGTERM) == 0  # shutdown writes the snapshot

    box.start()
    try:
        assert instance_states(box.ec2()) == {first: "stopped", second: "running"}
    finally:
        box.stop()


def test_a_quiet_period_saves_so_even_a_killed_sandbox_keeps_its_world(tmp_path):
    state = tmp_path / "state.pickle"
    box = SandboxProcess(state, free_port())
    box.start()
    try:
        ec2 = box.ec2()
        image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        saved_before = state.stat().st_mtime_ns if state.exists() else 0
        for _ in range(100):  # the autosave runs 0.3 s after the last request
            if state.exists() and state.stat().st_mtime_ns > saved_before:
                break
            time.sleep(0.1)
    finally:
        box.stop(signal.SIGKILL)  # no shutdown save: only the periodic one can have kept the instance

    box.start()
    try:
        assert instance in instance_states(box.ec2())
    finally:
        box.stop()


def test_a_snapshot_from_another_moto_is_set_aside_not_loaded(tmp_path):
    state = tmp_path / "state.pickle"
    state.write_bytes(pickle.dumps({"format": 1, "moto": "0.0.1", "backends": {}}))
    with pytest.raises(SnapshotMismatch):
        restore_backends(state.read_bytes())
    assert SandboxState(state).restore() == []
    assert not state.exists() and state.with_suffix(".unreadable").exists()


def test_a_busy_port_names_the_port_and_the_setting(tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(sandbox.SandboxError, match=f"port {port} .*GANTRY_SANDBOX_PORT"):
            sandbox.run_forever("127.0.0.1", port, state_path=tmp_path / "state.pickle")


def test_a_request_in_flight_is_never_quiet_and_a_save_waits_for_it():
    import threading

    from iac.sandbox_state import RequestGate

    gate = RequestGate()
    assert gate.quiet_for() is None  # nothing happened: nothing to save
    inside, release, saved = threading.Event(), threading.Event(), threading.Event()

    def slow_request():
        with gate.request():
            inside.set()
            release.wait(10)

    def save():
        with gate.exclusive():
            saved.set()

    request = threading.Thread(target=slow_request)
    request.start()
    inside.wait(10)
    with gate.request():
        pass  # a short request ends while the slow one is still in flight
    assert gate.quiet_for() == 0.0
    saver = threading.Thread(target=save)
    saver.start()
    assert not saved.wait(0.3)  # the save waits for the request in flight
    release.set()
    request.join(10)
    saver.join(10)
    assert saved.is_set()
    assert gate.quiet_for() >= 0.0
    with gate.exclusive():
        gate.mark_saved()
    assert gate.quiet_for() is None
