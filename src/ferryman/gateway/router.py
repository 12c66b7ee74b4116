"""Model names -> ordered targets (primary, then fallbacks), each a provider and a deployment.

A name is a config alias (``smart``), ``provider/model`` (``openai/gpt-4o-mini``; the provider part
is a configured entry's name), or a bare name as LiteLLM clients send it (``gpt-4``), whose provider
is inferred from well-known prefixes. Names several providers serve (``llama-3.3-70b``) are never
guessed: the error says who could serve them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ferryman.config import Config
from ferryman.providers.catalog import KNOWN_PROVIDERS, infer_providers
from ferryman.schemas.errors import InvalidRequestError, NotFoundError


@dataclass(frozen=True, slots=True)
class Target:
    provider: str  # configured provider entry name
    deployment: str  # model name sent to the provider

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.deployment}"


class Router:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._cache: dict[str, Target] = {}

    def targets(self, model: str, fallbacks: list[str] | None = None) -> list[Target]:
        """The primary target, then request-level fallbacks, then the alias's own fallbacks.

        An alias that spreads load over several targets picks its primary by weight; its other
        targets follow the primary (heaviest first), before any fallback.
        """
        alias = self.config.models.get(model)
        names = self._spread(alias.targets) if alias else [model]
        names += fallbacks or []
        if alias:
            names += alias.fallbacks
        out: list[Target] = []
        for i, name in enumerate(names):
            try:
                target = self.resolve(name)
            except (NotFoundError, InvalidRequestError) as exc:
                if i == 0:
                    raise
                exc.param = "fallbacks"
                raise
            if target not in out:
                out.append(target)
        return out

    @staticmethod
    def _spread(targets: list[tuple[str, float]]) -> list[str]:
        if len(targets) == 1:
            return [targets[0][0]]
        ordered = sorted(targets, key=lambda t: -t[1])
        weights = [w for _, w in ordered]
        first = random.choices(range(len(ordered)), weights=weights, k=1)[0] if any(weights) else 0
        return [ordered[first][0]] + [name for i, (name, _) in enumerate(ordered) if i != first]

    def resolve(self, name: str) -> Target:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        target = self._resolve(name)
        if len(self._cache) < 10_000:
            self._cache[name] = target
        return target

    def _resolve(self, name: str) -> Target:
        providers = self.config.providers
        alias = self.config.models.get(name)
        if alias is not None:
            return self._resolve(alias.target)
        head, sep, rest = name.partition("/")
        if sep and rest:
            if head in providers:
                return Target(head, rest)
            if head in KNOWN_PROVIDERS:
                raise self._not_configured(head, name)
        candidates, ambiguous = infer_providers(name)
        configured = [c for c in candidates if c in providers]
        if ambiguous:
            if len(configured) == 1:
                return Target(configured[0], name)
            raise InvalidRequestError(
                f"The model name {name!r} is ambiguous: it could be served by "
                f"{', '.join(configured or candidates)}. Name the provider, e.g. "
                f"'{(configured or candidates)[0]}/{name}'.",
                param="model",
                code="ambiguous_model",
            )
        if configured:
            return Target(configured[0], name)
        if candidates:
            raise self._not_configured(candidates[0], name)
        if sep and rest:
            raise NotFoundError(
                f"Unknown provider {head!r} in model {name!r}. {self._known()}",
                param="model",
                code="provider_not_found",
            )
        raise NotFoundError(
            f"Unknown model {name!r}: it is not an alias and no provider could be inferred from it. "
            f"Use 'provider/model'. {self._known()}",
            param="model",
            code="model_not_found",
        )

    def _not_configured(self, provider: str, name: str) -> InvalidRequestError:
        known = KNOWN_PROVIDERS[provider]
        how = f"set {known.key_env} or add it to the config" if known.key_env else "add it under 'providers'"
        if known.builtin:
            how = f"the config turns it off ('enabled: false' under 'providers.{provider}')"
        return InvalidRequestError(
            f"The model {name!r} needs provider {provider!r}, which is not configured: {how}. {self._known()}",
            param="model",
            code="provider_not_configured",
        )

    def _known(self) -> str:
        providers = ", ".join(sorted(self.config.providers)) or "none"
        aliases = ", ".join(sorted(self.config.models)) or "none"
        return f"Configured providers: {providers}. Model aliases: {aliases}."
