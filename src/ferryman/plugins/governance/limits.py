"""Rate limits: requests and tokens per minute, per key and per team.

Windows are fixed minutes of the clock (``now // 60``). A request is counted when it is let through;
its tokens (input + output) when its answer is in, so a request is refused for tokens once the minute's
tokens already reached ``tpm``. ``RateLimits`` counts in this process; with shared counters the hook
reads the minute's counts from Redis (``shared.py``) and ``verdict`` judges them the same way, while this
process's own counts are kept up too, to fall back on if Redis fails.

A subject's limits come as a ``Limited``, made once per key (``terms.py``), with the parts of its headers
that never change already made: a request builds only its ``remaining`` values.
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


class Limited:
    """A subject (``key:<id>``, ``team:<id>``) and its limits, with the ``x-ratelimit-limit-*`` headers they
    always give."""

    __slots__ = ("_kinds", "rpm", "subject", "tpm")

    def __init__(self, subject: str, limits: Limits) -> None:
        self.subject = subject
        self.rpm = limits.rpm
        self.tpm = limits.tpm
        # per limit set: (the limit, whether it counts tokens, its limit header, its other headers' names)
        self._kinds = [
            (limit, of_tokens, (limit_name, b"%d" % limit), remaining_name, reset_name)
            for limit, of_tokens, (limit_name, remaining_name, reset_name) in (
                (self.rpm, False, _REQUESTS),
                (self.tpm, True, _TOKENS),
            )
            if limit is not None
        ]

    def headers(self, requests: int, tokens: int, reset: int) -> list[tuple[bytes, bytes]]:
        """OpenAI's ``x-ratelimit-*`` headers, as the reply sends them (every request of a limited key has
        them): ``requests`` and ``tokens`` used in the minute, ``reset`` seconds until it ends."""
        headers: list[tuple[bytes, bytes]] = []
        reset_value = _RESETS[reset]
        for limit, of_tokens, fixed, remaining_name, reset_name in self._kinds:
            left = limit - (tokens if of_tokens else requests)
            headers += fixed, (remaining_name, b"%d" % (left if left > 0 else 0)), (reset_name, reset_value)
        return headers

    def over(self, requests: int, tokens: int) -> str | None:
        """What a minute with ``requests`` and ``tokens`` has reached the limit of (``requests`` first), or None."""
        if self.rpm is not None and requests >= self.rpm:
            return "requests"
        if self.tpm is not None and tokens >= self.tpm:
            return "tokens"
        return None

    def refusal(self, what: str, requests: int, tokens: int, now: float) -> RateLimitExceededError:
        """The 429 of a minute that has reached its limit of ``what``, with ``retry-after`` and ``x-ratelimit-*``."""
        reset = _reset(now, int(now // WINDOW))
        return RateLimitExceededError(
            f"Rate limit reached: {what} per minute; retry in {reset} s.",
            headers={
                "retry-after": str(reset),
                **{k.decode(): v.decode() for k, v in self.headers(requests, tokens, reset)},
            },
        )


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

    def take(self, limited: Sequence[Limited], now: float) -> list[tuple[bytes, bytes]]:
        """Count one request against every subject, or refuse it (429) and count nothing; the
        ``x-ratelimit-*`` headers of the first subject for the reply."""
        minute = int(now // WINDOW)
        windows = []
        for subject in limited:
            window = self._window(subject.subject, minute)
            what = subject.over(window.requests, window.tokens)
            if what is not None:
                raise subject.refusal(what, window.requests, window.tokens, now)
            windows.append(window)
        for window in windows:
            window.requests += 1
        first = windows[0]
        return limited[0].headers(first.requests, first.tokens, _reset(now, minute))

    def count(self, subjects: Sequence[str], now: float) -> None:
        """Count one request let through by the shared counters (what to fall back on without them)."""
        minute = int(now // WINDOW)
        for subject in subjects:
            self._window(subject, minute).requests += 1

    def add_tokens(self, subjects: Sequence[str], tokens: int, now: float) -> None:
        minute = int(now // WINDOW)
        for subject in subjects:
            self._window(subject, minute).tokens += tokens


def verdict(limited: Sequence[Limited], used: Sequence[tuple[int, int]], now: float) -> list[tuple[bytes, bytes]]:
    """Refuse (429, with ``retry-after`` and ``x-ratelimit-*``) if a subject's minute already has ``rpm``
    requests or ``tpm`` tokens (``used``: before this request); else the headers of the first subject,
    this request counted."""
    for subject, (requests, tokens) in zip(limited, used, strict=True):
        what = subject.over(requests, tokens)
        if what is not None:
            raise subject.refusal(what, requests, tokens, now)
    requests, tokens = used[0]
    return limited[0].headers(requests + 1, tokens, _reset(now, int(now // WINDOW)))


def _reset(now: float, minute: int) -> int:
    """Seconds until ``minute`` (``now``'s) ends: at least 1, as ``now`` is before its end."""
    return math.ceil((minute + 1) * WINDOW - now)


_REQUESTS = (b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests")
_TOKENS = (b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens")
_RESETS = [b"%ds" % seconds for seconds in range(WINDOW + 1)]  # a reset's value, by its seconds
