"""What governs a key's requests, worked out once per key rather than once per request.

Every request of a key is checked against the same subjects (``key:<id>``, and ``team:<id>`` for its
team), budgets and rate limits, and is charged to the same subjects: ``Terms`` holds them, derived from
the key's record and its team's. The hook keeps one per key id and uses it for as long as the registry
still holds those very records: an admin change or a reload replaces a record (they are never changed in
place), so a changed, revoked or re-teamed key, or a changed team, gets new terms on its next request.
"""

from __future__ import annotations

from ferryman.plugins.governance.ledger import subjects
from ferryman.plugins.governance.limits import Limited
from ferryman.plugins.governance.model import Budget, Team, VirtualKey


class Terms:
    __slots__ = ("budgeted", "budgeted_subjects", "charged", "key", "limited", "limited_subjects", "team")

    def __init__(self, key: VirtualKey, team: Team | None) -> None:
        self.key = key
        self.team = team
        # (subject, who for a 402's message, budget) of the key, then of its team
        self.budgeted: list[tuple[str, str, Budget]] = []
        self.limited: list[Limited] = []  # the key's limits, then its team's
        own = f"key:{key.id}"
        if key.budget is not None:
            self.budgeted.append((own, f"key '{key.name}'", key.budget))
        if key.limits is not None:
            self.limited.append(Limited(own, key.limits))
        if team is not None:
            if team.budget is not None:
                self.budgeted.append((f"team:{team.id}", f"team '{team.name}'", team.budget))
            if team.limits is not None:
                self.limited.append(Limited(f"team:{team.id}", team.limits))
        self.charged = subjects(key.id, key.team_id)  # what an answer is charged to
        # what the shared counters are asked about
        self.budgeted_subjects = [subject for subject, _, _ in self.budgeted]
        self.limited_subjects = [limited.subject for limited in self.limited]


class TermsCache:
    """The terms of each key that has called, by key id (as many as the registry has keys, at most)."""

    def __init__(self) -> None:
        self._by_key: dict[str, Terms] = {}

    def of(self, key: VirtualKey, team: Team | None) -> Terms:
        terms = self._by_key.get(key.id)
        if terms is None or terms.key is not key or terms.team is not team:
            terms = self._by_key[key.id] = Terms(key, team)
        return terms
