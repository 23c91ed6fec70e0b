"""``python -m lab``: the ``fraudlab`` command line, as the parts of a run start one another."""

from lab.cli import main

main()
