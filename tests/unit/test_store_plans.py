"""The sweeper's queries use their partial indexes: O(due), not O(pending)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatpay.store import open_store, repo


class _Recorder(repo.Tx):
    """Captures the SQL a repo function runs."""

    def __init__(self) -> None:
        self.sql: list[tuple[str, list[object]]] = []

    def execute(self, sql, params=()):
        self.sql.append((sql, list(params)))
        return 0

    def all(self, sql, params=()):
        self.sql.append((sql, list(params)))
        return []


def test_due_queries_search_their_partial_index(tmp_path: Path):
    path = tmp_path / "plan.db"
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    store.close()
    recorder = _Recorder()
    repo.due_for_expiry(recorder, 0, 10)
    repo.due_for_purge(recorder, 0, 10)
    conn = sqlite3.connect(path)
    plans = [
        " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        for sql, params in recorder.sql
    ]
    assert "USING INDEX pr_due" in plans[0], plans[0]
    assert "USING INDEX pr_card_due" in plans[1], plans[1]
    assert not any("SCAN" in plan for plan in plans), plans
