"""Client values that go into a provider's URL (model names, deployments), as path segments.

A model name is client text and the gateway's key rides on the request it names, so it may never
steer the URL: each value is percent-encoded as one path segment (``/``, ``?``, ``#``, ``%`` and
spaces included), and ``.`` or ``..``, which a server would resolve as a step up, is a 400.
"""

from __future__ import annotations

from urllib.parse import quote

from ferryman.schemas.errors import InvalidRequestError


def path_segment(value: str, *, keep: str = "") -> str:
    """``value`` as one URL path segment; ``keep`` lists characters a provider's own paths leave as
    they are (Google's ``@`` in a partner model's version)."""
    if value in ("", ".", ".."):
        raise InvalidRequestError(
            f"The model name {value!r} cannot be sent to a provider: it is not a name.",
            param="model",
            code="invalid_value",
        )
    return quote(value, safe=keep)


def path_segments(value: str, *, keep: str = "") -> str:
    """A resource path the client may give (``publishers/x/models/y``): each segment quoted as one."""
    return "/".join(path_segment(part, keep=keep) for part in value.split("/"))
