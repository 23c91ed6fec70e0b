"""What the browser tests ask of a served page: is it drawn, what do its sources hold, its console.

Bokeh renders into shadow DOM, so elements are found by walking shadow roots in the page, and
data is read from BokehJS's own document by model name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# every element matching a selector, through shadow roots
_DEEP_QUERY = """
const found = [];
const walk = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.matches(arguments[0])) found.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  }
};
walk(document);
return found;
"""

_COLUMN_LENGTH = """
if (typeof Bokeh === 'undefined' || Bokeh.documents.length === 0) return -1;
const model = Bokeh.documents[0].get_model_by_name(arguments[0]);
if (model === null) return -2;
const column = model.data[arguments[1]];
return column === undefined ? -3 : column.length;
"""

_TEXT = """
if (typeof Bokeh === 'undefined' || Bokeh.documents.length === 0) return '';
const model = Bokeh.documents[0].get_model_by_name(arguments[0]);
return model === null ? '' : String(model.text);
"""

_IDLE = """
return typeof Bokeh !== 'undefined' && Bokeh.documents.length > 0
       && Bokeh.documents[0].is_idle;
"""


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something true; its last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = condition()
    return value


def drawn(driver: Any) -> bool:
    """Whether the page's Bokeh document is rendered and idle."""
    return bool(driver.execute_script(_IDLE))


def column_length(driver: Any, source: str, column: str) -> int:
    """Rows of ``column`` in the named data source (negative: no Bokeh, no source, no column)."""
    return int(driver.execute_script(_COLUMN_LENGTH, source, column))


def model_text(driver: Any, name: str) -> str:
    """The ``text`` of the named model (a Div), or '' when there is none."""
    return str(driver.execute_script(_TEXT, name))


def deep_elements(driver: Any, selector: str) -> list[Any]:
    """Elements matching ``selector`` anywhere in the page, shadow roots included."""
    return list(driver.execute_script(_DEEP_QUERY, selector))


def canvases(driver: Any) -> int:
    """How many canvases the plots drew on."""
    return len(deep_elements(driver, "canvas"))


def buttons(driver: Any, text: str) -> list[Any]:
    """The buttons whose labels contain ``text`` ([] if the page kept re-rendering them)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(10):
        try:
            return [b for b in deep_elements(driver, "button") if text in (b.text or "")]
        except StaleElementReferenceException:
            # Bokeh replaced a button between the query and the read (a label changing from
            # play to pause re-renders it): ask again
            time.sleep(0.05)
    return []


def button(driver: Any, text: str) -> Any:
    """The button whose label contains ``text``."""
    found = buttons(driver, text)
    assert found, f"no button labelled {text!r} on the page"
    return found[0]


def severe_console_entries(driver: Any) -> list[str]:
    """The browser console's errors since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: Any, folder: Path, name: str) -> Path:
    """Save a PNG of the page; its path."""
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


_SET_VALUE = """
const model = Bokeh.documents[0].get_model_by_name(arguments[0]);
if (model === null) return false;
model.value = arguments[1];
return true;
"""


def set_value(driver: Any, name: str, value: str) -> None:
    """Set the ``value`` of the named widget (a text input, a select), as typing would."""
    assert driver.execute_script(_SET_VALUE, name, value), f"no widget named {name!r}"


_POINT_ON_PAGE = """
const doc = Bokeh.documents[0];
const fig = doc.get_model_by_name(arguments[0]);
const view = fig === null ? null : Bokeh.index.find_one(fig);
if (view == null) return null;
view.el.scrollIntoView({block: 'center'});
const rect = view.canvas_view.el.getBoundingClientRect();
return [rect.left + view.frame.x_scale.compute(arguments[1]),
        rect.top + view.frame.y_scale.compute(arguments[2])];
"""

_COLUMN = """
const model = Bokeh.documents[0].get_model_by_name(arguments[0]);
return model === null ? null : Array.from(model.data[arguments[1]]);
"""


def column_values(driver: Any, source: str, column: str) -> list[Any]:
    """The values of ``column`` in the named data source, as the browser holds them."""
    values = driver.execute_script(_COLUMN, source, column)
    assert values is not None, f"no source named {source!r}"
    return list(values)


def click_at_data_point(driver: Any, figure_name: str, x: float, y: float) -> None:
    """Click the named figure where data point (``x``, ``y``) is drawn, as a person would
    with the mouse (the figure's tap tool then selects what is there)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    where = driver.execute_script(_POINT_ON_PAGE, figure_name, x, y)
    assert where is not None, f"no figure named {figure_name!r} drawn on the page"
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(where[0]), int(where[1])).click()
    actions.perform()
    ActionChains(driver).reset_actions()
