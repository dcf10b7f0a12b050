"""The database behind one small interface: SQLite (embedded) or PostgreSQL."""

from __future__ import annotations

from chatpay.store.base import Row, Store, Tx


def open_store(url: str, *, pool_size: int = 8) -> Store:
    """A store for ``sqlite:///path`` or ``postgresql://…`` (chosen by ``CHATPAY_DATABASE_URL``)."""
    if url.startswith("sqlite:"):
        from chatpay.store.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from chatpay.store.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size)
    raise ValueError("CHATPAY_DATABASE_URL must start with sqlite:/// or postgresql://")


__all__ = ["Row", "Store", "Tx", "open_store"]
