"""Each directory app loads through Bokeh's Application API without a handler failure, and the
views hold up against what a page may send them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from bokeh.application import Application
from bokeh.application.handlers.directory import DirectoryHandler
from bokeh.document import Document

from fraudlab.settings import Settings
from viz import context
from viz.compare_view import build_compare
from viz.live_view import build_live
from viz.replay_view import build_replay
from viz.server import VIZ_DIR

APPS = ("live", "replay", "compare")


def _load(app: str) -> tuple[DirectoryHandler, Document]:
    handler = DirectoryHandler(filename=str(VIZ_DIR / app))
    doc = Document()
    Application(handler).initialize_document(doc)
    return handler, doc


@pytest.mark.parametrize("app", APPS)
def test_each_app_loads_without_a_handler_failure(app: str, view_settings: Settings) -> None:
    handler, doc = _load(app)
    assert not handler.failed, handler.error_detail
    assert [root.name for root in doc.roots] == [app]
    assert doc.template is not None, "the app's templates/index.html is in use"


def test_the_live_app_starts_one_feed_for_the_server_and_stops_it(
    view_settings: Settings,
) -> None:
    handler = DirectoryHandler(filename=str(VIZ_DIR / "live"))
    handler.on_server_loaded(None)  # type: ignore[arg-type]
    feed = context.live_feed()
    try:
        assert feed is not None
        deadline = time.monotonic() + 15
        while "no Kafka broker answers" not in feed.status() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "no Kafka broker answers at 127.0.0.1:9" in feed.status()
        doc = Document()
        view = build_live(doc, None)
        assert "no run in progress" in view.message.text
    finally:
        handler.on_server_unloaded(None)  # type: ignore[arg-type]
    assert context.live_feed() is None


def _replay(arguments: dict[str, list[bytes]]) -> Any:
    return build_replay(Document(), arguments)


def test_replay_opens_the_asked_run_at_the_asked_moment(view_settings: Settings) -> None:
    view = _replay({"run": [b"run-a"], "at": [b"60"], "speed": [b"50x"]})
    assert view.run_id == "run-a"
    assert view.clock.position == view.span.start + 60
    assert view.clock.speed == 50
    assert len(view.timeline.data["window_end"]) == 6


def test_replay_refuses_what_the_archive_does_not_list(view_settings: Settings) -> None:
    for asked in (b"../../etc/passwd", b"run-a' OR 1=1 --", b"nope", b"\xff"):
        view = _replay({"run": [asked]})
        assert view.run_id is None
        assert "no such finished run" in view.message.text
        assert asked.decode("latin-1") not in view.message.text
    view = _replay({"run": [b"run-b"], "at": [b"soon"], "speed": [b"1000x"]})
    assert view.clock.position == view.span.end, "a bad position means the end"
    assert view.clock.speed == 10.0, "a bad speed means the default"


def test_replay_plays_pauses_and_seeks(view_settings: Settings) -> None:
    view = _replay({"run": [b"run-a"], "at": [b"0"]})
    assert len(view.timeline.data["window_end"]) == 0
    view._on_play()
    assert view.clock.playing and view.play.label.endswith("pause")
    view.clock = view.clock.advanced(10.0)  # 100 event seconds at 10x
    view.redraw()
    assert len(view.timeline.data["window_end"]) == 10
    view._on_play()
    assert not view.clock.playing
    view._on_seek("value_throttled", 0, 30)
    assert len(view.timeline.data["window_end"]) == 3, "seeking back redraws from the start"
    view._on_pick("value", "run-a", "not-listed")
    assert view.run_id == "run-a"
    view._on_pick("value", "run-a", "hand-made")
    assert view.run_id == "hand-made"
    view.close()


def test_compare_keeps_only_listed_runs(view_settings: Settings) -> None:
    view = build_compare(Document(), {"runs": [b"run-a,../x", b"run-b", b"run-a"]})
    assert view.picker.value == ["run-a", "run-b"]
    assert len(view.timelines.data["xs"]) == 2
    assert view.map_other.value == "run-b"
    view._on_pick("value", [], ["hand-made", "evil'"])
    assert view.picker.value == ["hand-made"]
    assert view.difference.data["lat"] == []


def test_views_without_runs_say_so(tmp_path: Path, view_settings: Settings) -> None:
    context.configure(view_settings.model_copy(update={"archive_dir": tmp_path}))
    assert "no finished runs" in build_replay(Document(), None).message.text
    assert "no finished runs" in build_compare(Document(), None).message.text
