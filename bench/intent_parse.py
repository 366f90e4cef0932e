"""Intent parsers: latency per request, and exact-match accuracy on the tuning and the held-out corpus.

Run from the repository root: ``.venv/bin/python bench/intent_parse.py [--repeat N] [--show-misses]``.
The tuning set (``agents/tests/corpus.py``) is what the offline vocabulary was tuned on; the held-out set
(``agents/tests/corpus_heldout.py``) was written apart and is never tuned on, so its number is the one
to quote for unseen phrasings. Latency is reported as wall time and as this thread's CPU time; on a busy
machine the wall-time tail includes time the process spent descheduled, the CPU-time figures do not.

``--llm`` also measures the LLM path (``agents.llm_parser.parse_request``) with the model configured in
``GANTRY_LLM_MODEL``; with no model configured (the offline default) it says so and measures nothing,
since a faked model would measure the fake.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.intent import Intent
from agents.offline_parser import parse
from agents.tests.corpus import CORPUS, Case, compare
from agents.tests.corpus_heldout import HELD_OUT


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _accuracy(label: str, cases: list[Case], parser: Callable[[Case], Intent], show: bool) -> tuple[int, int]:
    exact = 0
    misses: list[tuple[str, list[str]]] = []
    for case in cases:
        problems = compare(parser(case), case.expect)
        if problems:
            misses.append((case.text, problems))
        else:
            exact += 1
    print(f"{label}: {exact}/{len(cases)} exact = {exact / len(cases):.1%}")
    for text, problems in misses:
        print(f"  miss: {text!r}")
        if show:
            for problem in problems:
                print(f"      {problem}")
    return exact, len(cases)


def _offline(case: Case) -> Intent:
    return parse(case.text, default_region=case.default_region)


def _llm_parser() -> Callable[[Case], Intent] | None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings

    from agents.llm_parser import parse_request

    if not (getattr(settings, "GANTRY_LLM_MODEL", "") or "").strip():
        return None

    def run(case: Case) -> Intent:
        return parse_request(case.text, default_region=case.default_region).intent

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="parses per phrasing (default 20)")
    parser.add_argument("--show-misses", action="store_true", help="print the differences for each miss")
    parser.add_argument("--llm", action="store_true", help="also measure the configured LLM model")
    args = parser.parse_args()

    everything = CORPUS + HELD_OUT
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(args.repeat):
        for case in everything:
            start_wall = time.perf_counter_ns()
            start_cpu = time.thread_time_ns()
            parse(case.text, default_region=case.default_region)
            cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
            wall.append((time.perf_counter_ns() - start_wall) / 1e6)

    print(f"offline intent parser: {len(everything)} phrasings x {args.repeat} = {len(wall)} parses")
    for label, samples in (("wall", wall), ("cpu ", cpu)):
        p50, p95 = statistics.median(samples), _percentile(samples, 0.95)
        print(
            f"latency ms ({label}): p50 {p50:.3f}  p95 {p95:.3f}  "
            f"max {max(samples):.3f}  mean {statistics.fmean(samples):.3f}"
        )
    _accuracy("offline accuracy, tuning set", CORPUS, _offline, args.show_misses)
    _accuracy("offline accuracy, held-out set", HELD_OUT, _offline, args.show_misses)
    if args.llm:
        llm = _llm_parser()
        if llm is None:
            print("llm accuracy: not measured (GANTRY_LLM_MODEL is empty; no model to ask offline)")
        else:
            _accuracy("llm accuracy, tuning set", CORPUS, llm, args.show_misses)
            _accuracy("llm accuracy, held-out set", HELD_OUT, llm, args.show_misses)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
