"""SQLite store: the embedded default (WAL, one connection per thread, secure_delete)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import IO

from chatpay.errors import StoreUnavailable
from chatpay.store.base import Params, Row, Store, Tx

#: Milliseconds a writer waits for the database lock before failing.
BUSY_TIMEOUT_MS = 30_000

#: ``NORMAL`` in WAL mode survives any process crash (a committed transaction is in the WAL before
#: the actor acks its message); only an OS crash or power loss can roll back the last commits.
#: ``CHATPAY_SQLITE_SYNCHRONOUS=FULL`` trades about 30x fewer commits per second for that too.
SYNCHRONOUS = os.environ.get("CHATPAY_SQLITE_SYNCHRONOUS", "NORMAL").upper()

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA synchronous={'FULL' if SYNCHRONOUS == 'FULL' else 'NORMAL'}",
    "PRAGMA secure_delete=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
)


class SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self._conn.execute(sql, params)
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        path = url.removeprefix("sqlite:").removeprefix("///")
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        self.path = path
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
                )
                for pragma in _PRAGMAS:
                    conn.execute(pragma)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the SQLite database: {exc}") from None
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        # Writers of this process queue on a Python lock (woken at once on release) rather than in
        # SQLite's busy handler, which sleeps in growing steps; other processes still use the latter.
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield SqliteTx(conn)
        finally:
            conn.execute("COMMIT")

    def try_leader_lock(self, name: str) -> bool:
        if self._lock_file is not None:
            return True
        fh = open(f"{self.path}.{name}.lock", "ab")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock_file = fh
        return True

    def scrub(self) -> None:
        """Checkpoint the WAL into the database and truncate it.

        ``secure_delete`` zeroes deleted rows in the pages it writes, but the WAL still holds the
        earlier page images (a purged envelope's ciphertext) until a checkpoint copies the new ones
        into the database file and the WAL is reset. Readers holding an old snapshot can make this
        partial; the sweeper calls it again every sweep.
        """
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def ping(self) -> None:
        with self.read() as tx:
            tx.one("SELECT 1 AS ok")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
