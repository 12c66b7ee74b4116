"""The JSON schema a request's ``text.format`` asks for, read once for every translating adapter.

Responses puts ``schema``, ``name``, ``description`` and ``strict`` on the format itself; Ferryman also
accepts the Chat Completions shape, nested under ``json_schema``. The flat fields win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import TextConfig, TextFormat


@dataclass(frozen=True, slots=True)
class JsonSchema:
    schema: dict[str, Any]
    name: str | None
    description: str | None
    strict: bool | None


def structured(text: TextConfig | None) -> TextFormat | None:
    """The format a request's ``text`` asks for; None for plain text, which needs no setting."""
    fmt = text.format if text is not None else None
    return None if fmt is None or fmt.type == "text" else fmt


def json_schema(fmt: TextFormat) -> JsonSchema:
    """``fmt``'s schema and its labels; a json_schema format without a schema is a 400."""
    nested = fmt.json_schema
    schema = fmt.schema if fmt.schema is not None else (nested.schema if nested is not None else None)
    if schema is None:
        raise InvalidRequestError(
            "Missing required parameter: 'text.format.schema'.",
            param="text.format.schema",
            code="missing_required_parameter",
        )
    return JsonSchema(
        schema=schema,
        name=fmt.name or (nested.name if nested is not None else None),
        description=fmt.description or (nested.description if nested is not None else None),
        strict=fmt.strict if fmt.strict is not None else (nested.strict if nested is not None else None),
    )
