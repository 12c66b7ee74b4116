"""A secret value that never prints itself, and the ``env.NAME`` references config files use for one.

It sits below both ``config`` and ``providers``: a provider's typed config holds ``Secret`` fields,
and the config loader makes them, so neither may own it without importing the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class Secret:
    """A secret value that never prints itself."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str | None, source: str) -> None:
        self._value = value
        self.source = source  # "literal" or "env.NAME": safe to show

    def reveal(self) -> str | None:
        return self._value

    @property
    def is_set(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        state = "set" if self.is_set else "NOT SET"
        return f"Secret({self.source}, {state})"

    def __str__(self) -> str:
        return self.__repr__()


_ENV_REF = re.compile(r"^(?:env\.|os\.environ/)([A-Za-z_][A-Za-z0-9_]*)$")


def resolve_secret(value: str, environ: Mapping[str, str]) -> Secret:
    """``env.NAME`` / ``os.environ/NAME`` read from ``environ``; anything else is the literal secret."""
    m = _ENV_REF.match(value.strip())
    if m:
        name = m.group(1)
        return Secret(environ.get(name) or None, f"env.{name}")
    return Secret(value, "literal")
