"""Ids of the objects Ferryman makes (responses, items): a prefix and 48 random hex digits."""

from __future__ import annotations

import os

_ID_BYTES = 24
_random = b""
_taken = 0


def new_id(prefix: str) -> str:
    """``prefix_`` and 48 random hex digits (from os.urandom, drawn 6 KB at a time: one syscall per 256 ids)."""
    global _random, _taken
    if _taken + _ID_BYTES > len(_random):
        _random, _taken = os.urandom(_ID_BYTES * 256), 0
    chunk = _random[_taken : _taken + _ID_BYTES]
    _taken += _ID_BYTES
    return f"{prefix}_{chunk.hex()}"
