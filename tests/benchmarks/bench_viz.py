"""Benchmark of the views: a one-million-event run opening in the replay view, and the live
view's callback against its period.

1. replay page load: ``fraudlab serve`` over an archive folder holding a synthetic run of about
   a million events (built once and kept under ``var/bench-viz/``) and an empty run; headless
   Chromium loads ``/replay?run=...`` and the time runs, by the page's own clock, from the
   start of the navigation until the page's plots are drawn with the run's data (goal: 2 s or
   less). The reference, measured the same way, is the replay page of the empty run: the
   ratio says what the run's size costs on top of loading the page at all. Also printed: the
   DuckDB aggregates the page needs, queried directly (the floor no page can beat).
2. live callback: the live view fed by a live feed (no broker: messages folded by hand) with a
   busy run, about 2,000 events per second; every 1 s period the feed hands the session its
   update and the session's callback streams it into the charts. The ratio is the callback's
   95th-percentile time over its period (goal: well below 1).

Run: ``.venv/bin/python tests/benchmarks/bench_viz.py [--events N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "viz"))  # the view tests' run builder and served views

from served_views import ServedViews, chrome  # noqa: E402
from view_runs import RunShape, synthetic_records, write_empty_run, write_synthetic_run  # noqa: E402

from fraudlab import codec  # noqa: E402
from fraudlab.net import free_port  # noqa: E402
from fraudlab.settings import REPO_ROOT  # noqa: E402

CACHE = REPO_ROOT / "var" / "bench-viz" / "archive"
SCREENSHOTS = REPO_ROOT / "var" / "test-output" / "viz"
EMPTY = "bench-viz-empty"
LOADS = 3
GOAL_LOAD_S = 2.0
LIVE_PERIOD_S = 1.0
LIVE_PER_SECOND = 333  # checkouts per second: with their browsing, about 2,000 events per second
LIVE_SECONDS = 180

_DRAWN = """
if (typeof Bokeh === 'undefined' || Bokeh.documents.length === 0) return false;
const doc = Bokeh.documents[0];
if (!doc.is_idle) return false;
for (const name of arguments[0]) {
  const m = doc.get_model_by_name(name);
  if (m === null || m.data[arguments[1][name]].length === 0) return false;
}
return true;
"""
_WITH_DATA = {
    "fraud_timeline_source": "window_end",
    "top_products_slot_0": "x",
    "alert_map_source": "lat",
}


def big_run(events: int) -> tuple[str, RunShape]:
    shape = RunShape(transactions=events // 6 + 1, per_second=10)
    return f"bench-viz-{shape.events}", shape


def ensure_archive(events: int) -> str:
    """The big run (built the first time, then reused) and the empty one; the big run's id."""
    run_id, shape = big_run(events)
    if not (CACHE / f"{run_id}.duckdb").exists():
        print(f"building a run of {shape.events:,} events in {CACHE} (once) ...", file=sys.stderr)
        started = time.monotonic()
        write_synthetic_run(CACHE, run_id, shape)
        print(f"  built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if not (CACHE / f"{EMPTY}.duckdb").exists():
        write_empty_run(CACHE, EMPTY)
    return run_id


def page_load_s(driver: Any, url: str, drawn: Callable[[], bool], timeout: float = 60) -> float:
    """Seconds from the browser's start of navigating to ``url`` until ``drawn()`` holds, by the
    page's own clock (the driver's round trips before the navigation are left out)."""
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(url)
    while not drawn():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{url} was not drawn in {timeout} s")
        time.sleep(0.02)
    return float(driver.execute_script("return performance.now()")) / 1000


def measure_replay(run_id: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-viz-") as tmp:
        server = ServedViews(CACHE, f"127.0.0.1:{free_port()}", Path(tmp) / "serve.log")
        driver = chrome()
        try:
            empty_url = f"{server.url}/replay?run={EMPTY}"
            big_url = f"{server.url}/replay?run={run_id}"

            def idle() -> bool:
                return bool(driver.execute_script(_DRAWN, [], {}))

            def with_data() -> bool:
                return bool(driver.execute_script(_DRAWN, list(_WITH_DATA), _WITH_DATA))

            # the first load fills the browser's cache with Bokeh's scripts, as for any visitor
            page_load_s(driver, empty_url, idle)
            empty, big = [], []
            for _ in range(LOADS):
                empty.append(page_load_s(driver, empty_url, idle))
                big.append(page_load_s(driver, big_url, with_data))
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOTS / "replay-1m-events.png"))
        finally:
            driver.quit()
            server.stop()
    return {"empty": empty, "big": big}


