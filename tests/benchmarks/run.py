"""``make bench``: run every benchmark script here and gather their figures in one report.

Each ``bench_*.py`` runs in its own process (so one's broker or JVM never slows another) and
writes its figures with ``--json``; the report is ``results/bench.json``. Figures are ratios
against a reference measured in the same script, next to the absolute rates and the core count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent.parent / "results"


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, object] = {"cores": os.cpu_count(), "started": time.time(), "benchmarks": {}}
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
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
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nreport: {RESULTS / 'bench.json'}")
    for name, figures in report["benchmarks"].items():  # type: ignore[attr-defined]
        ratios = {k: v for k, v in figures.items() if "ratio" in k and isinstance(v, (int, float))}
        print(f"  {name:<12} " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
