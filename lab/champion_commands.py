"""``fraudlab models`` (the saved models, the champion marked) and ``fraudlab promote``."""

from __future__ import annotations

import json
from typing import Any

import click

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import json_option
from fraudlab.errors import UsageError


def _trained_on(metadata: dict[str, Any]) -> str:
    """Where a model's training rows came from, in a few words."""
    training = metadata.get("training") or {}
    runs = training.get("runs")
    if runs:
        return "runs " + ",".join(str(r.get("run_id")) for r in runs)
    if training.get("data_dir"):
        return f"csv {training['data_dir']}"
    scenario = training.get("scenario")
    if scenario is None:
        return "-"
    minutes = training.get("minutes")
    span = "" if minutes is None else f", {minutes:g} min"
    from models.training import seeds_trained_on

    seeds = seeds_trained_on(training)
    named = f"seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return f"{scenario} ({named}{span}{' each' if span and len(seeds) > 1 else ''})"


def _validation_ap(metadata: dict[str, Any]) -> float | None:
    validation = metadata.get("validation") or {}
    scores = validation.get("average_precision") or {}
    chosen = scores.get(metadata.get("kind")) if isinstance(scores, dict) else scores
    return float(chosen) if isinstance(chosen, int | float) else None


def _listing(models_dir: Any) -> list[dict[str, Any]]:
    from models.registry import CHAMPION, list_models, load_model

    rows: list[dict[str, Any]] = []
    champion_digest = None
    for name in list_models(models_dir):
        try:
            model = load_model(models_dir, name)
        except UsageError as exc:
            rows.append({"name": name, "problem": str(exc)})
            continue
        if name == CHAMPION:
            champion_digest = model.digest
        meta = model.metadata
        rows.append(
            {
                "name": name,
                "digest": model.digest,
                "trained_on": _trained_on(meta),
                "threshold": model.threshold,
                "validation_average_precision": _validation_ap(meta),
                "promoted_from": meta.get("promoted_from"),
                "code_version": meta.get("code_version"),
            }
        )
    for row in rows:
        row["champion"] = champion_digest is not None and row.get("digest") == champion_digest
    return rows


@click.command("models")
@json_option()
@click.pass_context
def models_command(ctx: click.Context, as_json: bool) -> None:
    """The saved models: digest, what each was trained on, threshold, validation average
    precision; the champion (the model a run scores with when it names none) marked *."""
    settings = settings_from(ctx)
    rows = _listing(settings.models_dir)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(
            f"no saved models in {settings.models_dir}: `make model` trains the default, "
            "`fraudlab train --name NAME` another."
        )
        return
    header = ["", "MODEL", "DIGEST", "THRESHOLD", "VALIDATION AP", "TRAINED ON"]
    table = [header]
    for r in rows:
        if "problem" in r:
            table.append(["", r["name"], "-", "-", "-", r["problem"]])
            continue
        ap = r["validation_average_precision"]
        table.append(
            [
                "*" if r["champion"] else "",
                r["name"],
                r["digest"][:12],
                f"{r['threshold']:.4f}",
                "-" if ap is None else f"{ap:.3f}",
                r["trained_on"]
                + ("" if r["promoted_from"] is None else f" (promoted from {r['promoted_from']})"),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.command("promote")
@click.argument("name")
@click.pass_context
def promote_command(ctx: click.Context, name: str) -> None:
    """Make saved model NAME the champion: runs that name no model score with it from now on.

    The champion it replaces is kept as default-DIGEST12 (see `fraudlab models`), so that
    `fraudlab promote default-DIGEST12` brings it back. A run already going keeps its model.
    """
    from models.registry import promote

    settings = settings_from(ctx)
    done = promote(settings.models_dir, name)
    if not done.changed:
        click.echo(f"{name} is the champion already (digest {done.promoted.digest[:12]}).")
        return
    kept = "" if done.kept_as is None else f"; the previous champion is kept as {done.kept_as}"
    click.echo(f"{name} is the champion (digest {done.promoted.digest[:12]}){kept}.")


def register(group: click.Group) -> None:
    """Add ``models`` and ``promote`` to the CLI."""
    group.add_command(models_command)
    group.add_command(promote_command)
