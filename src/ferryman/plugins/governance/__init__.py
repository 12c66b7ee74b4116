"""Governance: virtual keys, teams, their model allow-lists, budgets, rate limits and spend.

``model.py`` (the records), ``registry.py`` (keys and teams in memory, kept in step with the store),
``limits.py`` (rpm/tpm windows), ``ledger.py`` (spend per key and team, by hour), ``terms.py`` (what governs
a key's requests, worked out once per key), ``hook.py`` (the pipeline hook that enforces them and charges
each answer).
"""
