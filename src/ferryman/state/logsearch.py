"""The request log's text search (``q``): an index of the kept content, so a text that few entries hold is
found without reading every kept input and output.

``q`` promises a case-insensitive *substring* of the kept input or output (their JSON text), not a
word: ``voic`` finds ``invoice``. A word index would break that promise, so both stores index trigrams:

- SQLite: an FTS5 table with the ``trigram`` tokenizer over one text per kept content (its input, a
  newline, its output: a newline never occurs in JSON text, so no match spans the two), read through a
  view (external content: the index alone, not a second copy of the text) and kept in step by
  triggers: a content row inserted is indexed, a content row deleted (retention) leaves the index in
  the same transaction. An entry kept without content (``logs.content: false``) has no content row, so
  nothing of it is ever indexed. ``detail=none``: the index holds which rows have each trigram, not
  where, so ``q`` is looked up with ``LIKE`` (the index gives the rows that have all of its trigrams,
  SQLite's own ``LIKE`` checks each): a seventh of the disk and a sixth of the write cost of an index
  with positions, for a slower worst case (a phrase of common words that no entry holds: every row
  with all its trigrams is checked). The matches come newest row first and lazily, so a common text
  stops at the page's last match and a rare one reads only its few candidates.
- PostgreSQL: a ``pg_trgm`` GIN index on both columns; the query stays ``ILIKE`` and the planner picks
  the index or the newest-first scan. ``pg_trgm`` ships with PostgreSQL (contrib) and is a trusted
  extension, so the database's owner may create it; where it cannot be created the step only warns
  (``q`` still works, by reading every kept content, as before the index).

A ``q`` of fewer than three characters has no trigram: it is matched by the scan (newest first, stopping
at the page's last match; such a short text is in most entries).
"""

from __future__ import annotations

from ferryman.state.logs import CONTENT

TEXT = "ferryman_log_text"  # SQLite: the FTS5 index of ferryman_log_content
TRIGRAMS = f"{CONTENT}_trgm"  # PostgreSQL: the GIN index on ferryman_log_content

_BODY = "coalesce({row}.input, '') || char(10) || coalesce({row}.output, '')"  # what is indexed of a content row

SQLITE_INDEX: tuple[str, ...] = (
    f"CREATE VIEW IF NOT EXISTS {TEXT}_source AS SELECT rowid AS n, {_BODY.format(row=CONTENT)} AS body FROM {CONTENT}",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TEXT} USING fts5("
    f"body, content='{TEXT}_source', content_rowid='n', tokenize='trigram', detail='none')",
    f"""CREATE TRIGGER IF NOT EXISTS {TEXT}_add AFTER INSERT ON {CONTENT} BEGIN
    INSERT INTO {TEXT} (rowid, body) VALUES (new.rowid, {_BODY.format(row="new")});
END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TEXT}_drop AFTER DELETE ON {CONTENT} BEGIN
    INSERT INTO {TEXT} ({TEXT}, rowid, body) VALUES ('delete', old.rowid, {_BODY.format(row="old")});
END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TEXT}_change AFTER UPDATE ON {CONTENT} BEGIN
    INSERT INTO {TEXT} ({TEXT}, rowid, body) VALUES ('delete', old.rowid, {_BODY.format(row="old")});
    INSERT INTO {TEXT} (rowid, body) VALUES (new.rowid, {_BODY.format(row="new")});
END""",
    f"INSERT INTO {TEXT} ({TEXT}) VALUES ('rebuild')",  # the rows kept before the index existed
)

# ``logs: {text_index: false}``: the index and what keeps it, gone (writes no longer pay for it)
SQLITE_UNINDEX: tuple[str, ...] = (
    f"DROP TRIGGER IF EXISTS {TEXT}_add",
    f"DROP TRIGGER IF EXISTS {TEXT}_drop",
    f"DROP TRIGGER IF EXISTS {TEXT}_change",
    f"DROP TABLE IF EXISTS {TEXT}",
    f"DROP VIEW IF EXISTS {TEXT}_source",
)
POSTGRES_UNINDEX = f"DROP INDEX IF EXISTS {TRIGRAMS}"


def text_index_wanted(store_url: str, setting: bool | None) -> bool:
    """``logs.text_index`` as set, or its default for the store: on with PostgreSQL, off with SQLite."""
    return setting if setting is not None else not store_url.startswith("sqlite")


# one statement that cannot fail the migration: PL/pgSQL's handler rolls the block back alone
POSTGRES_INDEX: tuple[str, ...] = (
    f"""DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS {TRIGRAMS} ON {CONTENT} USING gin (input gin_trgm_ops, output gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'the request log''s text search has no index (pg_trgm: %)', SQLERRM;
END
$$""",
)

SQLITE_INDEXED = f"SELECT 1 FROM sqlite_master WHERE name = '{TEXT}'"
POSTGRES_INDEXED = f"SELECT to_regclass('{TRIGRAMS}') IS NOT NULL"
UNINDEXED = (
    "the request log's text search (q) has no index here; a q reads every kept content "
    "(SQLite: FTS5 with the trigram tokenizer, 3.34 or later; PostgreSQL: the pg_trgm extension)"
)
