"""A warm Checkov process: imports Checkov up front, then serves scan requests, each in a fresh fork.

Run with Checkov's isolated venv python (never the portal's), e.g.
`.tools/checkov/bin/python iac/checkov_worker.py`. It must not import anything from the portal.

Checkov's cost is mostly import time (~4 s of CPU); the scan of a plan JSON takes well under a second.
The pipeline starts this worker when a run begins, so the import overlaps terraform, and both of the
run's scans (code, then plan) only cost the scans themselves.

Protocol (JSON lines):
- once the imports are done the worker writes `{"ready": true}` on stdout;
- it then reads requests `{"argv": [...]}` on stdin, one at a time: exactly the arguments the CLI would
  get (everything after `checkov`), so the findings are the CLI's (`checkov -o json`): the same
  `Checkov(argv).run()` the `checkov` entry point runs, with the same argv, the same environment and
  the same warning filter;
- it answers each with `{"exit_code": int, "stdout": str}` (Checkov's captured stdout, the JSON report)
  or `{"error": str}`; it exits at end of input.

Each scan runs in a child forked from the freshly imported parent, which never scans itself: Checkov
keeps module-level runner instances (`DEFAULT_RUNNERS`) whose parsed definitions and graphs would carry
over into a second scan in the same process and could make a warm scan differ from the CLI's. A fork
starts every scan from exactly the state a CLI run has after its imports.

Anything Checkov (or a forked helper) writes to file descriptor 1 goes to stderr: the protocol uses a
private duplicate of the original stdout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
import warnings


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints (ours, Checkov's, forked runners') never corrupt the protocol
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", line_buffering=True)

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SyntaxWarning)
            from checkov.main import Checkov
    except BaseException as exc:  # reported to the client, which falls back to the CLI
        send({"error": f"import failed: {type(exc).__name__}: {exc}"})
        return 1
    send({"ready": True})

    for line in sys.stdin:  # end of input: the client is done (or went away)
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            argv = [str(arg) for arg in request["argv"]]
        except (ValueError, KeyError, TypeError) as exc:
            send({"error": f"bad request: {exc}"})
            continue
        send(_scan_in_child(Checkov, argv))
    return 0


def _scan_in_child(checkov: type, argv: list[str]) -> dict:
    """Run one scan in a forked child; its answer comes back through a pipe (an error if it died)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: scan, answer, exit without running the parent's cleanup
        os.close(read_end)
        status = 1
        try:
            answer = _scan(checkov, argv)
            with os.fdopen(write_end, "w", encoding="utf-8") as pipe:
                pipe.write(json.dumps(answer))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        raw = pipe.read()
    _, status = os.waitpid(pid, 0)
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": f"scan process ended without an answer (wait status {status})"}


def _scan(checkov: type, argv: list[str]) -> dict:
    captured = io.StringIO()
    sys.argv = ["checkov", *argv]  # Checkov reads sys.argv for its default config-file lookup
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore", category=SyntaxWarning)
            code = checkov(argv=argv).run()
    except SystemExit as exc:  # argparse errors, SIGINT handler
        code = exc.code if isinstance(exc.code, int) else 1
        return {"exit_code": code, "stdout": captured.getvalue(), "error": f"exited: {exc.code!r}"}
    except BaseException as exc:  # the client falls back to the CLI
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
    return {"exit_code": int(code or 0), "stdout": captured.getvalue()}


if __name__ == "__main__":
    sys.exit(main())
