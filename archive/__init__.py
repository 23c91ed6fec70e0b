"""The archiver (Kafka -> one DuckDB file per run, exactly once) and the read API over runs."""
