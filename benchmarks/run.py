"""Run genomeflow benchmarks and write results/<suite>.json and results/<suite>.md.

Usage: python benchmarks/run.py [SUITE ...]    (default: every suite but the long ones run only
when named: suites.ON_REQUEST, e.g. quality, hours on 2 cores; see suite_quality.py)

Each figure is the best of several repeats (wall clock, seconds) turned into a rate, and every
suite measures a baseline in the same run: the limit of the machine (plain decompression) or
the usual alternative (Biopython).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import machine  # noqa: E402
import suites  # noqa: E402

RESULTS = HERE / "results"
WORK = HERE / "work"


def best_time(task: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return min(times)


def write_results(name: str, title: str, rows: list[dict[str, object]], notes: str) -> None:
    """Write one suite's rows as JSON and as a Markdown table, with the machine."""
    host = machine.describe()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"suite": name, "machine": host, "results": rows}, indent=2) + "\n"
    )
    columns = list(rows[0])
    lines = [
        f"# {title}",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['memory_gib']} GiB, "
        f"GPU: {host.get('gpu') or 'none'}, Python {host['python']}, "
        f"genomeflow {host['genomeflow']}, {host['date']}.",
        "",
        notes,
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help=f"any of {', '.join(suites.SUITES)}")
    chosen = parser.parse_args().suites or [s for s in suites.SUITES if s not in suites.ON_REQUEST]
    unknown = sorted(set(chosen) - set(suites.SUITES))
    if unknown:
        parser.error(
            f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(suites.SUITES)}"
        )
    WORK.mkdir(exist_ok=True)
    for name in chosen:
        title, notes, measure = suites.SUITES[name]
        write_results(name, title, measure(WORK, best_time), notes)


if __name__ == "__main__":
    main()
