"""Which API's error shape a failure outside a door takes: the shape of the door its path leads to.

A door renders its own errors (``Door.render_error``), but some refusals come before any door has the request:
no route for the path, a method the route does not take, a connection past ``server.max_connections``. A
client of ``/anthropic/...`` is an Anthropic SDK or Claude Code, of ``/genai/...`` the google-genai SDK: each
reads only its own API's error body, so these refusals take the shape of the API the path belongs to, and
OpenAI's everywhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from ferryman.http import Send, send_error
from ferryman.routes import anthropic, gemini
from ferryman.schemas.errors import FerrymanError

ErrorSender = Callable[[Send, FerrymanError, Iterable[tuple[bytes, bytes]]], Awaitable[None]]


def error_sender(path: str) -> ErrorSender:
    """What sends an error for a request to ``path``, in the shape of the API its door speaks."""
    if path.startswith("/anthropic/"):
        return anthropic.send_error
    if path.startswith("/genai/"):
        return gemini.send_error
    return send_error
