"""Ids of the objects Ferryman makes (responses, items): a prefix and 48 random hex digits."""

from __future__ import annotations

import os

_ID_BYTES = 24
_random = b""
_taken = 0


def new_id(prefix: str) -> str:
    """``prefix_`` and 48 random hex digits (from os.urandom, drawn 6 KB at a time: one syscall per 256 ids)."""
    return f"{prefix}_{random_hex(_ID_BYTES)}"


def random_hex(nbytes: int) -> str:
    """``nbytes`` random bytes as hex, from os.urandom drawn in blocks (a getrandom syscall per id costs more
    than the rest of building a log entry)."""
    global _random, _taken
    if _taken + nbytes > len(_random):
        _random, _taken = os.urandom(max(nbytes, _ID_BYTES) * 256), 0
    chunk = _random[_taken : _taken + nbytes]
    _taken += nbytes
    return chunk.hex()
