"""The Spark Structured Streaming job: sources, watermarks, features, scoring, reports, sinks.

The job alone: the rules its fold applies come from :mod:`rulebook`, a stage below it, and
alert delivery is a stage of its own above it (:mod:`delivery`), which the job never imports.
"""
