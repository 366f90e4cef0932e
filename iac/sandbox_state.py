"""Keep the embedded sandbox's world across restarts: a pickle of moto's in-process backends.

moto has no save/load, and its request recorder replays raw requests, so anything named by a
server-generated id (instance ids, ARN suffixes) comes back different or not at all. The sandbox runs in
its own process, so pickling every backend dict in use (one `pickle.dumps`, which keeps the references
between backends) and putting the dicts' contents back in a fresh process restores the very same objects.

The file is the sandbox's own, written under the var folder; it is loaded with `pickle`, so it must never
come from anywhere else.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT = 1


class SnapshotMismatch(Exception):
    """The snapshot was written by another moto version or format; it is set aside, not loaded."""


def _moto_version() -> str:
    import moto

    return moto.__version__


def _live_backend_dicts() -> list[Any]:
    from moto.core.base_backend import BackendDict

    return list(BackendDict._instances)


def _address(backend_dict: Any) -> tuple[str, str]:
    """(module, attribute) naming a backend dict, so a fresh process can find its own copy."""
    module = backend_dict.backend.__module__
    for name, value in vars(sys.modules[module]).items():
        if value is backend_dict:
            return module, name
    raise LookupError(f"no module attribute holds moto's {backend_dict.service_name} backends")


def snapshot_backends() -> bytes:
    """Every moto backend in use, pickled together."""
    backends = {_address(bd): dict(bd) for bd in _live_backend_dicts() if len(bd)}
    return pickle.dumps(
        {"format": FORMAT, "moto": _moto_version(), "backends": backends}, protocol=pickle.HIGHEST_PROTOCOL
    )


def restore_backends(data: bytes) -> list[str]:
    """Replace moto's backends with a snapshot's; returns the services restored."""
    from moto.core.base_backend import BackendDict

    snapshot = pickle.loads(data)  # noqa: S301 — the sandbox's own file, see the module docstring
    if snapshot.get("format") != FORMAT or snapshot.get("moto") != _moto_version():
        raise SnapshotMismatch(f"snapshot of moto {snapshot.get('moto')}, format {snapshot.get('format')}")
    restored = []
    for (module, name), accounts in snapshot["backends"].items():
        live = getattr(importlib.import_module(module), name)
        live.clear()
        live.update(accounts)
        if live not in BackendDict._instances:
            BackendDict._instances.append(live)
        restored.append(live.service_name)
    return sorted(restored)


class RequestGate:
    """Requests run side by side; a snapshot waits until none is in flight and holds new ones meanwhile,
    so no backend changes while it is pickled."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._frozen = False
        self._changed_at: float | None = None  # when the last request since the last snapshot ended

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            while self._frozen:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._changed_at = time.monotonic()
                self._cond.notify_all()

    def quiet_for(self) -> float | None:
        """Seconds since the last request ended when none is in flight (0 while one is); None when nothing
        happened since the last snapshot."""
        with self._cond:
            if self._changed_at is None:
                return None
            return 0.0 if self._active else time.monotonic() - self._changed_at

    def mark_saved(self) -> None:
        """Called inside `exclusive()`: what is saved now is every request so far."""
        self._changed_at = None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._frozen:
                self._cond.wait()
            self._frozen = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._frozen = False
                self._cond.notify_all()

    def wrap(self, app: Callable) -> Callable:
        """The WSGI app with every request (body included) inside the gate."""

        def gated(environ: dict, start_response: Callable) -> Iterable[bytes]:
            with self.request():
                return list(app(environ, start_response))

        return gated


class SandboxState:
    """The snapshot file of one sandbox: restored at start, saved after a quiet period and at shutdown."""

    def __init__(self, path: Path, *, quiet_seconds: float = 5.0) -> None:
        self.path = Path(path)
        self.quiet_seconds = quiet_seconds
        self.gate = RequestGate()
        self._stop = threading.Event()

    def restore(self) -> list[str]:
        if not self.path.exists():
            return []
        started = time.perf_counter()
        try:
            services = restore_backends(self.path.read_bytes())
        except (SnapshotMismatch, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            aside = self.path.with_suffix(".unreadable")
            os.replace(self.path, aside)
            logger.warning("Sandbox snapshot not restored (%s); kept as %s, starting empty", exc, aside)
            return []
        logger.info(
            "Sandbox restored from %s in %.2fs: %s",
            self.path,
            time.perf_counter() - started,
            ", ".join(services),
        )
        return services

    def save(self) -> None:
        started = time.perf_counter()
        with self.gate.exclusive():
            data = snapshot_backends()
            self.gate.mark_saved()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_bytes(data)
        os.replace(partial, self.path)  # a crash mid-write leaves the previous snapshot intact
        logger.info(
            "Sandbox saved to %s (%d kB) in %.2fs",
            self.path,
            len(data) // 1024,
            time.perf_counter() - started,
        )

    def _autosave(self) -> None:
        while not self._stop.wait(min(1.0, self.quiet_seconds)):
            quiet = self.gate.quiet_for()
            if quiet is not None and quiet >= self.quiet_seconds:
                try:
                    self.save()
                except Exception:  # a failed periodic save must not stop the sandbox; shutdown tries again
                    logger.exception("Sandbox snapshot failed")

    def start_autosave(self) -> threading.Thread:
        thread = threading.Thread(target=self._autosave, name="sandbox-autosave", daemon=True)
        thread.start()
        return thread

    def stop_autosave(self) -> None:
        self._stop.set()
