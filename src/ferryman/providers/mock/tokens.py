"""How the mock counts tokens (about four characters each, as a rule of thumb for English) and cuts its
output into stream deltas (a word, or up to 12 characters of one, with the spaces before it)."""

from __future__ import annotations

import re

CHARS_PER_TOKEN = 4
_PIECE = re.compile(r"\s*\S{1,12}|\s+")


def estimate(text: str) -> int:
    """Tokens in ``text``, rounded up (nothing is 0 tokens)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def pieces(text: str) -> list[str]:
    """``text`` cut into deltas; joined again they are ``text`` exactly."""
    return _PIECE.findall(text)
