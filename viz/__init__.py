"""Bokeh server directory apps (live, replay, compare) and their chart builders."""
