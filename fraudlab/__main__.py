"""``python -m fraudlab``: the CLI, as the parts of a run start one another."""

from fraudlab.cli import main

main()
