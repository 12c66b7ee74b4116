"""What the passthrough tests share: the client's own requests as its SDK sends them, and SSE frames compared
one by one.

    capture = Capture()   # an httpx (or httpx2) client's request hook
    ... capture.requests[-1].content ...
"""

from __future__ import annotations

import json
from typing import Any

import httpx


class Capture:
    """The requests an SDK sends, as it sends them (any httpx-like request: read, then kept)."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> None:
        request.read()
        self.requests.append(request)

    @property
    def bodies(self) -> list[bytes]:
        return [r.content for r in self.requests]


def swapped(body: bytes, model: str, deployment: str) -> bytes:
    """``body`` with its one ``model`` value changed, as the gateway is to send it."""
    old = json.dumps(model).encode()
    assert body.count(old) == 1
    return body.replace(old, json.dumps(deployment).encode())


def frames(sse: list[str]) -> list[bytes]:
    """A recorded stream's event blocks as frames on the wire."""
    return [block.encode() + b"\n\n" for block in sse]


def client_frames(raw: bytes) -> list[bytes]:
    """The frames a client got, keep-alive comments left out."""
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part and not part.startswith(b":")]


def tokens(url: str, provider: str, model: str, kind: str) -> float:
    """``ferryman_tokens_total`` of one provider's model, of one kind (input, output), from ``url``'s metrics."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    labels = (f'provider="{provider}"', f'model="{model}"', f'type="{kind}"')
    found = [line for line in text.splitlines() if line.startswith("ferryman_tokens_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in found if all(label in line for label in labels))
