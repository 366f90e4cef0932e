"""Real services on loopback for integration tests, each stopping itself when its `with` block ends.

- `postgres_server()` initialises a throw-away cluster in a temp dir and yields a superuser DSN. As root
  it runs initdb/postgres as the unprivileged `postgres` system user (initdb refuses to run as root).
- `redis_server()` runs redis-server with no persistence and yields a redis:// URL.
- `moto_server()` runs moto's ThreadedMotoServer in this process and yields its endpoint.
- `celery_worker(env)` runs a real `celery -A portal worker` subprocess with the given environment and
  yields once the worker says it is ready.
- `run_manage(args, env)` / `manage_shell(code, env)` run `manage.py` in a subprocess with a clean
  environment, so the child sees exactly the database, broker and var dir the test chose.

Every process is started in its own session (process group) and that group is killed on exit, so no
child outlives the block. `ServiceUnavailable` means the program is not installed on this machine; the
pytest fixtures turn it into a skip (or a failure when GANTRY_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
LOOPBACK = "127.0.0.1"
WORKER_QUEUES = ("default", "agents", "plan", "apply")
RESULT_MARKER = "GANTRY-RESULT:"

# Variables that steer Gantry, Django, Celery or AWS clients. A child process never inherits them from
# the test runner's environment: it gets only what the test passes, so a developer's DATABASE_URL or
# AWS_PROFILE can never leak into an integration test.
_STEERING_PREFIXES = ("DJANGO_", "GANTRY_", "CELERY_", "AWS_", "TERRAFORM_", "EMAIL_", "DATABASE_")
_STEERING_NAMES = frozenset({"REDIS_URL", "DEFAULT_FROM_EMAIL", "CHECKOV_BIN"})

logger = logging.getLogger(__name__)


class ServiceUnavailable(RuntimeError):
    """The service's program is not installed on this machine."""


class ServiceError(RuntimeError):
    """The program is installed but did not start (or a command failed); the message has its output."""


# --- small helpers -----------------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (the caller retries if something grabs it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_process(proc: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Ask the process (a session leader we started) to stop, then kill whatever is left of its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("pid %s ignored signal %s for %.0fs; killing its group", proc.pid, sig, timeout)
    # The group id is the leader's pid (start_new_session=True): children that outlived it die too.
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def child_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The runner's environment minus every steering variable, plus `overrides` (None removes a key)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_STEERING_PREFIXES) and key not in _STEERING_NAMES
    }
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        DJANGO_SETTINGS_MODULE="portal.settings",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        AWS_EC2_METADATA_DISABLED="true",  # never probe the instance metadata service
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


# --- manage.py in a subprocess -------------------------------------------------------------------------


