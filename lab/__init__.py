"""Running a lab: the command line, runs end to end and their parts, the regression suite,
training (the demand forecast's in :mod:`lab.demand_training`), what a forecast's restock list
would have saved (:mod:`lab.restock_check`), and the Python API for notebooks.

``lab.run(...)``, ``lab.open(RUN)`` and ``lab.RunHandle`` are :mod:`lab.notebook`'s, imported
on first use so that ``python -m lab`` (the CLI) does not load pandas and Bokeh:
:mod:`lab.notebook` (the handle), :mod:`lab.notebook_frames` (results as DataFrames),
:mod:`lab.notebook_status` (a run's status), :mod:`lab.notebook_reports` (report and compare)
and :mod:`lab.notebook_charts` (the live view's charts inline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.notebook import RunHandle, open, run

__all__ = ["RunHandle", "open", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lab import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
