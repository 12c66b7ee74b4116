"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}`` with the matching status.

Anthropic names an error by its status (``providers/anthropic/response.py`` ``ERROR_STATUS`` is the same
table read the other way): 400 ``invalid_request_error``, 401 ``authentication_error``, 403
``permission_error``, 404 ``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 529
``overloaded_error``, anything else of 500 and above ``api_error``. A Ferryman status Anthropic does not
use (402 budget exceeded, 499, 502, 503, 504) keeps its status and takes the nearest type; an Anthropic
provider's own error type, when it is one of Anthropic's, is kept as it was.
"""

from __future__ import annotations

from typing import Any

from ferryman.providers.anthropic.response import ERROR_STATUS
from ferryman.schemas.errors import FerrymanError, ProviderError

TYPE_OF_STATUS = {status: etype for etype, status in ERROR_STATUS.items()}
_NEAREST = {402: "billing_error", 405: "invalid_request_error", 422: "invalid_request_error", 503: "overloaded_error"}


def error_type(status: int) -> str:
    known = TYPE_OF_STATUS.get(status) or _NEAREST.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str, etype: str | None = None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype or error_type(status), "message": message}}


def of_exception(exc: FerrymanError) -> dict[str, Any]:
    etype = exc.type if isinstance(exc, ProviderError) and exc.type in ERROR_STATUS else None
    return error_body(exc.status, exc.message, etype)
