"""The archiver (Kafka -> one DuckDB file per run, exactly once) and the read API over runs.

Writing a run's file:

- :mod:`archive.archiver`: one consumer for all of a run's topics, its modes and signals;
- :mod:`archive.writer`: the file's only writer, one transaction per batch with its offsets;
- :mod:`archive.decoding`: message values to Arrow rows, undecodable values with their reason;
- the run's metadata and end are folded from its run-events by the kernel's
  :mod:`fraudlab.run_events`;
- :mod:`archive.tables`: the file's tables, derived from the record contract;
- :mod:`archive.digest`: the SHA-256 digest of a file's contents.

Reading finished files (read-only, any number of readers):

- :mod:`archive.files`: where run files are, opening them with one-sentence errors (and older
  files' label text read as booleans);
- :mod:`archive.reader`: the list of runs and a run's summary;
- :mod:`archive.quality`: precision, recall and time to detect, overall and per pattern;
- :mod:`archive.forecast_quality`: the demand forecast's WAPE against its baselines, and the
  run's stock-outs;
- :mod:`archive.aggregates`: time-bucketed aggregates for reports, replay and the views;
- :mod:`archive.export`: Parquet files, one per table.

:mod:`archive.commands` adds ``archive``, ``runs``, ``report`` and ``export-run`` to the CLI.
"""