def aggregate_queries_s(run_id: str) -> float:
    """Seconds DuckDB takes for the aggregates the replay page draws (best of three)."""
    from archive.aggregates import frauds_by_location, top_product_sales
    from archive.files import reading
    from viz.archive_queries import alert_windows, quality_so_far, run_span, true_frauds_by_location

    best = float("inf")
    with reading(CACHE, run_id) as con:
        for _ in range(3):
            started = time.perf_counter()
            run_span(con)
            alert_windows(con)
            top_product_sales(con, 8)
            frauds_by_location(con)
            true_frauds_by_location(con)
            quality_so_far(con)
            best = min(best, time.perf_counter() - started)
    return best


def measure_live() -> dict[str, list[float]]:
    """Per 1 s period of a busy run: the feed's fold and hand-over, and the session's callback."""
    from bokeh.document import Document

    from viz.live_feed import LiveFeed
    from viz.live_state import LIVE_STREAMS
    from viz.live_view import LiveView

    run_id = "bench-viz-live"
    shape = RunShape(transactions=LIVE_PER_SECOND * LIVE_SECONDS, per_second=LIVE_PER_SECOND)
    by_second: dict[int, list[tuple[str, bytes]]] = {}
    second = 0
    for r in synthetic_records(run_id, shape):
        if r.STREAM not in LIVE_STREAMS:
            continue
        second = max(second, getattr(r, "ts", 0), getattr(r, "window_end", 0))
        by_second.setdefault(second, []).append((r.STREAM, codec.encode(r)))
    feed = LiveFeed("127.0.0.1:9")
    first_second = min(by_second)
    for stream, value in by_second.pop(first_second):
        feed.fold(run_id, stream, value)
    doc = Document()
    view = LiveView(doc, feed)
    view.follow(run_id)
    feed_ms, callback_ms = [], []
    for second in sorted(by_second):
        started = time.perf_counter()
        for stream, value in by_second[second]:
            feed.fold(run_id, stream, value)
        feed.publish()
        feed_ms.append((time.perf_counter() - started) * 1000)
        for callback in list(doc.session_callbacks):
            doc.remove_next_tick_callback(callback)  # type: ignore[arg-type]
            started = time.perf_counter()
            callback.callback()
            callback_ms.append((time.perf_counter() - started) * 1000)
    return {"feed_ms": feed_ms, "callback_ms": callback_ms}


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the big run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    run_id = ensure_archive(args.events)
    replay = measure_replay(run_id)
    queries = aggregate_queries_s(run_id)
    live = measure_live()
    big, empty = statistics.median(replay["big"]), statistics.median(replay["empty"])
    callback = live["callback_ms"]
    figures: dict[str, Any] = {
        "events": big_run(args.events)[1].events,
        "replay_load_s": round(big, 3),
        "replay_load_s_each": [round(v, 3) for v in replay["big"]],
        "replay_load_empty_run_s": round(empty, 3),
        "replay_load_vs_empty_run_ratio": round(big / empty, 3),
        "aggregate_queries_s": round(queries, 3),
        "replay_load_vs_queries_ratio": round(big / queries, 2),
        "live_period_ms": LIVE_PERIOD_S * 1000,
        "live_events_per_s": LIVE_PER_SECOND * 6,
        "live_callback_ms": {
            "median": round(statistics.median(callback), 2),
            "p95": round(_p95(callback), 2),
            "max": round(max(callback), 2),
        },
        "live_feed_ms_per_period": round(statistics.median(live["feed_ms"]), 2),
        "live_callback_p95_vs_period_ratio": round(_p95(callback) / (LIVE_PERIOD_S * 1000), 4),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "goals": {"replay_load_s": GOAL_LOAD_S, "live_callback_p95_vs_period_ratio": 0.1},
    }
    _print(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def _print(f: dict[str, Any]) -> None:
    cb = f["live_callback_ms"]
    print(f"events in the run                     {f['events']:,}")
    print(
        f"replay page load, run of 1M events    {f['replay_load_s']:.2f} s "
        f"(goal <= {GOAL_LOAD_S} s; each: {f['replay_load_s_each']})"
    )
    print(f"replay page load, empty run           {f['replay_load_empty_run_s']:.2f} s")
    print(f"big / empty                           {f['replay_load_vs_empty_run_ratio']:.2f}")
    print(
        f"its DuckDB aggregates alone           {f['aggregate_queries_s']:.3f} s "
        f"(page / queries {f['replay_load_vs_queries_ratio']:.1f})"
    )
    print(
        f"live callback at {f['live_events_per_s']:,} events/s     median {cb['median']} ms, "
        f"p95 {cb['p95']} ms, max {cb['max']} ms per {f['live_period_ms']:.0f} ms period "
        f"(p95 / period {f['live_callback_p95_vs_period_ratio']:.3f})"
    )
    print(f"live feed fold + hand-over per period {f['live_feed_ms_per_period']} ms")
    print(f"load average while measuring          {f['load_average_1min']} on {f['cores']} cores")


if __name__ == "__main__":
    main()
