"""A warm Checkov process: imports Checkov up front, then runs one scan request.

Run with Checkov's isolated venv python (never the portal's), e.g.
`.tools/checkov/bin/python iac/checkov_worker.py`. It must not import anything from the portal.

Checkov's cost is mostly import time (~4 s); the scan of a plan JSON takes well under a second. The
pipeline starts this worker when a run begins, so the import overlaps terraform and the later scan only
costs the scan itself.

Protocol (JSON lines):
- once the imports are done the worker writes `{"ready": true}` on stdout;
- it reads one request `{"argv": [...]}` on stdin: exactly the arguments the CLI would get (everything
  after `checkov`), so the findings are the CLI's (`checkov -o json`): the same `Checkov(argv).run()`
  the `checkov` entry point runs, with the same argv, the same environment and the same warning filter;
- it answers `{"exit_code": int, "stdout": str}` (Checkov's captured stdout, the JSON report) or
  `{"error": str}`, then exits.

One scan per process, on purpose: Checkov keeps module-level runner instances (`DEFAULT_RUNNERS`) whose
parsed definitions and graphs would carry over into a second scan in the same process, which could
make a warm scan differ from the CLI's. A fresh worker per scan costs nothing on the critical path.

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

    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the client went away without a request (run blocked earlier)
    try:
        request = json.loads(line)
        argv = [str(arg) for arg in request["argv"]]
    except (ValueError, KeyError, TypeError) as exc:
        send({"error": f"bad request: {exc}"})
        return 1

    captured = io.StringIO()
    sys.argv = ["checkov", *argv]  # Checkov reads sys.argv for its default config-file lookup
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore", category=SyntaxWarning)
            code = Checkov(argv=argv).run()
    except SystemExit as exc:  # argparse errors, SIGINT handler
        code = exc.code if isinstance(exc.code, int) else 1
        send({"exit_code": code, "stdout": captured.getvalue(), "error": f"exited: {exc.code!r}"})
        return 1
    except BaseException as exc:  # the client falls back to the CLI
        send({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]})
        return 1
    send({"exit_code": int(code or 0), "stdout": captured.getvalue()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
