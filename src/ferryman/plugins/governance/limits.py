"""Rate limits: requests and tokens per minute, per key and per team.

Windows are fixed minutes of the clock (``now // 60``). A request is counted when it is let through;
its tokens (input + output) when its answer is in, so a request is refused for tokens once the minute's
tokens already reached ``tpm``. ``RateLimits`` counts in this process; with shared counters the hook
reads the minute's counts from Redis (``shared.py``) and ``verdict`` judges them the same way, while this
process's own counts are kept up too, to fall back on if Redis fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ferryman.plugins.governance.model import Limits
from ferryman.schemas.errors import RateLimitExceededError

WINDOW = 60  # seconds


class _Window:
    __slots__ = ("minute", "requests", "tokens")

    def __init__(self, minute: int) -> None:
        self.minute = minute
        self.requests = 0
        self.tokens = 0


class RateLimits:
    def __init__(self) -> None:
        self.windows: dict[str, _Window] = {}

    def _window(self, subject: str, minute: int) -> _Window:
        window = self.windows.get(subject)
        if window is None or window.minute != minute:
            window = self.windows[subject] = _Window(minute)
        return window

    def used(self, subject: str, minute: int) -> tuple[int, int]:
        """This process's requests and tokens of ``subject`` in ``minute``."""
        window = self.windows.get(subject)
        return (window.requests, window.tokens) if window is not None and window.minute == minute else (0, 0)

    def take(self, subjects: Sequence[tuple[str, Limits]], now: float) -> list[tuple[bytes, bytes]]:
        """Count one request against every ``(subject, limits)``, or refuse it (429) and count nothing; the
        ``x-ratelimit-*`` headers of the first subject for the reply."""
        minute = int(now // WINDOW)
        windows = []
        for subject, limits in subjects:
            window = self._window(subject, minute)
            if _over(limits, window.requests, window.tokens) is not None:
                verdict([limits], [(window.requests, window.tokens)], now)  # raises: this subject's 429
            windows.append(window)
        for window in windows:
            window.requests += 1
        first = windows[0]
        return _headers(subjects[0][1], first.requests, first.tokens, _reset(now))

    def count(self, subjects: Sequence[str], now: float) -> None:
        """Count one request let through by the shared counters (what to fall back on without them)."""
        minute = int(now // WINDOW)
        for subject in subjects:
            self._window(subject, minute).requests += 1

    def add_tokens(self, subjects: Sequence[str], tokens: int, now: float) -> None:
        minute = int(now // WINDOW)
        for subject in subjects:
            self._window(subject, minute).tokens += tokens


def verdict(limited: Sequence[Limits], used: Sequence[tuple[int, int]], now: float) -> list[tuple[bytes, bytes]]:
    """Refuse (429, with ``retry-after`` and ``x-ratelimit-*``) if a subject's minute already has ``rpm``
    requests or ``tpm`` tokens (``used``: before this request); else the headers of the first subject,
    this request counted."""
    reset = _reset(now)
    for limits, (requests, tokens) in zip(limited, used, strict=True):
        what = _over(limits, requests, tokens)
        if what is not None:
            raise RateLimitExceededError(
                f"Rate limit reached: {what} per minute; retry in {reset} s.",
                headers={
                    "retry-after": str(reset),
                    **{k.decode(): v.decode() for k, v in _headers(limits, requests, tokens, reset)},
                },
            )
    requests, tokens = used[0]
    return _headers(limited[0], requests + 1, tokens, reset)


def _over(limits: Limits, requests: int, tokens: int) -> str | None:
    """What a subject's minute has reached the limit of (``requests`` first), or None."""
    if limits.rpm is not None and requests >= limits.rpm:
        return "requests"
    if limits.tpm is not None and tokens >= limits.tpm:
        return "tokens"
    return None


def _reset(now: float) -> int:
    """Seconds until the minute's window ends (at least 1)."""
    return max(1, math.ceil((int(now // WINDOW) + 1) * WINDOW - now))


_NAMES = {
    kind: (b"x-ratelimit-limit-" + kind, b"x-ratelimit-remaining-" + kind, b"x-ratelimit-reset-" + kind)
    for kind in (b"requests", b"tokens")
}


def _headers(limits: Limits, requests: int, tokens: int, reset: int) -> list[tuple[bytes, bytes]]:
    """OpenAI's ``x-ratelimit-*`` headers, as the reply sends them (every request of a limited key has them)."""
    headers: list[tuple[bytes, bytes]] = []
    reset_value = b"%ds" % reset
    for kind, limit, used in ((b"requests", limits.rpm, requests), (b"tokens", limits.tpm, tokens)):
        if limit is not None:
            limit_name, remaining_name, reset_name = _NAMES[kind]
            headers.append((limit_name, b"%d" % limit))
            headers.append((remaining_name, b"%d" % max(0, limit - used)))
            headers.append((reset_name, reset_value))
    return headers
