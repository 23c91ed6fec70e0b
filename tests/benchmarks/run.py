"""``make bench``: run every benchmark script here and gather their figures in one report.

Each ``bench_*.py`` runs in its own process (so one's broker or JVM never slows another) and
writes its figures with ``--json``; the report is ``results/bench.json``. At the end one table
(``report.py``) gives each figure as a ratio against a reference measured in the same script,
next to the absolute rates and the core count, and ``results/bench.png`` plots the engine's
throughput and latency against the input rate.
``python -m tests.benchmarks.run engine replay`` runs only the benchmarks named and updates
their figures in the report, keeping the others'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # report.py, next to this script

from report import plot, rows, table  # noqa: E402

RESULTS = HERE.parent.parent / "results"


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    known = {s.stem.removeprefix("bench_") for s in scripts}
    if set(names) - known:
        print(
            f"no benchmark named {', '.join(sorted(set(names) - known))}: "
            f"choose among {', '.join(sorted(known))}.",
            file=sys.stderr,
        )
        return 2
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, object] = {"cores": os.cpu_count(), "started": time.time(), "benchmarks": {}}
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
        if (RESULTS / "bench.json").exists():
            report["benchmarks"] = json.loads((RESULTS / "bench.json").read_text())["benchmarks"]
    failed = []
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        out = RESULTS / f"{name}.json"
        print(f"== {name} ==", flush=True)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, str(script), "--json", str(out)], cwd=HERE.parent.parent
        )
        if code != 0 or not out.exists():
            failed.append(name)
            continue
        figures = json.loads(out.read_text())
        figures["wall_s"] = round(time.monotonic() - started, 1)
        report["benchmarks"][name] = figures  # type: ignore[index]
    benchmarks: dict[str, Any] = report["benchmarks"]  # type: ignore[assignment]
    report["table"] = [asdict(r) | {"met": r.met} for r in rows(benchmarks)]
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(table(rows(benchmarks), os.cpu_count()))
    print(f"\nreport: {RESULTS / 'bench.json'}")
    drawn = plot(benchmarks, os.cpu_count(), RESULTS / "bench.png")
    if drawn is not None:
        print(f"plot:   {drawn} (engine throughput and latency against the input rate)")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
