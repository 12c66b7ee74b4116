"""Rate limits: requests and tokens per minute, per key and per team, counted in this process.

Windows are fixed minutes of the clock (``now // 60``). A request is counted when it is let through;
its tokens (input + output) when its answer is in, so a request is refused for tokens once the minute's
tokens already reached ``tpm``. Several processes each count their own (shared counters are to come).
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

    def take(self, subjects: Sequence[tuple[str, Limits]], now: float) -> None:
        """Count one request against every ``(subject, limits)``, or refuse it (429) and count nothing."""
        minute = int(now // WINDOW)
        reset = max(1, math.ceil((minute + 1) * WINDOW - now))
        windows = [(self._window(subject, minute), limits) for subject, limits in subjects]
        for window, limits in windows:
            over_requests = limits.rpm is not None and window.requests >= limits.rpm
            over_tokens = limits.tpm is not None and window.tokens >= limits.tpm
            if over_requests or over_tokens:
                what = "requests" if over_requests else "tokens"
                raise RateLimitExceededError(
                    f"Rate limit reached: {what} per minute; retry in {reset} s.",
                    headers={"retry-after": str(reset), **_headers(window, limits, reset)},
                )
        for window, _ in windows:
            window.requests += 1

    def add_tokens(self, subjects: Sequence[str], tokens: int, now: float) -> None:
        minute = int(now // WINDOW)
        for subject in subjects:
            self._window(subject, minute).tokens += tokens


def _headers(window: _Window, limits: Limits, reset: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for kind, limit, used in (("requests", limits.rpm, window.requests), ("tokens", limits.tpm, window.tokens)):
        if limit is not None:
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - used))
            headers[f"x-ratelimit-reset-{kind}"] = f"{reset}s"
    return headers
