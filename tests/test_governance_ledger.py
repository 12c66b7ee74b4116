"""The governance ledger's budget windows: ``Ledger.spent`` sums a window's earlier hours once an hour and
adds the current hour's usage as it stands; whatever happens between (charges, to this hour or another,
the store's figures taken back, hours rolling over, a reload), it must say what adding up every hour of
the window says, and what a ledger that never lets old hours go says, while holding at most the longest
window's hours."""

from __future__ import annotations

import random

import pytest

from ferryman.plugins.governance.ledger import LONGEST, Ledger, Usage
from ferryman.plugins.governance.model import PERIOD_HOURS

HOUR = 3600.0
SUBJECTS = ("key:a", "key:b", "team:t")


class Keeping(Ledger):
    """A ledger that keeps every hour: what the real one must agree with."""

    def forget(self, before_hour: int) -> None:
        return None


def _every_hour(ledger: Ledger, subject: str, period: str, now: float) -> tuple[object, int, int, int]:
    first = int(now // HOUR) - PERIOD_HOURS[period] + 1
    total = Usage()
    for hour, usage in ledger.hours.get(subject, {}).items():
        if hour >= first:
            total.add(usage.cost, usage.requests, usage.input_tokens, usage.output_tokens)
    return pytest.approx(total.cost, rel=1e-12, abs=1e-12), total.requests, total.input_tokens, total.output_tokens


@pytest.mark.parametrize("seed", range(5))
def test_spent_is_the_sum_of_the_windows_hours(seed: int) -> None:
    rng = random.Random(seed)
    ledger, keeping = Ledger(), Keeping()
    now = 1_800_000_000.0
    history = [("a", "t", int(now // HOUR) - h, 0.5, 2, 10, 20) for h in range(0, 2000, 7)]  # months of hours
    for each in (ledger, keeping):
        each.load(history)
    for _ in range(3000):
        op = rng.random()
        if op < 0.4:  # a charge now, or (a late one) to an earlier hour
            at = now - (rng.choice((0, 0, 0, 1, 5)) * HOUR)
            key, cost, tokens = rng.choice(("a", "b")), rng.random(), (rng.randrange(100), rng.randrange(100))
            for each in (ledger, keeping):
                each.charge([f"key:{key}", "team:t"], at, cost, *tokens)
        elif op < 0.45:  # a reload: the store's figures of the previous and the current hour taken back
            hour = int(now // HOUR)
            stored = [("b", "t", hour - rng.randrange(2), 3.0, 1, 1, 1)]
            for each in (ledger, keeping):
                each.refresh(stored, hour - 1)
            assert all(h > hour - LONGEST for by_hour in ledger.hours.values() for h in by_hour)
        elif op < 0.6:  # time passes: within the hour, or past one or more
            now += rng.choice((1.0, 600.0, HOUR, 3 * HOUR))
        else:
            subject, period = rng.choice(SUBJECTS), rng.choice((*PERIOD_HOURS, None))
            got, kept = ledger.spent(subject, period, now), keeping.spent(subject, period, now)
            assert (got.cost, got.requests, got.input_tokens, got.output_tokens) == (
                pytest.approx(kept.cost, rel=1e-12, abs=1e-12),
                kept.requests,
                kept.input_tokens,
                kept.output_tokens,
            )
            if period is not None:
                assert (got.cost, got.requests, got.input_tokens, got.output_tokens) == _every_hour(
                    keeping, subject, period, now
                )
    assert sum(len(by_hour) for by_hour in ledger.hours.values()) < sum(len(h) for h in keeping.hours.values())
