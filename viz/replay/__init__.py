"""The replay directory app (``/replay``): see :mod:`viz.replay_view`."""
