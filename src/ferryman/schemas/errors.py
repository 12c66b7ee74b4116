"""The one exception hierarchy of Ferryman.

Every failure a client can see is a ``FerrymanError``; the front door turns it into an OpenAI-style
JSON body ``{"error": {"message", "type", "param", "code"}}`` with the error's HTTP status, and a
stream turns it into an ``error`` event. Nothing else ever reaches a client, so no stack trace can.
Its message and param (and a provider error's body) are scrubbed of every configured secret when the
error is made (``ferryman.scrub``): a provider that echoes the key it was sent shows the client ``****``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.scrub import scrub, scrub_data

# statuses a caller may retry, on the same target or on the next one
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class FerrymanError(Exception):
    """Every failure carries its fault domain: ``caller`` (the request is wrong), ``policy`` (governance
    refused it), ``provider`` (the provider failed or refused) or ``gateway`` (Ferryman itself: busy,
    internal). Only a provider's failures say anything about a provider key or a provider's health."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None
    domain: str = "gateway"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.param = scrub(param) if param else param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = headers or {}

    @property
    def retryable(self) -> bool:
        """Whether another attempt (same or next target) could succeed."""
        return False

    def error_object(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}

    def to_json(self) -> bytes:
        return msgspec.json.encode({"error": self.error_object()})


class InvalidRequestError(FerrymanError):
    status = 400
    type = "invalid_request_error"
    domain = "caller"


class AuthenticationError(FerrymanError):
    status = 401
    type = "authentication_error"


class PolicyError(FerrymanError):
    """Governance refused the request (``plugins/governance``): no provider was called."""

    domain = "policy"


class InvalidApiKeyError(PolicyError):
    """No key, or one that is unknown, revoked or expired: 401."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class ModelNotAllowedError(PolicyError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class BudgetExceededError(PolicyError):
    status = 402
    type = "insufficient_quota"
    code = "budget_exceeded"


class RateLimitExceededError(PolicyError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class NotFoundError(FerrymanError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    domain = "caller"


class MethodNotAllowedError(FerrymanError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"
    domain = "caller"


class PayloadTooLargeError(FerrymanError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    domain = "caller"


class QueueFullError(FerrymanError):
    """Ferryman's own backpressure: a provider's concurrency limit and queue are full (429, gateway domain)."""

    status = 429
    type = "rate_limit_error"
    code = "gateway_queue_full"

    @property
    def retryable(self) -> bool:
        return True


class UpstreamConnectionError(FerrymanError):
    """The provider could not be reached (refused, reset, DNS): 502."""

    status = 502
    type = "api_connection_error"
    code = "upstream_connection_error"
    domain = "provider"

    @property
    def retryable(self) -> bool:
        return True


class UpstreamTimeoutError(FerrymanError):
    """The provider did not answer in time: 504."""

    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    domain = "provider"

    @property
    def retryable(self) -> bool:
        return True


class ProviderError(FerrymanError):
    """An error the provider itself returned: its status and message are kept, its name added."""

    domain = "provider"

    def __init__(
        self,
        provider: str,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(
            f"{provider}: {message}",
            status=status,
            type=type or _type_for_status(status),
            param=param,
            code=code,
            headers=headers,
        )
        self.provider = provider
        self.provider_message = scrub(message)
        self.body = scrub_data(body)

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES

    def error_object(self) -> dict[str, Any]:
        obj = super().error_object()
        obj["provider"] = self.provider
        return obj


def _type_for_status(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status < 500:
        return "invalid_request_error"
    return "api_error"


def provider_error_from_body(
    provider: str, status: int, body: bytes, headers: dict[str, str] | None = None
) -> ProviderError:
    """Build a ProviderError from whatever error body the provider sent (JSON or text)."""
    message = f"upstream returned HTTP {status}"
    etype = param = code = None
    parsed: Any = None
    try:
        parsed = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace").strip()
        if text:
            message = text[:2000]
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]  # Gemini and a few others wrap errors in a list
    if isinstance(parsed, dict):
        err = parsed.get("error", parsed)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("Message") or parsed.get("message")
            if isinstance(msg, str) and msg:
                message = msg
            etype = _str_or_none(err.get("type")) or _str_or_none(err.get("status"))
            param = _str_or_none(err.get("param"))
            code = _str_or_none(err.get("code"))
        elif isinstance(err, str) and err:
            message = err
    return ProviderError(provider, status, message, type=etype, param=param, code=code, headers=headers, body=parsed)


def _str_or_none(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else str(v)


_OVERFLOW_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_OVERFLOW_WORDS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "exceeds the maximum number of tokens",
    "input token count",
)


def is_context_overflow(exc: FerrymanError) -> bool:
    """A provider's way of saying the prompt does not fit the model's context window."""
    if not isinstance(exc, ProviderError) or exc.status not in (400, 413, 422):
        return False
    if exc.code in _OVERFLOW_CODES:
        return True
    text = exc.provider_message.lower()
    return any(word in text for word in _OVERFLOW_WORDS)
