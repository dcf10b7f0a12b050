"""The store interface both databases implement."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]
Params = Sequence[Any]


class Tx(abc.ABC):
    """One transaction (or read snapshot). SQL uses ``?`` placeholders on both databases."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""

    @abc.abstractmethod
    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query, as dicts."""

    def lock(self, key: str) -> None:
        """Serialise with other transactions taking the same key, until this one ends.

        SQLite runs one writer at a time already; PostgreSQL takes a transaction advisory lock.
        """
        return None

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or ``None``."""
        rows = self.all(sql, params)
        return rows[0] if rows else None


class Store(abc.ABC):
    #: ``sqlite`` or ``postgresql``: picks the few DDL words that differ.
    dialect: str

    @abc.abstractmethod
    def write(self) -> contextlib.AbstractContextManager[Tx]:
        """A read-write transaction, committed on normal exit, rolled back on error."""

    @abc.abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Tx]:
        """A read-only unit of work."""

    @abc.abstractmethod
    def try_leader_lock(self, name: str) -> bool:
        """Take (or keep) a process-wide leadership lock; False while another process holds it."""

    def scrub(self) -> None:
        """Make deleted rows unrecoverable from the database files (see :class:`SqliteStore`)."""
        return None

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the database cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent)."""
        from chatpay.store.schema import statements

        with self.write() as tx:
            tx.lock("chatpay.migrate")  # several processes may start at once
            for sql in statements(self.dialect):
                tx.execute(sql)
