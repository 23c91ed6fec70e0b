"""The live view's run controls without a browser: the buttons a run's state allows."""

from __future__ import annotations

from bokeh.document import Document

from fraudlab.settings import Settings
from viz.live_feed import LiveRunChoice
from viz.run_controls import RunControlWidgets


def _enabled(controls: RunControlWidgets) -> set[str]:
    return {str(b.label) for b in controls.buttons if not b.disabled}


def test_the_buttons_follow_the_run_s_state(view_settings: Settings) -> None:
    controls = RunControlWidgets(Document(), lambda: "r1")
    playing = LiveRunChoice("r1", "baseline", 0, "in progress", paused=False, speed=20.0)
    controls.show(playing)
    assert _enabled(controls) == {"pause", "set speed", "stop the run"}
    assert "playing at 20x" in str(controls.state.text)
    controls.show(LiveRunChoice("r1", "baseline", 0, "in progress", paused=True, speed=20.0))
    assert _enabled(controls) == {"resume", "set speed", "stop the run"}
    # as fast as it goes: nothing to pace, but it can be stopped
    controls.show(LiveRunChoice("r1", "baseline", 0, "in progress", speed=None))
    assert _enabled(controls) == {"stop the run"}
    controls.show(LiveRunChoice("r1", "baseline", 0, "complete", speed=20.0))
    assert _enabled(controls) == set()
    controls.show(None)
    assert _enabled(controls) == set() and "no run followed" in str(controls.state.text)


def test_served_off_loopback_the_controls_are_a_sentence(view_settings: Settings) -> None:
    from viz import context

    context.configure(view_settings.model_copy(update={"viz_address": "0.0.0.0"}))
    controls = RunControlWidgets(Document(), lambda: "r1")
    assert controls.buttons == []
    assert "fraudlab pace" in str(controls.layout.text)  # type: ignore[attr-defined]
    controls.show(None)  # nothing to enable
