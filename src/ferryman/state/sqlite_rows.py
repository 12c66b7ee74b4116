"""Many rows into SQLite by few statements: ``INSERT ... VALUES (...), (...), ...``.

``executemany`` runs its statement once per row, and every run opens a cursor on the table and on each of
its indexes, then closes them and ends the statement: for a request log entry (a table, six indexes, and its
content's table) that was a fifth of its write on the store's thread. A statement of n rows does it once.
Statements come in sizes that are powers of two, up to ``most_rows``, so a handful of statements, each
compiled once and then kept in the connection's statement cache, write a batch of any size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

MOST = 64  # rows in one statement, at most: past it the statement's compilation grows, not its run's savings


def most_rows(db: sqlite3.Connection, width: int) -> int:
    """The rows of ``width`` parameters one statement takes: a power of two, up to ``MOST`` and under the
    connection's limit on parameters (999 before SQLite 3.32)."""
    fit = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    return min(MOST, 1 << (fit.bit_length() - 1))


def insert_rows(db: sqlite3.Connection, sql: Callable[[int], str], rows: Sequence[Sequence[Any]], most: int) -> None:
    """Insert ``rows`` with ``sql(n)``, the statement of ``n`` rows: the largest size first, at most ``most``."""
    done, left = 0, len(rows)
    while left:
        n = min(most, 1 << (left.bit_length() - 1))
        db.execute(sql(n), list(chain.from_iterable(rows[done : done + n])))
        done += n
        left -= n
