"""The Spark Structured Streaming job: sources, watermarks, features, scoring, reports, sinks."""
