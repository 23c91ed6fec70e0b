"""Spark's Python worker daemon, with the libraries of fraudlab's Python tasks imported once.

Spark starts one daemon per executor and forks a Python worker from it for each task slot. Set
as ``spark.python.daemon.module`` (:mod:`fraudlab.spark`), this module imports pandas, pyarrow
and xgboost before the daemon starts forking, so every worker begins with them in memory.
Imported in each worker instead, xgboost alone takes 1.5 to 2.5 s (most of it scikit-learn,
which xgboost imports when it is installed), paid by every worker in the first micro-batch of
every engine.
"""

from __future__ import annotations

import pandas  # noqa: F401
import pyarrow  # noqa: F401
import xgboost  # noqa: F401
from pyspark.daemon import manager

if __name__ == "__main__":
    manager()
