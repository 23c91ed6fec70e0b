"""Re-publishing an archived run at a chosen speed, and comparison of runs."""
