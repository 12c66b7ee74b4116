"""Spend in memory, per key and per team, by the hour: what budgets are checked against, with no database
round trip. It starts from the store's spend table, grows with each charge this process makes, and takes
the recent hours back from the store every ``refresh`` seconds (``refresh``), so that what other processes
and hosts spent counts here too; with shared counters, the current and the previous hour's spend read
from Redis (``live``) count as well.

A budget's period is a rolling window of whole hours (``1d``: this hour and the 23 before it); no
period means every charge ever made. Hours older than the longest window are let go at a reload (each
subject's total keeps them), so memory stays bounded on a gateway that runs for months.
"""

from __future__ import annotations

from collections.abc import Iterable

from mypy_extensions import mypyc_attr

from ferryman.plugins.governance.model import PERIOD_HOURS, Budget
from ferryman.state.records import SpendBucket

LONGEST = max(PERIOD_HOURS.values())  # hours: the longest budget window


class Usage:
    __slots__ = ("cost", "input_tokens", "output_tokens", "requests", "total")

    def __init__(self, total: Usage | None = None) -> None:
        self.total = total  # where every addition is added too
        self.cost = 0.0
        self.requests = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def add(self, cost: float, requests: int, input_tokens: int, output_tokens: int) -> None:
        usage: Usage | None = self
        while usage is not None:  # this one, then its total
            usage.cost += cost
            usage.requests += requests
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            usage = usage.total


@mypyc_attr(allow_interpreted_subclasses=True)  # a test keeps every hour, to compare against
class Ledger:
    def __init__(self) -> None:
        self.hours: dict[str, dict[int, Usage]] = {}  # subject ("key:<id>", "team:<id>") -> hour -> usage
        self.totals: dict[str, Usage] = {}  # subject -> every charge ever
        # (subject, period) -> its window's usage but the current hour's, summed once an hour (``spent``): a key
        # charged for months has thousands of hours, which every request would otherwise add up again
        self._rest: dict[tuple[str, str], Usage] = {}
        self._hour = -1  # the current hour ``_rest`` was summed in
        self._forgot = -1  # the hours before this one are let go (``forget``)

    def load(self, buckets: Iterable[SpendBucket]) -> None:
        self.hours, self.totals = {}, {}
        self._rest = {}
        for key_id, team_id, hour, cost, requests, input_tokens, output_tokens in buckets:
            for subject in subjects(key_id, team_id):
                self._usage(subject, hour).add(cost, requests, input_tokens, output_tokens)

    def _usage(self, subject: str, hour: int) -> Usage:
        """The hour's usage of ``subject``; ``add`` to it adds to its total as well."""
        by_hour = self.hours.get(subject)
        usage = by_hour.get(hour) if by_hour is not None else None
        if usage is None:  # the subject's first charge of the hour
            total = self.totals.get(subject)
            if total is None:
                total = self.totals[subject] = Usage()
            if by_hour is None:
                by_hour = self.hours[subject] = {}
            usage = by_hour[hour] = Usage(total)
        return usage

    def refresh(self, buckets: Iterable[SpendBucket], since_hour: int) -> None:
        """The store's spend of the hours from ``since_hour`` on: an hour takes the store's figures unless
        this process has already counted more (charges whose rows are not written yet)."""
        fresh = Ledger()
        fresh.load(buckets)
        self._rest = {}  # the store's figures may change any hour
        self.forget(since_hour + 2 - LONGEST)  # (``since_hour`` is the previous hour: the reload's)
        for subject, by_hour in fresh.hours.items():
            for hour, stored in by_hour.items():
                if hour < since_hour:
                    continue
                mine = self._usage(subject, hour)
                mine.add(
                    max(0.0, stored.cost - mine.cost),
                    max(0, stored.requests - mine.requests),
                    max(0, stored.input_tokens - mine.input_tokens),
                    max(0, stored.output_tokens - mine.output_tokens),
                )

    def forget(self, before_hour: int) -> None:
        """Let go of the hours before ``before_hour`` (no budget's window reaches them; each subject's total keeps
        them), so that the hours kept stay bounded however long the gateway runs. Once an hour at most."""
        if before_hour <= self._forgot:
            return
        self._forgot = before_hour
        for by_hour in self.hours.values():
            for hour in [h for h in by_hour if h < before_hour]:
                del by_hour[hour]

    def charge(self, subjects: Iterable[str], at: float, cost: float, input_tokens: int, output_tokens: int) -> None:
        hour = int(at // 3600)
        if hour != self._hour:
            self._rest = {}  # a charge to an hour the sums hold
        for subject in subjects:
            self._usage(subject, hour).add(cost, 1, input_tokens, output_tokens)

    def spent(self, subject: str, period: str | None, now: float) -> Usage:
        """What ``subject`` spent in the current ``period`` (None: ever): the window's other hours as summed
        this hour, and the current hour's usage as it stands."""
        if period is None:
            return self.totals.get(subject) or Usage()
        hour = int(now // 3600)
        if hour != self._hour:
            self._rest, self._hour = {}, hour
        by_hour = self.hours.get(subject, {})
        rest = self._rest.get((subject, period))
        if rest is None:
            rest = self._rest[(subject, period)] = Usage()
            first = hour - PERIOD_HOURS[period] + 1
            for h, usage in by_hour.items():
                if h >= first and h != hour:
                    rest.add(usage.cost, usage.requests, usage.input_tokens, usage.output_tokens)
        total = Usage()
        total.add(rest.cost, rest.requests, rest.input_tokens, rest.output_tokens)
        current = by_hour.get(hour)
        if current is not None:
            total.add(current.cost, current.requests, current.input_tokens, current.output_tokens)
        return total

    def remaining(self, subject: str, budget: Budget, now: float, live: dict[int, float] | None = None) -> float:
        """What is left of ``budget``; ``live``: spend by hour read from the shared counters, which counts
        where it is more than this process knows of that hour."""
        cost = self.spent(subject, budget.period, now).cost
        if live:
            hours = self.hours.get(subject, {})
            for hour, shared in live.items():
                known = hours.get(hour)
                cost += max(0.0, shared - (known.cost if known is not None else 0.0))
        return budget.max_usd - cost


def subjects(key_id: str | None, team_id: str | None) -> list[str]:
    out = [f"key:{key_id}"] if key_id is not None else []
    if team_id is not None:
        out.append(f"team:{team_id}")
    return out
