"""A PNG of a run comparison: alert-rate timelines and recall per pattern, side by side."""

from __future__ import annotations

from pathlib import Path

from fraudlab.errors import UsageError
from replay.compare import Comparison

__all__ = ["plot_comparison"]


def _patterns(comparison: Comparison) -> list[str]:
    """Patterns with a recall in any run (frauds to catch), sorted."""
    return sorted(
        {p.pattern for r in comparison.runs for p in r.per_pattern if p.recall is not None}
    )


def plot_comparison(comparison: Comparison, path: Path) -> None:
    """Write the comparison's figure to ``path`` as a PNG."""
    if not path.parent.is_dir():
        raise UsageError(f"--plot: the folder {path.parent} does not exist.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab10")
    fig, (timeline, recall) = plt.subplots(1, 2, figsize=(14, 5), dpi=110)
    minutes = [s / 60 for s in comparison.seconds]
    for i, (run, flagged) in enumerate(zip(comparison.runs, comparison.flagged, strict=True)):
        timeline.step(
            minutes, flagged, where="post", color=colours(i % 10), lw=1.5, label=run.run_id
        )
    timeline.set_xlabel("minutes since the run's first event")
    timeline.set_ylabel(f"transactions flagged per {comparison.bucket_s} s")
    timeline.set_title("alert rate")
    timeline.grid(alpha=0.3)
    timeline.legend(fontsize="small")

    patterns = _patterns(comparison)
    width = 0.8 / max(len(comparison.runs), 1)
    for i, run in enumerate(comparison.runs):
        by_pattern = run.recall_by_pattern()
        xs = [k + (i - (len(comparison.runs) - 1) / 2) * width for k in range(len(patterns))]
        values = [by_pattern.get(p) or 0.0 for p in patterns]
        recall.bar(xs, values, width=width, color=colours(i % 10), label=run.run_id)
    recall.set_xticks(range(len(patterns)), patterns, rotation=30, ha="right")
    recall.set_ylim(0, 1.05)
    recall.set_ylabel("recall")
    recall.set_title("recall per fraud pattern")
    recall.grid(axis="y", alpha=0.3)
    recall.legend(fontsize="small")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {path}: {exc.strerror or exc}.") from None
    finally:
        plt.close(fig)
