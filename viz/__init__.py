"""Bokeh server directory apps (live, replay, compare) and their chart builders.

The apps, each a thin ``main.py`` with ``templates/index.html``:

- ``viz/live``: a run in progress, from the server's one Kafka consumer
  (:mod:`viz.live_feed`, started by ``live/app_hooks.py``; the fold in :mod:`viz.live_state`,
  its headline figures in :mod:`viz.run_headline`, the page in :mod:`viz.live_view`);
- ``viz/replay``: a finished run redrawn from its archive at a chosen speed
  (:mod:`viz.replay_view`, the clock in :mod:`viz.playback`);
- ``viz/compare``: two or more archived runs side by side (:mod:`viz.compare_view`).

Shared parts: chart builders (:mod:`viz.charts`, :mod:`viz.fraud_map` over the bundled outline
in :mod:`viz.indonesia`), the inventory panel of /live and /replay (:mod:`viz.inventory_panel`,
its live fold in :mod:`viz.live_inventory`, its replay queries in :mod:`viz.inventory_queries`),
the views' archive queries (:mod:`viz.archive_queries`), the runs a page
may ask for (:mod:`viz.run_catalog`), the server with its index page (:mod:`viz.server`,
:mod:`viz.index_page`, whose start form is :mod:`viz.run_start`), the run controls of /live
(:mod:`viz.run_controls`) and the settings in force (:mod:`viz.context`). ``fraudlab serve``
is :mod:`lab.serve_command`.
"""
