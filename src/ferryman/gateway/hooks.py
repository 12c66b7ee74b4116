"""The contract of a pipeline hook: what runs before a request is dispatched, and after its answer.

A hook subclasses ``Hook`` and overrides what it needs; the pipeline calls only what a hook overrides,
so a hook that has nothing to do on a path costs nothing there.

- ``before(ex)``: in list order, before any upstream call. It may refuse the request (raise a
  ``FerrymanError``), prepare it (load the conversation it continues), or answer it by itself (set
  ``ex.answer``: a cache hit); once a hook has answered, the later ``before`` hooks are skipped and no
  provider is called.
- ``on_event(ex, event_type)``: for a relayed stream, each event as it goes out, by its type (the
  relay reads no more of an event than its type; a hook that needs more waits for ``after``). It is
  synchronous and must be cheap: it runs on every event of every stream. Time to first token,
  event counts, per-event metrics live here. A passed-through Chat Completions stream is read only up
  to its first token and its end (``providers/openai_chat/skim.py``): the chunks between make no events.
- ``after(ex, response)``: in list order, with the final response object (a JSON reply's body, a
  stream's last event's response, an answer a hook gave) before it goes out; it may change it (the
  cost) or keep it (the store, the cache). What it returns, if anything, is awaited once the client
  has the whole reply, so work it leaves pending (the store's commit with ``store.sync: after_reply``)
  never holds the reply back; what it awaits itself (the commit with ``before_reply``) does.
- ``failed(ex, error)``: once, when the request ends in a failure instead (refused by a hook, every
  target failed, a stream broken after its first byte, an internal error); ``after`` is then not
  called. A request log, metrics and traces record failures here.

A hook runs for the Responses door only, unless its ``operations`` name other doors too (``embeddings``):
such a hook reads no more of the request than what every operation has (``ex.request.model`` and
``fallbacks``, ``ex.raw``, the credential) and of the answer no more than its ``usage``
(``gateway.usage.token_counts`` reads both shapes of it). The pipeline keeps each door's hooks apart, so
the Responses door never even looks at a hook it does not run.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr

from ferryman.gateway.exchange import EMBEDDINGS, RESPONSES, Exchange
from ferryman.schemas.errors import FerrymanError

Pending = Awaitable[None] | None
RESPONSES_ONLY = frozenset({RESPONSES})
EVERY_OPERATION = frozenset({RESPONSES, EMBEDDINGS})


@mypyc_attr(allow_interpreted_subclasses=True)  # plugins' hooks and doors are interpreted classes
class Hook:
    name: ClassVar[str] = "hook"
    # whether ``before`` needs the request's targets (``ex.targets``); a hook that does not (authentication)
    # runs before the model is routed, so a refused caller learns nothing about what is configured
    needs_targets: ClassVar[bool] = True
    # the doors whose requests it sees (``Exchange.operation``)
    operations: ClassVar[frozenset[str]] = RESPONSES_ONLY
    # its ``after`` reads no more of a response than its ``model`` and ``usage`` (the cost): on a passed-through
    # reply it runs before the reply goes out, on that head alone, and the others once it has (``UpstreamReply.later``)
    head_only: ClassVar[bool] = False
    # its ``after`` only records the response (a log, metrics, traces, a charge) and never changes it: it runs once
    # the client has the reply (in what the pipeline's ``after`` parts leave to be awaited then), so a reply never
    # waits for it
    observes: ClassVar[bool] = False

    def reads_output(self, ex: Exchange) -> bool:
        """Whether its ``after`` reads more of this exchange's response than its head (``id``, ``model``,
        ``usage``): when no hook does, a passed-through reply is never read into the canonical response."""
        return True

    async def before(self, ex: Exchange) -> None:
        return None

    def on_event(self, ex: Exchange, event_type: str | None) -> None:
        return None

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        return None

    async def failed(self, ex: Exchange, error: FerrymanError) -> None:
        return None


def overrides(hook: Hook, method: str) -> bool:
    """Whether ``hook`` does something in ``method`` (the pipeline skips the no-op defaults)."""
    return getattr(type(hook), method) is not getattr(Hook, method)
