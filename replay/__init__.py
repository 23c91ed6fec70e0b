"""Re-publishing an archived run at a chosen speed, and comparison of runs.

Replaying a finished run's input into a new run (read-only on the archive, then Kafka):

- :mod:`replay.source`: whether a run can be replayed, and what it was (start, length);
- :mod:`replay.archived_messages`: its input messages in the order the producer sent them;
- :mod:`replay.raw_values`: values the archive keeps as bytes, and the fault it decodes anyway;
- :mod:`replay.republish`: :func:`~replay.republish.republish_run`, paced or as fast as possible.

Comparing finished runs:

- :mod:`replay.compare`: figures per run, overlap and recall deltas per pair, aligned timelines;
- :mod:`replay.compare_plot`: the comparison as a PNG.

:mod:`replay.commands` adds ``compare`` and ``republish`` to the CLI.
"""
