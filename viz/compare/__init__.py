"""The compare directory app (``/compare``): see :mod:`viz.compare_view`."""
