"""Where responses are kept: SQLite in this process, or PostgreSQL shared by many (``open_store`` picks)."""

from __future__ import annotations

from ferryman.state.base import ResponseStore


def open_store(url: str, text_index: bool | None = None) -> ResponseStore:
    """The store a config's ``store:`` URL names (its driver imported only when used). ``text_index``: make
    (true) or drop (false) the request log's text index at start-up; None leaves it as it is (a tool that
    opens the store, such as ``ferryman keys``, never changes what the gateway's config chose)."""
    if url.startswith("sqlite"):
        from ferryman.state.sqlite import SQLiteStore

        return SQLiteStore(url, text_index)
    from ferryman.state.postgres import PostgresStore

    return PostgresStore(url, text_index)
