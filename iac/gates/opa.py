"""OPA gate: evaluates the Rego policies in `iac/policies` against the plan JSON with regopy.

Policies live in packages `gantry.<name>` and expose `deny` (blocking) and `warn` (the approver must
acknowledge) as sets of `{rule, address, message, severity}`. The tenant/account/config document is
mounted at `data.config`.

regopy wraps rego-cpp through ctypes, and some evaluation errors crash the process (segfault) instead of
raising. The gate therefore evaluates in a short-lived child process by default (`isolate=True`), so a
bad policy fails the gate closed instead of taking a Celery worker down. Run this module as a script
(`python -m iac.gates.opa RESULT_PATH < payload.json`) to act as that child.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from iac.gates.base import Finding, GateResult, Severity, Status, timed

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
REPO_ROOT = Path(__file__).resolve().parents[2]
GATE_NAME = "opa"
EVAL_TIMEOUT_SECONDS = 60

_PACKAGE_RE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_CRASH = "policy engine exited with"
_TEST_RULE_RE = re.compile(r"^(test_\w+)\s+if\b", re.MULTILINE)


@dataclass(frozen=True)
class RegoModule:
    name: str  # file name, used in Rego error locations
    package: str
    source: str

    @property
    def is_test(self) -> bool:
        return self.name.endswith("_test.rego")


@dataclass(frozen=True)
class QueryResult:
    ok: bool
    value: Any = None  # None when the query is undefined
    error: str = ""


@dataclass(frozen=True)
class RegoTestResult:
    name: str  # e.g. "gantry.tags_test.test_missing_owner"
    passed: bool
    error: str = ""


def load_modules(policy_dir: Path | str | None = None, *, tests: bool = False) -> list[RegoModule]:
    """Every `*.rego` file in the directory; test modules only when `tests` is true."""
    root = Path(policy_dir) if policy_dir else POLICY_DIR
    modules = []
    for path in sorted(root.glob("*.rego")):
        source = path.read_text(encoding="utf-8")
        match = _PACKAGE_RE.search(source)
        if not match:
            raise ValueError(f"{path.name} has no package declaration")
        module = RegoModule(name=path.name, package=match.group(1), source=source)
        if tests or not module.is_test:
            modules.append(module)
    return modules


def policy_packages(modules: list[RegoModule]) -> list[str]:
    """Packages that produce findings: everything under `gantry.` except helpers and tests."""
    return sorted(
        {m.package for m in modules if m.package.startswith("gantry.") and m.package != "gantry.lib"}
        - {m.package for m in modules if m.is_test}
    )


def policy_digest(modules: list[RegoModule]) -> str:
    """sha256 over the policy sources, so an approval can record exactly which policies passed."""
    digest = hashlib.sha256()
    for m in sorted(modules, key=lambda m: m.name):
        digest.update(m.name.encode() + b"\0" + m.source.encode() + b"\0")
    return digest.hexdigest()


def evaluate(
    modules: list[RegoModule],
    queries: list[str],
    *,
    data: dict | None = None,
    input_doc: Any = None,
    isolate: bool = True,
    timeout: float = EVAL_TIMEOUT_SECONDS,
) -> dict[str, QueryResult]:
    """Run `queries` against the modules; every query gets a result, errors included."""
    payload = {
        "modules": [[m.name, m.source] for m in modules],
        "data": data or {},
        "input": input_doc,
        "queries": queries,
    }
    raw = _evaluate_isolated(payload, timeout) if isolate else _evaluate_payload(payload)
    return {q: QueryResult(**raw[q]) for q in queries}


def _evaluate_payload(payload: dict) -> dict[str, dict]:
    """The regopy part. Imported lazily: the library loads a shared object."""
    from regopy import Interpreter
    from regopy.rego_shared import RegoError

    interp = Interpreter()
    try:
        for name, source in payload["modules"]:
            interp.add_module(name, source)
        if payload["data"]:
            interp.add_data(payload["data"])
        if payload["input"] is not None:
            interp.set_input(payload["input"])
    except RegoError as exc:
        return {q: {"ok": False, "error": f"policy load failed: {exc}"} for q in payload["queries"]}

    combined = _combined_query(payload["queries"])
    if combined is not None:
        # Compiling dominates a query's cost, so ask for every rule at once; if anything errors, fall
        # back to one query per rule so the error lands on the rule that caused it.
        outcome = _run_query(interp, combined)
        if outcome["ok"] and isinstance(outcome["value"], dict):
            values = outcome["value"]
            return {q: {"ok": True, "value": values.get(f"q{i}")} for i, q in enumerate(payload["queries"])}
    return {query: _run_query(interp, query) for query in payload["queries"]}


_RULE_REF_RE = re.compile(r"^data\.((?:\w+\.)*\w+)\.(\w+)$")


def _combined_query(queries: list[str]) -> str | None:
    """`{"q0": object.get(data.pkg, "rule", null), ...}`: undefined rules become null, not a failure."""
    parts = []
    for i, query in enumerate(queries):
        match = _RULE_REF_RE.match(query)
        if not match:
            return None
        parts.append(f'"q{i}": object.get(data.{match.group(1)}, "{match.group(2)}", null)')
    return "{" + ", ".join(parts) + "}" if len(parts) > 1 else None


def _run_query(interp: Any, query: str) -> dict:
    from regopy.rego_shared import RegoError, rego_get_error

    try:
        output = interp.query(query)
        if not output.ok():
            # str(output) can crash on error outputs; the interpreter holds the message.
            return {"ok": False, "error": rego_get_error(interp._impl) or "evaluation error"}
        text = str(output)
        if text == "undefined":
            return {"ok": True, "value": None}
        expressions = json.loads(text).get("expressions", [])
        return {"ok": True, "value": expressions[0] if expressions else None}
    except (RegoError, ValueError) as exc:  # ValueError: malformed JSON from the engine
        return {"ok": False, "error": str(exc)}


def _evaluate_isolated(payload: dict, timeout: float) -> dict[str, dict]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
    with tempfile.TemporaryDirectory(prefix="gantry-opa-") as tmp:
        result_path = Path(tmp) / "result.json"
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "iac.gates.opa", str(result_path)],
                input=json.dumps(payload),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=REPO_ROOT,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return _all_failed(payload, f"policy evaluation timed out after {timeout:g}s")
        # The engine prints diagnostics on stdout, so results travel through a file.
        if proc.returncode != 0 or not result_path.exists():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            return _all_failed(payload, f"{_CRASH} {proc.returncode}: {' | '.join(tail)}")
        return json.loads(result_path.read_text(encoding="utf-8"))


def _all_failed(payload: dict, error: str) -> dict[str, dict]:
    return {q: {"ok": False, "error": error} for q in payload["queries"]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        return Severity.HIGH


def _findings(value: Any, *, blocking: bool, package: str) -> list[Finding]:
    items = value if isinstance(value, list) else []
    findings = []
    for item in items:
        if not isinstance(item, dict):
            item = {"message": json.dumps(item)}
        findings.append(
            Finding(
                rule=str(item.get("rule") or package.removeprefix("gantry.")),
                message=str(item.get("message", "")),
                severity=_severity(item.get("severity", "high")),
                address=str(item.get("address", "")),
                blocking=blocking,
            )
        )
    # Sets come back in engine order; sort so results and digests are stable.
    return sorted(findings, key=lambda f: (f.rule, f.address, f.message))


def opa_gate(
    plan_json: dict,
    data: dict,
    *,
    policy_dir: Path | str | None = None,
    isolate: bool = True,
    name: str = GATE_NAME,
    also: list[str] | None = None,
) -> GateResult:
    """Evaluate every policy package's `deny` and `warn` against the plan; `data` becomes data.config.
    `also` names further rules to evaluate in the same call (e.g. what a plan requires of its review);
    their values land in `details["also"]`."""
    result = GateResult(name=name)
    with timed(result):
        modules = load_modules(policy_dir)
        packages = policy_packages(modules)
        queries = [f"data.{pkg}.{kind}" for pkg in packages for kind in ("deny", "warn")] + list(also or [])
        config = json.loads(json.dumps(data, default=_jsonable))  # config rows may hold Decimals
        outcomes = evaluate(modules, queries, data={"config": config}, input_doc=plan_json, isolate=isolate)
        counts = {"deny": 0, "warn": 0, "errors": 0}
        for pkg in packages:
            for kind in ("deny", "warn"):
                outcome = outcomes[f"data.{pkg}.{kind}"]
                if not outcome.ok:
                    # Fail closed: a policy that cannot be evaluated blocks the run.
                    counts["errors"] += 1
                    result.add(
                        Finding(
                            rule="policy_error",
                            message=f"{pkg}.{kind} could not be evaluated: {outcome.error}",
                            severity=Severity.CRITICAL,
                            address=pkg,
                        )
                    )
                    continue
                for finding in _findings(outcome.value, blocking=kind == "deny", package=pkg):
                    counts[kind] += 1
                    result.add(finding)
        result.details = {
            "policies": packages,
            "policy_digest": policy_digest(modules),
            "counts": counts,
        }
        if also:
            result.details["also"] = {q: outcomes[q].value if outcomes[q].ok else None for q in also}
        result.summary = {
            Status.PASS: f"{len(packages)} policies passed",
            Status.WARN: f"{counts['warn']} warning(s) need acknowledgement",
            Status.FAIL: f"{counts['deny'] + counts['errors']} policy violation(s)",
        }[result.status]
    return result


def discover_rego_tests(policy_dir: Path | str | None = None) -> list[str]:
    """Fully qualified `test_*` rules in the `*_test.rego` files."""
    names = []
    for module in load_modules(policy_dir, tests=True):
        if module.is_test:
            names.extend(f"{module.package}.{rule}" for rule in _TEST_RULE_RE.findall(module.source))
    return sorted(set(names))


def run_rego_tests(policy_dir: Path | str | None = None, *, isolate: bool = True) -> list[RegoTestResult]:
    """Evaluate every test rule; a test passes only when it is defined and true."""
    modules = load_modules(policy_dir, tests=True)
    names = discover_rego_tests(policy_dir)
    queries = [f"data.{n}" for n in names]
    outcomes = evaluate(modules, queries, isolate=isolate)
    if isolate and names and all(not o.ok and o.error.startswith(_CRASH) for o in outcomes.values()):
        # One test crashed the engine: rerun each alone so only the culprit fails.
        outcomes = {q: evaluate(modules, [q], isolate=True)[q] for q in queries}
    results = []
    for name in names:
        outcome = outcomes[f"data.{name}"]
        if not outcome.ok:
            results.append(RegoTestResult(name, False, outcome.error))
        elif outcome.value is True:
            results.append(RegoTestResult(name, True))
        else:
            shown = (
                "undefined (a condition did not hold)" if outcome.value is None else json.dumps(outcome.value)
            )
            results.append(RegoTestResult(name, False, f"evaluated to {shown}"))
    return results


def _main(argv: list[str]) -> int:
    """Child-process entry point: payload JSON on stdin, results written to argv[1]."""
    payload = json.loads(sys.stdin.read())
    results = _evaluate_payload(payload)
    Path(argv[1]).write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
