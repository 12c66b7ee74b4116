"""A plausible value for a JSON schema: what the mock puts in tool arguments and structured output.

Covers what tool and structured-output schemas use: ``type`` (one or a list), ``enum`` / ``const``
(the first value), ``default``, ``$ref`` into ``$defs`` / ``definitions``, ``anyOf`` / ``oneOf`` (the
first choice that is not null), ``allOf`` (merged), objects (the required properties, or every
property when the schema names none as required), arrays (``minItems`` items, at least one unless
``maxItems`` is 0), strings (by ``format``, within ``minLength`` / ``maxLength``) and numbers (within
their bounds). A schema that refers to itself stops nesting after a few levels.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 8
_FORMATS = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}


def example_value(schema: Any, root: Any = None, name: str | None = None) -> Any:
    """A value that validates against ``schema`` (``root`` holds its ``$defs``; ``name`` is the property's)."""
    return _value(schema, schema if root is None else root, name, 0)


def _value(schema: Any, root: Any, name: str | None, depth: int) -> Any:
    if not isinstance(schema, dict):
        return "example"  # ``true`` / ``{}``-like: anything goes
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        choices = schema.get(key)
        if isinstance(choices, list) and choices:
            # deep in a schema that refers to itself, null (when allowed) ends the nesting
            deep = depth >= MAX_DEPTH // 2
            chosen = next((c for c in choices if _is_null(c, root) == deep), choices[0])
            return _value({**_without(schema, key), **_resolve(chosen, root)}, root, name, depth)
    if isinstance(schema.get("allOf"), list):
        merged = _without(schema, "allOf")
        for part in schema["allOf"]:
            merged = _merge(merged, _resolve(part, root))
        return _value(merged, root, name, depth)
    kind = _type(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, name, depth)
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name)


def _resolve(schema: Any, root: Any) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < MAX_DEPTH:
        target = _pointer(root, schema["$ref"])
        schema = {**_without(schema, "$ref"), **target} if isinstance(target, dict) else _without(schema, "$ref")
        seen += 1
    return schema if isinstance(schema, dict) else {}


def _pointer(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return None  # a remote reference: nothing to follow
    node = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b}
    if "properties" in a or "properties" in b:
        out["properties"] = {**a.get("properties", {}), **b.get("properties", {})}
    if "required" in a or "required" in b:
        out["required"] = [*a.get("required", []), *b.get("required", [])]
    return out


def _is_null(schema: Any, root: Any) -> bool:
    return isinstance(schema, dict) and _type(_resolve(schema, root)) == "null"


def _type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _object(schema: dict[str, Any], root: Any, depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or depth >= MAX_DEPTH:
        return {}
    required = schema.get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else list(properties)
    return {n: _value(properties[n], root, n, depth + 1) for n in names}


def _array(schema: dict[str, Any], root: Any, name: str | None, depth: int) -> list[Any]:
    if depth >= MAX_DEPTH:
        return []
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        return [_value(s, root, name, depth + 1) for s in prefix]
    low = schema.get("minItems", 1)
    high = schema.get("maxItems")
    count = min(low, high) if isinstance(high, int) else low
    item = _value(schema.get("items", {}), root, name, depth + 1)
    return [item] * count if not schema.get("uniqueItems") or count <= 1 else _distinct(item, count)


def _distinct(item: Any, count: int) -> list[Any]:
    """``count`` different items like ``item`` (for ``uniqueItems``)."""
    if isinstance(item, bool):
        return [True, False][:count]
    if isinstance(item, int | float):
        return [item + i for i in range(count)]
    if isinstance(item, str):
        return [item if i == 0 else f"{item} {i + 1}" for i in range(count)]
    return [item] * count


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    """1 (an integer) or 1.5, moved into the schema's bounds and onto its ``multipleOf``."""
    step = 1 if integer else 0.5
    value: float = 1 if integer else 1.5
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    ex_low, ex_high = _bound(schema, "exclusiveMinimum"), _bound(schema, "exclusiveMaximum")
    if low is not None:
        value = max(value, low)
    if ex_low is not None and value <= ex_low:
        value = ex_low + step
    if high is not None:
        value = min(value, high)
    if ex_high is not None and value >= ex_high:
        value = ex_high - step
    multiple = _bound(schema, "multipleOf")
    if multiple:
        value = math.ceil(value / multiple) * multiple
    return math.ceil(value) if integer else float(value)


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _string(schema: dict[str, Any], name: str | None) -> str:
    fmt = schema.get("format")
    text = _FORMATS.get(fmt, "") if isinstance(fmt, str) else ""
    text = text or (f"example {name}" if name else "example")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text
