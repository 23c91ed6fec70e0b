"""The live view's run controls: pause, resume, a new speed, stop, for the run it follows.

Each button runs the command a user would type, ``fraudlab pace RUN --pause|--resume|--speed K``
or ``fraudlab stop RUN``, in a process of its own with the settings the views are served with
(:func:`fraudlab.command_line.run_fraudlab`): the same checks and the same one-sentence
refusals as at a terminal. The request travels on the run's control topic
(:mod:`fraudlab.run_control`); the run's source says when it has applied a pace request, and
the controls show the pace it said (from the live feed's run list). Event times never change,
so a run paused or re-paced is scored as if it had been left alone. Offered only when the views
are served on a loopback address, like the rule form.

>>> pace_text(LiveRunChoice("r1", "baseline", 0, "in progress", paused=False, speed=20.0))
'playing at 20x'
>>> pace_text(LiveRunChoice("r1", "baseline", 0, "in progress", paused=True, speed=20.0))
'paused (at 20x when it goes on)'
>>> pace_text(LiveRunChoice("r1", "baseline", 0, "complete"))
'complete'
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from bokeh.layouts import column, row
from bokeh.models import LayoutDOM
from bokeh.models.widgets import Button, Div, TextInput

from fraudlab.command_line import run_fraudlab
from fraudlab.net import is_loopback
from viz import charts, context
from viz.live_feed import LiveRunChoice

if TYPE_CHECKING:
    from bokeh.document import Document

__all__ = ["RunControlWidgets", "pace_text"]


def pace_text(run: LiveRunChoice) -> str:
    """How a run plays, in a few words."""
    if run.status != "in progress":
        return run.status
    at = "as fast as it goes" if run.speed is None else f"at {run.speed:g}x"
    if run.paused:
        return f"paused ({at} when it goes on)"
    return f"playing {at}"


class RunControlWidgets:
    """Pause, resume, speed and stop for the run a live view follows (``run_id()``, and
    ``followed()`` how it stands on the live feed)."""

    def __init__(
        self,
        doc: Document,
        run_id: Callable[[], str | None],
        followed: Callable[[], LiveRunChoice | None] = lambda: None,
    ) -> None:
        self.doc = doc
        self.run_id = run_id
        self.followed = followed
        self.result = charts.message_panel("run_control_result")
        self.state = Div(name="run_pace", text="", disable_math=True)
        self.layout: LayoutDOM
        self.buttons: list[Button] = []
        if not is_loopback(context.settings().viz_address):
            self.layout = charts.message_panel(
                "run_controls",
                "run controls are offered only when the views are served on a loopback "
                "address: use `fraudlab pace` and `fraudlab stop`.",
            )
            return
        self.pause = Button(label="pause", name="run_pause", width=90)
        self.resume = Button(label="resume", name="run_resume", width=90)
        self.speed = TextInput(title="speed (simulated s per wall s)", name="run_speed", width=200)
        self.set_speed = Button(label="set speed", name="run_set_speed", width=100)
        self.stop = Button(label="stop the run", name="run_stop", button_type="danger", width=120)
        self.buttons = [self.pause, self.resume, self.set_speed, self.stop]
        # callbacks without parameters: Bokeh hands the click event to one that takes any
        self.pause.on_click(lambda: self._send("pace", "--pause"))
        self.resume.on_click(lambda: self._send("pace", "--resume"))
        self.set_speed.on_click(self._on_speed)
        self.stop.on_click(lambda: self._send("stop"))
        self.layout = column(
            row(self.state),
            row(self.pause, self.resume, self.speed, self.set_speed, self.stop),
            self.result,
            name="run_controls",
            sizing_mode="stretch_width",
        )

    def show(self, run: LiveRunChoice | None) -> None:
        """Show how the followed run plays (None: no run followed); the buttons are offered
        while it is in progress, pause or resume as its source last said."""
        text = "no run followed" if run is None else pace_text(run)
        self.state.text = f"<b>run:</b> {html.escape(text)}"
        if not self.buttons:
            return
        playing = run is not None and run.status == "in progress"
        paceable = playing and run is not None and run.speed is not None
        self.stop.disabled = not playing
        self.set_speed.disabled = not paceable
        self.pause.disabled = not paceable or bool(run and run.paused)
        self.resume.disabled = not paceable or not bool(run and run.paused)

    def _on_speed(self) -> None:
        value = str(self.speed.value or "").strip()
        if not value:
            self._show(False, "give the new speed, a number above 0.")
            return
        self._send("pace", "--speed", value)

    def _send(self, command: str, *flags: str) -> None:
        run_id = self.run_id()
        if run_id is None:
            self._show(False, "follow a run in progress first.")
            return
        for button in self.buttons:
            button.disabled = True
        self.result.text = "<p>sending ...</p>"
        settings = context.settings()
        args = [command, run_id, *flags]

        def work() -> None:
            ok, sentence = run_fraudlab(settings, *args)
            self.doc.add_next_tick_callback(partial(self._show, ok, sentence))

        # the command starts a process and talks to Kafka: never on the document's thread
        threading.Thread(target=work, name="run-control", daemon=True).start()

    def _show(self, ok: bool, sentence: str) -> None:
        for button in self.buttons:
            button.disabled = False
        self.show(self.followed())
        mark = "done" if ok else "refused"
        self.result.text = f'<p class="{mark}">{html.escape(sentence)}</p>'
