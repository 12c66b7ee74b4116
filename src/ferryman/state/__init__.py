"""Where responses are kept: SQLite in this process, or PostgreSQL shared by many (``open_store`` picks)."""

from __future__ import annotations

from ferryman.state.base import ResponseStore


def open_store(url: str) -> ResponseStore:
    """The store a config's ``store:`` URL names (its driver imported only when used)."""
    if url.startswith("sqlite"):
        from ferryman.state.sqlite import SQLiteStore

        return SQLiteStore(url)
    from ferryman.state.postgres import PostgresStore

    return PostgresStore(url)
