"""An upstream answer that does not parse as its provider's API: a 502 (``upstream_bad_response``)
before the first byte, an ``error`` event and ``response.failed`` after it; never a success.

Readers raise ``malformed`` where they check a shape; ``reading`` is the net around a reader for what
no check named (a field of another type deep inside), so no such reply becomes a Python error's text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ferryman.schemas.errors import UpstreamConnectionError

# what reading a field of an unexpected type raises
SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)


def malformed(provider: str, what: str) -> UpstreamConnectionError:
    """The 502 for an answer that is not the provider's API; ``what`` says what was wrong."""
    return UpstreamConnectionError(
        f"{provider}: the provider's answer does not parse as its API: {what}", code="upstream_bad_response"
    )


@contextmanager
def reading(provider: str, what: str) -> Iterator[None]:
    """Turn a reader's shape error inside the block into ``malformed`` (FerrymanErrors pass as they are)."""
    try:
        yield
    except SHAPE_ERRORS:
        raise misread(provider, what) from None


def misread(provider: str, what: str) -> UpstreamConnectionError:
    """``malformed`` for a shape error no check named (what ``reading`` raises; a hot loop catches
    ``SHAPE_ERRORS`` itself rather than enter a context manager per event)."""
    return malformed(provider, f"{what} holds a field of an unexpected type")


def expect(provider: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` when it is of ``kind``; ``malformed`` naming ``what`` otherwise."""
    if not isinstance(value, kind):
        raise malformed(provider, f"{what} is {_name(value)}")
    return value


def _name(value: Any) -> str:
    return "missing" if value is None else f"a JSON {_JSON.get(type(value), type(value).__name__)}"


_JSON: dict[type, str] = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
