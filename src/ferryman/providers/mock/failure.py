"""``metadata.mock_error``: a request that asks the mock to fail, the way a provider fails.

``"429"`` (any status from 400 to 599) fails every mock model the request reaches; ``"a:503"`` fails
only ``mock/a``, so a fallback to another mock model can answer. The failure is the ``ProviderError``
an HTTP adapter raises for that status, so retries, fallbacks and the client see exactly what a real
provider's 429 or 503 would give them.
"""

from __future__ import annotations

from ferryman.providers.base import Call
from ferryman.schemas.errors import InvalidRequestError, ProviderError


def requested_failure(provider: str, call: Call) -> ProviderError | None:
    """The error this call asks for, or None; a value that is not a status is the caller's 400."""
    metadata = call.request.metadata
    value = metadata.get("mock_error") if metadata else None
    if value is None:
        return None
    model, named, status = value.rpartition(":")
    if named and model != call.deployment:
        return None
    if not (status.isdigit() and 400 <= int(status) <= 599):
        raise InvalidRequestError(
            f"metadata.mock_error must be an HTTP error status from 400 to 599, optionally after a model name "
            f"('503' or 'a:503'); got {value!r}.",
            param="metadata.mock_error",
            code="invalid_value",
        )
    return ProviderError(
        provider, int(status), f"failing with HTTP {status}, as metadata.mock_error asked", code="mock_error"
    )
