"""Running a lab: the command line, runs end to end and their parts, the regression suite."""
