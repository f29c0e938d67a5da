"""The one migration runner: each migration whole or not at all, each once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon.migrations import migrate

GOOD = ("things", "CREATE TABLE things (id INTEGER PRIMARY KEY); CREATE INDEX things_id ON things (id)")


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_failed_migration_leaves_nothing_behind_and_runs_again(tmp_path: Path) -> None:
    db = _db(tmp_path / "m.db")
    broken = ("more", "CREATE TABLE more (id INTEGER); CREATE TABLE more (id INTEGER)")
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        migrate(db, [GOOD, broken])
    assert "more" not in _tables(db) and not db.in_transaction
    assert [row[0] for row in db.execute("SELECT name FROM migrations")] == ["things"]
    migrate(db, [GOOD, ("more", "CREATE TABLE more (id INTEGER)")])
    assert {"things", "more"} <= _tables(db)


def test_each_migration_runs_once(tmp_path: Path) -> None:
    migrate(_db(tmp_path / "m.db"), [GOOD])
    db = _db(tmp_path / "m.db")
    migrate(db, [GOOD])  # would fail on the existing table if it ran again
    assert db.execute("SELECT count(*) FROM migrations").fetchone() == (1,)
