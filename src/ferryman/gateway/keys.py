"""API keys of a provider: weighted choice, and a cool-down for keys that keep failing.

A key answered with 401/403 (revoked, wrong project) or 429 (its quota is spent) is set aside for
``key_cooldown`` seconds (at least the provider's ``retry-after``), and the other keys allowed for
the model are preferred. When every key is cooling down, the one that recovers first is used
rather than failing outright: the provider's answer is then the truth. The state is per process.
"""

from __future__ import annotations

import random
import time

from ferryman.config import ApiKey, ProviderConfig
from ferryman.schemas.errors import AuthenticationError

COOLING_STATUSES = frozenset({401, 403, 429})
USABLE_MODELS = 1024  # models whose usable keys a pool remembers


class KeyPool:
    def __init__(self, provider: ProviderConfig) -> None:
        self.provider = provider
        self._cool_until: dict[int, float] = {}  # id(key) -> monotonic time it may serve again
        self.clock = time.monotonic
        self._usable: dict[str, list[ApiKey]] = {}  # model -> the keys that may serve it (the config's: fixed)

    def usable(self, model: str) -> list[ApiKey]:
        """The provider's keys that are set and allowed ``model``, found once per model (never changed by a caller)."""
        keys = self._usable.get(model)
        if keys is None:
            if len(self._usable) >= USABLE_MODELS:  # bounded: model names are the clients'
                self._usable.clear()
            keys = self._usable[model] = self.provider.usable_keys(model)
        return keys

    def pick(self, model: str, exclude: tuple[ApiKey, ...] = ()) -> ApiKey | None:
        """A key for ``model``, by weight among those allowed and not cooling down."""
        keys = self.usable(model)
        if not keys:
            if any(k.secret.is_set for k in self.provider.keys):
                raise AuthenticationError(
                    f"No key of provider {self.provider.name!r} may serve model {model!r} "
                    "(its keys are limited by 'models' in the config).",
                    code="no_key_for_model",
                )
            return None
        if exclude:
            keys = [k for k in keys if all(k is not e for e in exclude)] or keys
        if self._cool_until:
            now = self.clock()
            warm = [k for k in keys if self._cool_until.get(id(k), 0.0) <= now]
            if not warm:
                return min(keys, key=lambda k: self._cool_until.get(id(k), 0.0))
            keys = warm
        if len(keys) == 1:
            return keys[0]
        weights = [k.weight for k in keys]
        if not any(weights):
            return random.choice(keys)
        return random.choices(keys, weights=weights, k=1)[0]

    def has_other(self, model: str, tried: tuple[ApiKey, ...]) -> bool:
        return any(all(k is not t for t in tried) for k in self.usable(model))

    def failed(self, key: ApiKey, status: int, retry_after: float | None) -> None:
        if status in COOLING_STATUSES:
            self._cool_until[id(key)] = self.clock() + max(self.provider.key_cooldown, retry_after or 0.0)

    def cooling(self) -> list[tuple[int, float]]:
        """The keys cooling down now: their place in the provider's ``keys`` (from 0) and the seconds left."""
        now = self.clock()
        return [
            (i, round(until - now, 3))
            for i, key in enumerate(self.provider.keys)
            if (until := self._cool_until.get(id(key), 0.0)) > now
        ]

    def succeeded(self, key: ApiKey) -> None:
        if self._cool_until:
            self._cool_until.pop(id(key), None)
