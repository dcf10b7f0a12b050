"""PostgreSQL store: a psycopg connection pool; advisory locks elect the sweeper."""

from __future__ import annotations

import contextlib
import functools
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from chatpay.errors import StoreUnavailable
from chatpay.store.base import Params, Row, Store, Tx

#: Seconds to wait for a pooled connection before answering "unavailable".
POOL_TIMEOUT = 10.0


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """Our ``?`` placeholders in psycopg's ``%s`` style."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgTx(Tx):
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(_pg(sql), params).rowcount

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._conn.execute(_pg(sql), params).fetchall())

    def lock(self, key: str) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=POOL_TIMEOUT,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": False},
        )
        self._opened = False
        self._open_lock = threading.Lock()
        self._leader: psycopg.Connection[Any] | None = None

    def _ensure_open(self) -> None:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._ensure_open()
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from None

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        with self._connection() as conn, conn.transaction():
            yield PgTx(conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connection() as conn, conn.transaction():
            yield PgTx(conn)

    def try_leader_lock(self, name: str) -> bool:
        key = zlib.crc32(name.encode())
        try:
            if self._leader is not None and not self._leader.closed:
                self._leader.execute("SELECT 1")
                return True
            conn = psycopg.connect(self.url, autocommit=True)
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        except psycopg.Error:
            self._leader = None
            return False
        if row and row[0]:
            self._leader = conn
            return True
        conn.close()
        return False

    def ping(self) -> None:
        with self.read() as tx:
            tx.one("SELECT 1 AS ok")

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False
        if self._leader is not None:
            self._leader.close()
            self._leader = None
