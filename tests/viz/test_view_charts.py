"""Chart builders, the map and the playback clock, with small data and no server."""

from __future__ import annotations

import math

import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource, GlyphRenderer

from viz import charts
from viz.fraud_map import (
    ALERT_MAP_COLUMNS,
    add_alert_bubbles,
    add_truth_rings,
    alert_map_columns,
    bubble_size,
    colour_choice,
    difference_columns,
    empty_columns,
    map_figure,
    pattern_colour,
)
from viz.indonesia import BOUNDS, ISLANDS
from viz.playback import FASTEST, SPEEDS, Playback, parse_speed, speed_label


def _renderers(fig: object) -> list[GlyphRenderer]:
    return [r for r in fig.renderers if isinstance(r, GlyphRenderer)]  # type: ignore[attr-defined]


def test_the_timeline_draws_alerts_and_truth_from_one_source() -> None:
    source = charts.timeline_source()
    fig = charts.fraud_timeline_figure(source)
    bars = _renderers(fig)
    assert [b.data_source for b in bars] == [source, source]
    assert {b.glyph.top for b in bars} == {"alerts", "frauds"}
    source.data = charts.timeline_columns({"window_end": [10], "alerts": [3], "frauds": [2]})
    assert list(source.data["window_end"]) == [10_000]


def test_product_lines_rank_by_cumulative_sales_and_keep_the_top_n() -> None:
    columns = {
        "window_end": [30, 30, 30, 60],
        "product_id": ["a", "b", "c", "a"],
        "product_name": ["A", "B", None, "A"],
        "cumulative_sales": [1.0, 5.0, 3.0, 9.0],
    }
    lines = charts.product_lines(columns, top_n=2)
    assert [(ln.product_id, ln.x, ln.y) for ln in lines] == [
        ("a", [30_000, 60_000], [1.0, 9.0]),
        ("b", [30_000], [5.0]),
    ]
    assert charts.product_lines(columns)[2].label == "c (c)", "a missing name falls back to the id"
    slot = charts.slot_columns(lines[0])
    assert list(slot["y"]) == [1.0, 9.0]
    assert slot["label"] == ["A (a)", "A (a)"]


def test_top_products_figure_has_one_line_and_legend_item_per_slot() -> None:
    slots = charts.top_products_slots(3)
    fig = charts.top_products_figure(slots)
    assert [r.data_source for r in _renderers(fig)] == slots
    (legend,) = fig.legend
    assert len(legend.items) == 3
    Document().add_root(fig)  # validates: items of different sources are not merged


def test_headline_escapes_what_it_shows() -> None:
    html = charts.headline_html([charts.Headline("<b>", "<script>", 'say "hi"')], note="a & b")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "a &amp; b" in html


def test_bubble_sizes_grow_with_the_count_on_a_log_scale_up_to_a_cap() -> None:
    sizes = [bubble_size(n) for n in (1, 2, 10, 100, 10_000, 10**9)]
    assert sizes == sorted(sizes)
    assert sizes[-1] == sizes[-2] == 56.0
    assert bubble_size(0) == 0


def test_patterns_keep_their_colours() -> None:
    assert pattern_colour("card_testing") != pattern_colour("account_takeover")
    assert pattern_colour("") == pattern_colour(None) == pattern_colour("not confirmed")
    assert pattern_colour("a_new_pattern") == pattern_colour("a_new_pattern")


def test_alert_map_columns_fill_in_unconfirmed_cells() -> None:
    columns = alert_map_columns(
        {
            "lat": [-6.0],
            "long": [107.0],
            "alerts": [3],
            "mean_probability": [0.8],
            "confirmed": [0],
            "pattern": [None],
        }
    )
    assert set(columns) == set(ALERT_MAP_COLUMNS)
    assert columns["pattern"] == ["not confirmed"]
    assert columns["size"] == [bubble_size(3)]


def test_the_map_draws_the_outline_bubbles_rings_and_a_colour_switch() -> None:
    fig = map_figure("m", "t")
    alerts = ColumnDataSource(empty_columns(ALERT_MAP_COLUMNS))
    truth = ColumnDataSource(empty_columns(["lat", "long", "frauds", "pattern", "size"]))
    by_probability, by_pattern = add_alert_bubbles(fig, alerts)
    add_truth_rings(fig, truth)
    choice = colour_choice(fig, by_probability, by_pattern)
    assert by_probability.visible and not by_pattern.visible
    assert choice.js_property_callbacks["change:active"]
    outline = _renderers(fig)[0]
    assert len(outline.data_source.data["xs"]) == len(ISLANDS)
    assert not any("tile" in type(r).__name__.lower() for r in fig.renderers), "no online tiles"
    Document().add_root(fig)


def test_the_outline_stays_inside_the_map() -> None:
    for name, ring in ISLANDS.items():
        assert len(ring) >= 4, name
        for lon, lat in ring:
            # Borneo and New Guinea are drawn whole, so they may leave the map's frame
            assert 94 <= lon <= 149 and -11 <= lat <= 7.5, (name, lon, lat)
    assert BOUNDS.west < BOUNDS.east and BOUNDS.south < BOUNDS.north


def test_map_difference_keeps_only_cells_that_changed() -> None:
    base = {"lat": [1.0, 2.0, 3.0], "long": [100.0, 101.0, 102.0], "alerts": [3, 1, 4]}
    other = {"lat": [1.0, 3.0, 5.0], "long": [100.0, 102.0, 104.0], "alerts": [5, 4, 2]}
    diff = difference_columns(base, other)
    assert list(zip(diff["lat"], diff["difference"], strict=True)) == [
        (1.0, 2),
        (2.0, -1),
        (5.0, 2),
    ]
    assert diff["change"] == ["more alerts", "fewer alerts", "more alerts"]


def test_playback_moves_at_its_speed_and_stops_at_the_end() -> None:
    clock = Playback(1000, 1600).playing_at(20.0)
    clock = clock.advanced(3.0)
    assert clock.position == 1060 and clock.playing
    clock = clock.advanced(100.0)
    assert clock.position == 1600 and not clock.playing
    assert clock.playing_at().position == 1000, "play at the end starts over"
    assert clock.paused().advanced(5).position == 1600


def test_playback_seeks_within_the_run_and_knows_when_to_redraw() -> None:
    clock = Playback(1000, 1600)
    assert clock.seek(-5).position == 1000
    assert clock.seek(10**9).position == 1600
    at = clock.seek(1234.5)
    assert at.clock == 1234
    assert at.fraction == pytest.approx(234.5 / 600)
    assert not at.redraw_due(1231), "the same 10 s of event time"
    assert at.redraw_due(1229)
    assert at.redraw_due(1300), "moved back"
    assert at.redraw_due(None)


def test_fastest_plays_any_run_in_a_bounded_number_of_ticks() -> None:
    for span in (60, 3600, 86_400):
        clock, ticks = Playback(0, span).playing_at(FASTEST), 0
        while clock.playing:
            clock, ticks = clock.advanced(0.0), ticks + 1
        assert ticks <= 100


def test_speeds_from_half_to_a_hundred_and_fastest() -> None:
    assert SPEEDS[0] == 0.5 and 100.0 in SPEEDS and math.isinf(SPEEDS[-1])
    assert all(parse_speed(speed_label(s)) == s for s in SPEEDS)
    assert parse_speed("1000x") is None
    with pytest.raises(ValueError):
        Playback(0, 10, speed=3.0)
    with pytest.raises(ValueError):
        Playback(10, 0)
