"""Promoting a saved model to champion, and the listing of saved models, on model folders
written by :func:`models.registry.save_model` (the registry checks digests, never trees)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraudlab.errors import UsageError
from models.registry import CHAMPION, list_models, load_model, promote, save_model


def _save(folder: Path, name: str, booster: bytes, **training: object) -> str:
    metadata = {
        "threshold": 0.3,
        "features": ["total_amount"],
        "encoding": {},
        "kind": "xgboost",
        "training": training or {"scenario": "baseline", "seed": 7, "minutes": 20.0},
        "validation": {"average_precision": {"xgboost": 0.5}},
    }
    return save_model(booster, folder, name, metadata).digest


def test_a_promoted_model_becomes_the_default_and_the_old_one_is_kept(tmp_path: Path) -> None:
    old = _save(tmp_path, CHAMPION, b"old trees")
    new = _save(tmp_path, "m2", b"new trees", runs=[{"run_id": "r1"}])
    done = promote(tmp_path, "m2")
    assert done.changed and done.kept_as == f"default-{old[:12]}"
    champion = load_model(tmp_path, CHAMPION)
    assert champion.digest == new  # a score names the same booster digest
    assert champion.metadata["promoted_from"] == "m2"
    assert champion.metadata["replaced_digest"] == old
    assert load_model(tmp_path, done.kept_as).digest == old
    assert list_models(tmp_path) == sorted([CHAMPION, done.kept_as, "m2"])  # nothing staged left
    # promoting it again changes nothing; promoting the kept one brings it back
    assert not promote(tmp_path, "m2").changed
    back = promote(tmp_path, done.kept_as)
    assert back.changed and load_model(tmp_path, CHAMPION).digest == old
    assert back.kept_as == f"default-{new[:12]}"


def test_promotion_refuses_in_one_sentence(tmp_path: Path) -> None:
    _save(tmp_path, CHAMPION, b"trees")
    with pytest.raises(UsageError, match="no model named 'nope'"):
        promote(tmp_path, "nope")
    with pytest.raises(UsageError, match="is the champion already"):
        promote(tmp_path, CHAMPION)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.json").write_text("{")
    with pytest.raises(UsageError, match="is corrupt"):
        promote(tmp_path, "broken")


def test_a_damaged_champion_is_set_aside_and_replaced(tmp_path: Path) -> None:
    _save(tmp_path, CHAMPION, b"trees")
    (tmp_path / CHAMPION / "booster.ubj").write_bytes(b"changed")
    new = _save(tmp_path, "m2", b"other trees")
    assert promote(tmp_path, "m2").kept_as == "default-unreadable"
    assert load_model(tmp_path, CHAMPION).digest == new


def test_models_lists_each_model_with_the_champion_marked(tmp_path: Path) -> None:
    _save(tmp_path, CHAMPION, b"old trees")
    _save(tmp_path, "m2", b"new trees", runs=[{"run_id": "r1"}, {"run_id": "r2"}])
    env = {**os.environ, "FRAUDLAB_MODELS_DIR": str(tmp_path)}

    def fraudlab(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "lab.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False)

    promoted = fraudlab("promote", "m2")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("m2 is the champion (digest ")
    listing = fraudlab("models")
    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["MODEL", "DIGEST", "THRESHOLD", "VALIDATION", "AP", "TRAINED", "ON"]
    marked = [r.split()[1] for r in rows[1:] if r.startswith("*")]
    assert marked == [CHAMPION, "m2"]  # the same booster under both names
    assert any("runs r1,r2 (promoted from m2)" in r for r in rows)
    data = json.loads(fraudlab("models", "--json").stdout)
    assert [m["name"] for m in data if m["champion"]] == [CHAMPION, "m2"]
    refused = fraudlab("promote", "nope")
    assert refused.returncode == 2 and "no model named 'nope'" in refused.stderr
    assert "Traceback" not in refused.stderr
