"""The one feature definition, shared by training and the engine: per-customer state and
features, the Spark frames that carry them, and how input records are read and classified."""
