"""The one feature definition, shared by training and the engine: per-customer state and
features, the Spark frames that carry them, and how input records are read and classified;
the location cells' figures (:mod:`features.location`); and the demand forecast's window counts
(:mod:`features.demand_counts`, Spark) and rolling features (:mod:`features.demand`)."""
