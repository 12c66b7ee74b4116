"""The store hook: a request that continues a stored response gets its conversation (before), and every
answer is kept (after) unless the request said ``store: false``.

When the commit happens is the config's ``store.sync``:

- ``before_reply``: the hook awaits the commit before the reply goes out (for a stream,
  before its terminal event), so a response the client has is in the database, whatever happens to
  the process next (SQLite commits with ``synchronous=NORMAL``: an OS crash or power loss may still
  take the last commits; PostgreSQL as it is configured). The client waits for that commit: a thread
  hop and a commit with SQLite (the writes of concurrent requests committed together), a round trip
  with PostgreSQL.
- ``after_reply`` (the default): the record is made and its write started once the reply has gone out
  (in what ``after`` returns, which the door awaits at once, before the gateway reads another request:
  a read of that id queued after it finds it, ``state/pending.py``), so the client never waits for the
  database; a process killed between the two loses that record although the client has the answer. A
  response added to a conversation still starts its writes before the reply (the reply names the
  conversation).

A request in a conversation (``conversation``) has its input and output items appended to it, the
same way and whether or not it said ``store: false`` (naming a conversation asks for it to be kept), and
its response says ``conversation: {id}``.

Either way a failed write is logged, and the client has its answer anyway. An answer from the cache
is kept as a response its provider never saw (``native_chain`` off). A background response is written
by its runner, under the id the client already has.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable
from typing import Any

from ferryman.config import Config
from ferryman.gateway.conversation import Conversation
from ferryman.gateway.conversations import Conversations
from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Hook, Pending
from ferryman.gateway.router import Target
from ferryman.state.base import StoredResponse
from ferryman.state.pending import PendingWrites

log = logging.getLogger("ferryman")

BACKGROUND = "background"  # Exchange.state key: the record a background run will write when it is done


class StoreHook(Hook):
    name = "store"

    def __init__(self, config: Config, store: PendingWrites | None, conversations: Conversations | None = None) -> None:
        self.config = config
        self.store = store
        self.conversations = conversations

    async def before(self, ex: Exchange) -> None:
        req = ex.responses
        if req.store is False and req.previous_response_id is None and req.conversation is None:
            return  # nothing to load, nothing to keep (every Chat Completions request): no conversation at all
        owner = ex.owner if self.store is not None else None
        conversation = Conversation(self.config, self.store, owner, self.conversations)
        ex.conversation = conversation
        await conversation.load(ex.responses, ex.targets[0])

    def reads_output(self, ex: Exchange) -> bool:
        return ex.conversation is not None  # none: nothing to keep (``before``)

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        conversation, target = ex.conversation, ex.target
        if conversation is None or target is None or target.provider not in self.config.providers:
            return None
        queued: StoredResponse | None = ex.state.get(BACKGROUND)
        if conversation.thread is None and queued is None and self.config.store_sync != "before_reply":
            # nothing to add to the reply: the record is made and its write started once the reply is out (at once,
            # before the gateway reads another request: a read of this id that follows is queued after the write)
            return self._save_later(conversation, ex, response, target)
        writes: list[Awaitable[None]] = []
        if conversation.thread is not None and self.conversations is not None:
            response["conversation"] = {"id": conversation.thread}
            writes.append(self._append_soon(conversation, ex, response, target.provider))
        record = _record(conversation, ex, response, target)
        if record is not None and queued is not None:  # the runner writes it, under the id the client was given
            queued.provider, queued.provider_type = record.provider, record.provider_type
            queued.native_chain = False  # the provider stored it under its own id, not ours
        elif record is not None:
            writes.append(self.save_soon(record))
        if not writes:
            return None
        saved = writes[0] if len(writes) == 1 else _each(writes)
        if self.config.store_sync == "before_reply":
            await saved
            return None
        return saved

    async def _save_later(
        self, conversation: Conversation, ex: Exchange, response: dict[str, Any], target: Target
    ) -> None:
        record = _record(conversation, ex, response, target)
        if record is not None:
            await self.save_soon(record)

    def _append_soon(
        self, conversation: Conversation, ex: Exchange, response: dict[str, Any], provider: str
    ) -> Awaitable[None]:
        """Start appending the request's input and the answer's output to its conversation."""
        assert self.conversations is not None and conversation.thread is not None
        items = [*conversation.new_items(ex.responses), *(response.get("output") or [])]
        write = self.conversations.append_soon(conversation.thread, items, self.config.providers[provider].type)
        write.add_done_callback(functools.partial(_log_failed_write, "the items of conversation", conversation.thread))
        return _settled(write)

    def save_soon(self, record: StoredResponse) -> Awaitable[None]:
        """Start storing a response now; awaiting the result waits for the commit. Never raises: a
        failing store is logged, and the answer still reaches the client."""
        assert self.store is not None
        write = self.store.put_soon(record)
        write.add_done_callback(functools.partial(_log_failed_write, "response", record.id))
        return _settled(write)


def _record(
    conversation: Conversation, ex: Exchange, response: dict[str, Any], target: Target
) -> StoredResponse | None:
    """The stored record of ``response`` (None: not kept); an id the provider never saw (a cache hit, the MCP
    tool loop's) is not chained to the provider's own."""
    record = conversation.record(ex.responses, ex.raw, response, target)
    if record is None:
        return None
    if ex.answer is not None or ex.mcp is not None:
        record.native_chain = False
    sent = ex.reply_json
    if sent is not None and sent[0] is response:  # the reply's body is this response's JSON: kept as it went out
        record.response_json = sent[1]
    return record


def _log_failed_write(what: str, name: str, write: asyncio.Future[Any]) -> None:
    if not write.cancelled() and (exc := write.exception()) is not None:
        # the provider's answer is worth more than the record of it: the client has it anyway
        log.error("could not store %s %s", what, name, exc_info=exc)


async def _each(writes: list[Awaitable[None]]) -> None:
    for write in writes:
        await write


async def _settled(write: asyncio.Future[Any]) -> None:
    try:  # noqa: SIM105 - contextlib.suppress is three Python frames a request; a try is none
        await write
    except Exception:  # noqa: BLE001 - logged by _log_failed_write
        pass