def run_manage(
    args: list[str],
    env: Mapping[str, str | None] | None = None,
    *,
    check: bool = True,
    timeout: float = 300.0,
) -> subprocess.CompletedProcess:
    """Run `manage.py <args>` with a clean environment plus `env`; raise ServiceError on failure if `check`."""
    cmd = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    result = subprocess.run(
        cmd, cwd=BASE_DIR, env=child_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise ServiceError(
            f"manage.py {' '.join(args[:2])} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


def manage_shell(code: str, env: Mapping[str, str | None] | None = None, *, timeout: float = 300.0):
    """Run `code` with `manage.py shell -c`; returns the JSON the code printed after RESULT_MARKER.

    The code reports back with `print(RESULT_MARKER + json.dumps(...))` (the marker is available in the
    code's namespace as `RESULT_MARKER`, and `emit(value)` does exactly that).
    """
    prelude = f"import json as _json\nRESULT_MARKER = {RESULT_MARKER!r}\n"
    prelude += "def emit(value):\n    print(RESULT_MARKER + _json.dumps(value, default=str), flush=True)\n"
    result = run_manage(["shell", "--no-imports", "-c", prelude + code], env, timeout=timeout)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    return None


# --- PostgreSQL -----------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """Where initdb and postgres live: GANTRY_PG_BIN, the newest /usr/lib/postgresql/*/bin, or PATH."""
    if configured := os.environ.get("GANTRY_PG_BIN"):
        candidates = [Path(configured)]
    else:
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        candidates = list(versions)
        if on_path := shutil.which("initdb"):
            candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise ServiceUnavailable(
        "PostgreSQL server binaries (initdb, postgres) are not installed; install the Debian "
        "`postgresql` package or point GANTRY_PG_BIN at their directory"
    )


def _postgres_runner() -> tuple[list[str], tuple[int, int] | None]:
    """A command prefix that drops root for initdb/postgres, and the (uid, gid) to own the data dir."""
    if os.geteuid() != 0:
        return [], None
    user = os.environ.get("GANTRY_PG_USER", "postgres")
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise ServiceUnavailable(
            f"running as root and there is no unprivileged {user!r} user to run initdb/postgres as"
        ) from exc
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ServiceUnavailable("running as root and setpriv (util-linux) is not installed")
    # setpriv execs the program, so the Popen pid is the postmaster itself.
    prefix = [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"]
    return prefix, (entry.pw_uid, entry.pw_gid)


def _postgres_ready(dsn: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@contextlib.contextmanager
def postgres_server(*, startup_timeout: float = 60.0) -> Iterator[str]:
    """A throw-away PostgreSQL cluster on loopback (trust auth); yields the superuser DSN."""
    bin_dir = postgres_bin_dir()
    prefix, owner = _postgres_runner()
    root = Path(tempfile.mkdtemp(prefix="gantry-pg-"))
    proc: subprocess.Popen | None = None
    env = {**child_env(), "HOME": str(root), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    try:
        if owner is not None:
            os.chown(root, *owner)
        data = root / "data"
        init = subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if init.returncode != 0:
            raise ServiceError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        log_path = root / "postgres.log"
        for attempt in range(3):
            port = free_port()
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-h", LOOPBACK, "-p", str(port),
                     "-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200"],
                    cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            dsn = f"postgresql://postgres@{LOOPBACK}:{port}/postgres"
            deadline = time.monotonic() + startup_timeout
            while time.monotonic() < deadline and proc.poll() is None and not _postgres_ready(dsn):
                time.sleep(0.1)
            if proc.poll() is None and _postgres_ready(dsn):
                break
            tail = log_tail(log_path)
            stop_process(proc, sig=signal.SIGINT)
            proc = None
            if "could not bind" in tail and attempt < 2:
                continue  # somebody took the port between free_port() and bind(); try another
            raise ServiceError(f"PostgreSQL did not start within {startup_timeout:.0f}s:\n{tail}")
        yield dsn
    finally:
        if proc is not None:
            stop_process(proc, sig=signal.SIGINT, timeout=30)  # SIGINT: fast shutdown
        shutil.rmtree(root, ignore_errors=True)


_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_dsn(server_dsn: str, name: str) -> str:
    return server_dsn.rsplit("/", 1)[0] + "/" + name


def create_database(server_dsn: str, name: str | None = None, *, template: str | None = None) -> str:
    """CREATE DATABASE on the server (a copy of `template` when given); returns the new database's DSN.

    Copying a migrated template is much faster than migrating again; the template must have no
    open connections while it is copied.
    """
    import psycopg
    from psycopg import sql

    name = name or f"gantry_{uuid.uuid4().hex[:12]}"
    for value in (name, template):
        if value is not None and not _DB_NAME.match(value):
            raise ValueError(f"unsafe database name {value!r}")
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(statement)
    return database_dsn(server_dsn, name)


def drop_database(server_dsn: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- Redis ----------------------------------------------------------------------------------------------


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(*, startup_timeout: float = 30.0) -> Iterator[str]:
    """redis-server on loopback with no persistence; yields redis://127.0.0.1:PORT/0."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServiceUnavailable(
            "redis-server is not installed; `bash scripts/ensure_system_packages.sh` installs it"
        )
    root = Path(tempfile.mkdtemp(prefix="gantry-redis-"))
    log_path = root / "redis.log"
    proc: subprocess.Popen | None = None
    try:
        for attempt in range(3):
            port = free_port()
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [exe, "--bind", LOOPBACK, "--port", str(port), "--dir", str(root), "--save", "",
                     "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                     "--unixsocket", "", "--logfile", ""],
                    cwd=root, env=child_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            deadline = time.monotonic() + startup_timeout
            while time.monotonic() < deadline and proc.poll() is None and not _redis_ready(port):
                time.sleep(0.05)
            if proc.poll() is None and _redis_ready(port):
                break
            tail = log_tail(log_path)
            stop_process(proc)
            proc = None
            if "Address already in use" in tail and attempt < 2:
                continue
            raise ServiceError(f"redis-server did not start within {startup_timeout:.0f}s:\n{tail}")
        yield f"redis://{LOOPBACK}:{port}/0"
    finally:
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)


# --- moto -----------------------------------------------------------------------------------------------


def moto_is_running(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def moto_server(*, startup_timeout: float = 30.0) -> Iterator[str]:
    """moto's ThreadedMotoServer on a free loopback port in this process; yields http://127.0.0.1:PORT.

    It shares moto's in-process backends with `mock_aws`, which resets them when it starts: don't rely on
    server-side state surviving a `mock_aws` block.
    """
    if importlib.util.find_spec("moto") is None:
        raise ServiceUnavailable("moto is not installed in this environment")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request otherwise
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        deadline = time.monotonic() + startup_timeout
        while not moto_is_running(endpoint):
            if time.monotonic() > deadline:
                raise ServiceError(f"moto did not answer at {endpoint} within {startup_timeout:.0f}s")
            time.sleep(0.05)
        yield endpoint
    finally:
        server.stop()


# --- Celery worker --------------------------------------------------------------------------------------

_READY = re.compile(r"@\S+ ready\.")


@dataclass
class Worker:
    process: subprocess.Popen
    hostname: str
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)


@contextlib.contextmanager
def celery_worker(
    env: Mapping[str, str | None],
    *,
    queues: tuple[str, ...] | list[str] = WORKER_QUEUES,
    concurrency: int = 1,
    pool: str = "prefork",
    log_dir: Path | str | None = None,
    ready_timeout: float = 120.0,
    stop_timeout: float = 30.0,
) -> Iterator[Worker]:
    """A real `celery -A portal worker` subprocess with `env` (on top of a clean environment).

    Yields once the worker logs "<name> ready.", i.e. it has connected to the broker and consumes its
    queues; on exit it gets SIGTERM (warm shutdown) and, after `stop_timeout`, its group gets SIGKILL.
    """
    if importlib.util.find_spec("celery") is None:
        raise ServiceUnavailable("celery is not installed in this environment")
    own_dir = log_dir is None
    log_root = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="gantry-worker-"))
    log_root.mkdir(parents=True, exist_ok=True)
    hostname = f"gantry-test-{uuid.uuid4().hex[:10]}@%h"
    log_path = log_root / f"{hostname.split('@')[0]}.log"
    full_env = child_env(env)
    cmd = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", ",".join(queues),
           "-c", str(concurrency), "-P", pool, "-l", "INFO", "-n", hostname,
           "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(process=proc, hostname=hostname, log_path=log_path, env=full_env)
    try:
        deadline = time.monotonic() + ready_timeout
        while not _READY.search(worker.log()):
            if not worker.alive():
                raise ServiceError(f"celery worker exited with {proc.returncode}:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"celery worker not ready within {ready_timeout:.0f}s:\n{worker.log_tail()}"
                )
            time.sleep(0.2)
        yield worker
    finally:
        stop_process(proc, sig=signal.SIGTERM, timeout=stop_timeout)
        if own_dir:
            shutil.rmtree(log_root, ignore_errors=True)


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.25, message: str = "condition"):
    """Poll `predicate()` until it returns something truthy; returns that value or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout:.0f}s")
        time.sleep(interval)
