"""The live directory app (``/live``): see :mod:`viz.live_view` and :mod:`viz.live_feed`."""
