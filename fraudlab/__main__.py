"""``python -m fraudlab``: the CLI, as the parts of a run start one another."""

from lab.cli import main

main()
