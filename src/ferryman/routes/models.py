"""GET /v1/models and GET /v1/models/{model} (every prefix): what a client may name, in OpenAI's list shape.

The list holds the config's aliases (owned by ``ferryman``) and, for each configured provider, every model
the pricing table knows for it (``gateway/usage.py``; the mock's own few names, from its registry line),
named as a client sends them: ``provider/model``. It is built once, on the first request. With governance a
key is needed (else 401) and a virtual key sees only what its allow-list permits; the master key sees all.
A model it may not see, or that is not listed, is a 404 in OpenAI's shape.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ferryman.config import Config
from ferryman.gateway.usage import priced_models
from ferryman.http import Receive, Scope, Send, send_json
from ferryman.plugins.governance.hook import GovernanceHook, permits
from ferryman.providers.registry import PROVIDERS
from ferryman.schemas.errors import NotFoundError

OWNER = "ferryman"


class Models:
    def __init__(self, config: Config, governance: GovernanceHook | None) -> None:
        self.config = config
        self.governance = governance
        self.created = int(time.time())
        self._all: dict[str, dict[str, Any]] | None = None

    def catalogue(self) -> dict[str, dict[str, Any]]:
        """Every nameable model by id, aliases first (built once: the config and the table do not change)."""
        if self._all is None:
            found: dict[str, dict[str, Any]] = {}
            for alias in self.config.models:
                found[alias] = _entry(alias, self.created, OWNER)
            for name, provider in self.config.providers.items():
                models, created = priced_models(name, provider.type)
                spec = PROVIDERS.get(provider.type)
                for model in [*models, *(spec.models if spec is not None else ())]:
                    found.setdefault(f"{name}/{model}", _entry(f"{name}/{model}", created or self.created, name))
            self._all = found
        return self._all

    def visible(self, scope: Scope) -> list[dict[str, Any]]:
        entries = list(self.catalogue().values())
        if self.governance is None:
            return entries
        key = self.governance.authenticate(scope["headers"])
        if key is None or key.models is None:  # the master key, or a key allowed every model
            return entries
        allowed = key.models
        return [entry for entry in entries if permits(allowed, entry["id"])]

    async def list(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, msgspec.json.encode({"object": "list", "data": self.visible(scope)}))

    async def get(self, scope: Scope, receive: Receive, send: Send, model: str) -> None:
        for entry in self.visible(scope):
            if entry["id"] == model:
                await send_json(send, 200, msgspec.json.encode(entry))
                return
        raise NotFoundError(f"The model '{model}' does not exist.", param="model", code="model_not_found")


def _entry(model_id: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}
