"""Offline intent parser: latency per request and exact-match accuracy over the phrasing corpus.

Run from the repository root: ``.venv/bin/python bench/intent_parse.py [--repeat N] [--show-misses]``.
Latency is reported as wall time and as this thread's CPU time; on a busy machine the wall-time tail
includes time the process spent descheduled, the CPU-time figures do not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.offline_parser import parse
from agents.tests.corpus import CORPUS, compare


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="parses per phrasing (default 20)")
    parser.add_argument("--show-misses", action="store_true", help="print the differences for each miss")
    args = parser.parse_args()

    exact = 0
    misses: list[tuple[str, list[str]]] = []
    for case in CORPUS:
        problems = compare(parse(case.text, default_region=case.default_region), case.expect)
        if problems:
            misses.append((case.text, problems))
        else:
            exact += 1

    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(args.repeat):
        for case in CORPUS:
            start_wall = time.perf_counter_ns()
            start_cpu = time.thread_time_ns()
            parse(case.text, default_region=case.default_region)
            cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
            wall.append((time.perf_counter_ns() - start_wall) / 1e6)

    print(f"offline intent parser: {len(CORPUS)} phrasings x {args.repeat} = {len(wall)} parses")
    for label, samples in (("wall", wall), ("cpu ", cpu)):
        p50, p95 = statistics.median(samples), _percentile(samples, 0.95)
        print(
            f"latency ms ({label}): p50 {p50:.3f}  p95 {p95:.3f}  "
            f"max {max(samples):.3f}  mean {statistics.fmean(samples):.3f}"
        )
    print(f"accuracy: {exact}/{len(CORPUS)} exact = {exact / len(CORPUS):.1%}")
    for text, problems in misses:
        print(f"  miss: {text!r}")
        if args.show_misses:
            for problem in problems:
                print(f"      {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
