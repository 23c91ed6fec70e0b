"""fraudlab: the shared kernel."""
