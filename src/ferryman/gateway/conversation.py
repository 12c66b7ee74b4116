"""Stored conversations: ``previous_response_id`` for every provider, and ``store`` after a reply.

OpenAI keeps conversations; other providers do not. Ferryman keeps them itself: for a request that
continues a stored response it rebuilds the history (each earlier turn's input items and output
items, oldest first; instructions are not carried over, as OpenAI documents) and sends it to the
provider in full. An OpenAI-native target whose provider already holds the previous response (it
served it with ``store`` on) gets the request as is and uses its own chain.

A request in a conversation (``conversation``, the Conversations API's, kept by Ferryman in
``gateway/conversations.py``) is shaped the same way: the conversation's items, oldest first, before its
input, whatever the target (no provider hears of the conversation itself); its turns, for truncation,
begin at each user message.

A ``previous_response_id`` this client may not read (someone else's, deleted, or never seen) is a 404,
and no provider hears of it. Only with ``forward_unknown_response_ids`` does an id Ferryman never saw
(neither stored nor deleted) go as is to an OpenAI-native first target, with the gateway's key: one
OpenAI stored before Ferryman was in the path.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ferryman.config import Config, ProviderConfig
from ferryman.gateway.conversations import Conversations
from ferryman.gateway.router import Target
from ferryman.ids import new_id
from ferryman.providers.registry import PROVIDERS
from ferryman.schemas.errors import InvalidRequestError, NotFoundError
from ferryman.schemas.items import input_list
from ferryman.schemas.responses import ResponsesRequest
from ferryman.state.base import StoredResponse
from ferryman.state.conversations import StoredItem
from ferryman.state.pending import PendingWrites

_GATEWAY_ONLY = ("fallbacks", "input", "stream")
_REPLAYED = ("previous_response_id", "conversation")  # what the replayed history stands for
# one turn of the past: its items, each with the provider type it came from (None: as a client gave it)
Turn = list[tuple[dict[str, Any], str | None]]


def native_type(provider_type: str) -> bool:
    """Whether a provider type speaks the Responses API natively: it takes output items back as input
    as they are, and keeps its own conversations (the registry's ``native_responses``)."""
    spec = PROVIDERS.get(provider_type)
    return spec is not None and spec.native_responses


def speaks_responses(provider: ProviderConfig, model: str) -> bool:
    """Whether this target takes the Responses API natively (an Azure ``chat:`` deployment does not)."""
    return native_type(provider.type) and provider.speaks_responses(model)


class Conversation:
    """One request's view of its stored past, shaping the request for each target."""

    def __init__(
        self,
        config: Config,
        store: PendingWrites | None,
        owner: str | None,
        conversations: Conversations | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.owner = owner
        self.conversations = conversations
        self.chain: list[StoredResponse] = []
        self.thread: str | None = None  # the id of the conversation (Conversations API) the request is in
        self.turns: list[Turn] = []
        self._histories: dict[bool, list[dict[str, Any]]] = {}
        self._new_items: list[dict[str, Any]] | None = None
        self.dropped = 0  # oldest turns left out by truncation "auto"

    @property
    def replays(self) -> bool:
        """Whether the request goes out with a history before its input (and without what names it)."""
        return bool(self.turns) or self.thread is not None

    async def load(self, req: ResponsesRequest, first_target: Target) -> None:
        if req.conversation is not None:
            await self._load_thread(req.conversation if isinstance(req.conversation, str) else req.conversation.id)
            return
        prev = req.previous_response_id
        if not prev:
            return
        # someone else's record reads as none (after the same wait), so the 404s cannot be told apart
        chain = await self.store.chain_owned(prev, self.owner) if self.store is not None else []
        if not chain and not await self._forwardable(prev, first_target):
            raise NotFoundError(
                f"Previous response with id '{prev}' not found.", param="previous_response_id", code="not_found"
            )
        self.chain = _without_cycles(chain)
        self.turns = [
            [(item, r.provider_type) for item in (*r.input_items, *r.response.get("output", []))] for r in self.chain
        ]

    async def _load_thread(self, conversation_id: str) -> None:
        if self.conversations is None:
            raise InvalidRequestError(
                "'conversation' needs a store to keep conversations in: configure one (store: in the config).",
                param="conversation",
                code="store_not_configured",
            )
        await self.conversations.get(conversation_id, self.owner, param="conversation")
        self.thread = conversation_id
        self.turns = _user_turns(await self.conversations.items(conversation_id))

    async def _forwardable(self, prev: str, first_target: Target) -> bool:
        """Whether an id with nothing readable here goes to the provider as is: only when configured, to
        an OpenAI-native first target, and never one Ferryman has seen (another owner's, or deleted)."""
        first = self.config.providers[first_target.provider]
        if not self.config.forward_unknown_response_ids or not speaks_responses(first, first_target.deployment):
            return False
        return self.store is None or not await self.store.seen(prev)

    def shape(
        self, target: Target, req: ResponsesRequest, raw: dict[str, Any]
    ) -> tuple[ResponsesRequest, dict[str, Any]]:
        """The request as ``target`` should get it: as sent, or with the history replayed."""
        if not self.replays:
            return req, raw
        if self.chain:
            last = self.chain[-1]
            if last.native_chain and last.provider == target.provider and not self.dropped:
                return req, raw  # the provider holds the chain itself (and truncates it itself)
        native = speaks_responses(self.config.providers[target.provider], target.deployment)
        raw2 = {k: v for k, v in raw.items() if k not in _REPLAYED}
        raw2["input"] = self._history(native) + input_list(raw.get("input"))
        return msgspec.convert(raw2, ResponsesRequest), raw2

    def _history(self, native: bool) -> list[dict[str, Any]]:
        """Earlier turns' items, oldest first, fit for a native target or not."""
        history = self._histories.get(native)
        if history is None:
            history = []
            for turn in self.turns[self.dropped :]:
                for item, origin in turn:
                    if native and origin is not None and not native_type(origin):
                        if item.get("type") == "reasoning":
                            continue  # another provider's thinking: OpenAI cannot take it
                        item = {k: v for k, v in item.items() if k not in ("id", "status")}
                    history.append(item)
            self._histories[native] = history
        return history

    def new_items(self, req: ResponsesRequest) -> list[dict[str, Any]]:
        """The request's own input items, each with an id (made once, so its stored response and its
        conversation name them alike)."""
        if self._new_items is None:
            self._new_items = [dict(item, id=item.get("id") or new_id("msg")) for item in input_list(req.input)]
        return self._new_items

    # ---- truncation "auto" -----------------------------------------------------------------------

    def drop_oldest(self) -> bool:
        """Leave out the oldest stored turn; False when none is left to drop."""
        if self.dropped >= len(self.turns):
            return False
        self.dropped += 1
        self._histories.clear()
        return True

    def fit(self, raw: dict[str, Any], context_window: int, reserve: int) -> None:
        """Drop the oldest turns until the estimated prompt fits the model's context window.

        The estimate is deliberately generous (3 characters a token); a provider that still finds
        the prompt too long answers with a context-length error, and the caller drops more.
        """
        budget = context_window - reserve
        fixed = _chars(raw.get("instructions")) + _chars(raw.get("input")) + _chars(raw.get("tools"))
        turns = [_chars([item for item, _ in turn]) for turn in self.turns]
        while self.dropped < len(turns) and (fixed + sum(turns[self.dropped :])) / 3 > budget:
            self.drop_oldest()

    def record(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        response: dict[str, Any],
        target: Target,
    ) -> StoredResponse | None:
        """The record to keep for this reply, or None when the request said ``store: false``."""
        if req.store is False or self.store is None or not isinstance(response.get("id"), str):
            return None
        provider = self.config.providers[target.provider]
        items = self.new_items(req)
        return StoredResponse(
            id=response["id"],
            owner=self.owner,
            created_at=int(response.get("created_at") or time.time()),
            previous_response_id=req.previous_response_id,
            provider=provider.name,
            provider_type=provider.type,
            native_chain=speaks_responses(provider, target.deployment),
            status=str(response.get("status") or "completed"),
            request={k: v for k, v in raw.items() if k not in _GATEWAY_ONLY},
            input_items=items,
            response=response,
        )


def _user_turns(items: list[StoredItem]) -> list[Turn]:
    """A conversation's items as turns, each beginning at a user message (what truncation drops whole)."""
    turns: list[Turn] = []
    for stored in items:
        item = stored.item
        if not turns or (item.get("type") == "message" and item.get("role") == "user" and turns[-1]):
            turns.append([])
        turns[-1].append((item, stored.origin))
    return turns


def _without_cycles(chain: list[StoredResponse]) -> list[StoredResponse]:
    """The chain back from its newest record up to the first id seen twice (a corrupt loop)."""
    seen: set[str] = set()
    kept: list[StoredResponse] = []
    for record in reversed(chain):
        if record.id in seen:
            break
        seen.add(record.id)
        kept.append(record)
    kept.reverse()
    return kept


def _chars(value: Any) -> int:
    return len(msgspec.json.encode(value)) if value else 0
