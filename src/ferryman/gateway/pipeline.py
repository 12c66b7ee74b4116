"""The request pipeline every front door uses: hooks before, dispatch, hooks after.

A door parses its wire format into an ``Exchange`` (``exchange``) and then asks for one of three
things: an answer (``create``), an open stream (``stream``) or a background run (``background``).
Each runs the hooks' ``before`` parts in order (the stored conversation, the cache, ...; one of them
may answer by itself), calls the targets through the dispatcher (retries, fallbacks, keys, limits),
and runs the hooks' ``after`` parts on the final response (cost, store, cache). What the ``after``
parts hand back is awaited by the door once its reply has gone out.

The core owns what every request needs whatever the hooks: routing to targets, the per-target shape
of a continued conversation, ``truncation: "auto"`` (drop the oldest turns while the prompt is too
long), and, for streams, the resumer that continues a broken stream on the next target.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from ferryman.config import Config
from ferryman.gateway.background import BackgroundRunner
from ferryman.gateway.conversation import Conversation
from ferryman.gateway.dispatch import Dispatcher, Shape
from ferryman.gateway.exchange import EMBEDDINGS, RESPONSES, Exchange, Headers
from ferryman.gateway.hooks import Hook, Pending, overrides
from ferryman.gateway.resume import OpenNext, Resumer
from ferryman.gateway.router import Router, Target
from ferryman.gateway.storing import BACKGROUND
from ferryman.gateway.usage import context_window
from ferryman.ids import new_id
from ferryman.providers.base import EventStream
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import FerrymanError, InvalidRequestError, is_context_overflow
from ferryman.schemas.items import input_list
from ferryman.schemas.responses import ResponsesRequest
from ferryman.state.pending import PendingWrites

if TYPE_CHECKING:
    from ferryman.gateway.toolloop import McpRun, ToolLoop
    from ferryman.mcp.client import McpClient
    from ferryman.providers.native import Tee

log = logging.getLogger("ferryman")


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class OpenStream:
    """An upstream stream that has started, and what the relay calls at its end."""

    events: EventStream
    resumer: Resumer | None
    finalize: Callable[[dict[str, Any], int], dict[str, Any]]  # (final response, chunk index) -> event extras
    on_final: Callable[[dict[str, Any]], Awaitable[Pending]]  # the after hooks, on the final response
    on_event: Callable[[str | None], None] | None  # the on_event hooks, by event type; None when there are none
    on_failed: Callable[[FerrymanError], Awaitable[None]]  # the failed hooks, for a stream broken after its start

    def __init__(
        self,
        events: EventStream,
        resumer: Resumer | None,
        finalize: Callable[[dict[str, Any], int], dict[str, Any]],
        on_final: Callable[[dict[str, Any]], Awaitable[Pending]],
        on_event: Callable[[str | None], None] | None,
        on_failed: Callable[[FerrymanError], Awaitable[None]],
    ) -> None:
        self.events = events
        self.resumer = resumer
        self.finalize = finalize
        self.on_final = on_final
        self.on_event = on_event
        self.on_failed = on_failed


PARTS = ("before", "on_event", "after", "failed")  # a hook's parts, in the order of Hook's
OPERATIONS = (RESPONSES, EMBEDDINGS)


class Pipeline:
    def __init__(
        self,
        config: Config,
        router: Router,
        dispatcher: Dispatcher,
        hooks: Sequence[Hook],
        store: PendingWrites | None,
        background: BackgroundRunner,
    ) -> None:
        self.config = config
        self.router = router
        self.dispatcher = dispatcher
        self.store = store
        self.background_runner = background
        self.hooks: list[Hook] = []
        # each operation's hooks, by part (a hook is in an operation's lists when its ``operations`` name it)
        self._parts: dict[str, dict[str, list[Hook]]] = {op: {part: [] for part in PARTS} for op in OPERATIONS}
        responses, embeddings = self._parts[RESPONSES], self._parts[EMBEDDINGS]
        self._before, self._events, self._after, self._failed = (responses[part] for part in PARTS)
        self._embeddings_before, self._embeddings_after = embeddings["before"], embeddings["after"]
        # a passed-through reply's after hooks: those that read only its head run before the reply, the rest after
        self._head: list[Hook] = []
        self._tail: list[Hook] = []
        self._tool_loop: ToolLoop | None = None  # made on the first request with an ``mcp`` tool
        self.mcp_client: McpClient | None = None  # the gateway's, when its config has MCP servers
        for hook in hooks:
            self.add(hook)

    def add(self, hook: Hook) -> None:
        """Append a hook (its parts run after those of the hooks already there)."""
        self.hooks.append(hook)
        for operation, parts in self._parts.items():
            if operation in hook.operations:
                for part, hooks in parts.items():
                    if overrides(hook, part):
                        hooks.append(hook)
        if overrides(hook, "after") and RESPONSES in hook.operations:
            (self._head if hook.head_only else self._tail).append(hook)

    # ---- what a door asks for -------------------------------------------------------------------

    def exchange(
        self,
        request: ResponsesRequest,
        raw: dict[str, Any],
        headers: Headers,
        *,
        credential: str | None,
        send_back_raw: bool = False,
        timeout: float | None = None,
        drop_unsupported: bool | None = None,
    ) -> Exchange:
        """The exchange for a parsed request; its model is routed in ``prepare``, after the hooks that do not
        need its targets (authentication), so an unknown model is a 404 only for a caller who may ask.
        ``drop_unsupported`` (the request's own, from its header) wins over its model alias's
        ``compat``, which wins over the config's."""
        ex = Exchange(
            request,
            raw,
            headers,
            credential=credential,
            stream=request.stream,
            send_back_raw=send_back_raw or self.config.send_back_raw,
            timeout=timeout,
        )
        if drop_unsupported is None:
            alias = self.config.models.get(request.model)
            compat = alias.compat if alias is not None and alias.compat is not None else self.config.compat
            drop_unsupported = compat.drop_unsupported
        ex.compat.drop_unsupported = drop_unsupported
        tools = request.tools
        if tools is not None:
            ex.mcp_tools = any(t.type == "mcp" for t in tools)
        return ex

    def embeddings_exchange(
        self,
        request: EmbeddingsRequest,
        raw: dict[str, Any],
        headers: Headers,
        *,
        credential: str | None,
        send_back_raw: bool = False,
        timeout: float | None = None,
    ) -> Exchange:
        """The exchange of an embeddings request: its hooks are those whose ``operations`` name embeddings."""
        return Exchange(
            request,
            raw,
            headers,
            credential=credential,
            stream=False,
            send_back_raw=send_back_raw or self.config.send_back_raw,
            timeout=timeout,
            operation=EMBEDDINGS,
            route=EMBEDDINGS,
        )

    async def embed(self, ex: Exchange) -> tuple[dict[str, Any], Pending]:
        """An embeddings answer: its hooks before, the targets (keys, retries, fallbacks), its hooks after."""
        await self._prepare(ex, self._embeddings_before)
        req: EmbeddingsRequest = ex.request  # type: ignore[assignment]  # an embeddings exchange's
        try:
            reply, ex.target = await self.dispatcher.embed(req, ex.raw, ex.targets, ex.attempts, ex.timeout, ex.compat)
        except FerrymanError as exc:
            exc.ferryman_attempts = ex.attempts  # type: ignore[attr-defined]
            raise
        ex.sent, ex.raw_response = reply.sent, reply.raw
        response = reply.body
        response["extra_fields"] = ex.extra_fields()
        return response, await self._finish(ex, response, self._embeddings_after)

    async def prepare(self, ex: Exchange) -> None:
        """The hooks' ``before`` parts, in order, until one answers (``ex.answer``); the model is routed to its
        targets before the first hook that needs them (and in any case before dispatch)."""
        await self._prepare(ex, self._before)

    async def _prepare(self, ex: Exchange, before: list[Hook]) -> None:
        for hook in before:
            if hook.needs_targets and not ex.targets:
                ex.targets = self.router.targets(ex.request.model, ex.request.fallbacks)
            await hook.before(ex)
            if ex.answer is not None:
                return
        if not ex.targets:
            ex.targets = self.router.targets(ex.request.model, ex.request.fallbacks)

    async def finish(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        """The hooks' ``after`` parts on the final response; one awaitable for what they left pending."""
        return await self._finish(ex, response, self._after)

    async def _finish(self, ex: Exchange, response: dict[str, Any], after: list[Hook]) -> Pending:
        """``after``'s hooks on ``response``: those that may change it now, in order; those that only record it
        (``Hook.observes``) in what is returned, which the door awaits once the client has its reply."""
        pending: list[Awaitable[None]] = []
        observers: list[Hook] | None = None
        for hook in after:
            if hook.observes:
                if observers is None:
                    observers = []
                observers.append(hook)
                continue
            later = await hook.after(ex, response)
            if later is not None:
                pending.append(later)
        if observers is not None:
            return _observed(ex, response, observers, pending)
        if not pending:
            return None
        return pending[0] if len(pending) == 1 else _all(pending)

    async def fail(self, ex: Exchange, error: FerrymanError) -> None:
        """The hooks' ``failed`` parts, once, for a request that ends in ``error``; a hook that fails here is
        logged and the others still run (the client gets the request's own error either way)."""
        if ex.failure is not None:
            return
        ex.failure = error
        for hook in self._parts[ex.operation]["failed"]:
            try:
                await hook.failed(ex, error)
            except Exception:  # noqa: BLE001 - recording a failure must not hide it
                log.exception("hook %s failed on a failed request", hook.name)

    async def create(self, ex: Exchange) -> tuple[dict[str, Any], Pending]:
        """A whole answer (from a hook or a provider), finished by the after hooks. A passed-through reply whose
        canonical response is read later (``ex.read_later``) is only its head here, priced by the hooks that
        read no more (``Hook.head_only``); the door calls ``after_reply`` once its reply has gone out."""
        response = ex.answer if ex.answer is not None else await self._create(ex, ex.responses, ex.raw, later=True)
        response["extra_fields"] = ex.extra_fields()
        if ex.read_later is not None:
            for hook in self._head:
                await hook.after(ex, response)
            return response, None
        return response, await self.finish(ex, response)

    async def after_reply(self, ex: Exchange, head: dict[str, Any]) -> Pending:
        """A passed-through reply, sent: its canonical response read (with the head's priced ``usage`` and
        ``extra_fields``) and given to the other after hooks; only the head when none of them reads more
        (``Hook.reads_output``). A reply its adapter cannot read after all (its client has it) is logged, and
        the hooks get the head."""
        read = ex.read_later
        assert read is not None
        ex.read_later = None
        tail = self._tail
        if not tail:
            return None
        response: dict[str, Any] | None = None
        if any(hook.reads_output(ex) for hook in tail):
            try:
                response = read()
            except FerrymanError as exc:
                log.warning("the reply of %s could not be read for the hooks: %s", ex.target, exc.message)
            else:
                response["usage"], response["extra_fields"] = head["usage"], head["extra_fields"]
        if response is None:  # (the canonical response's id is made by its reader, as this one)
            response = {**head, "id": new_id("resp"), "output": []}
        return await self._finish(ex, response, tail)

    async def stream(self, ex: Exchange) -> OpenStream:
        """A provider's stream, open (its status checked: a failure up to here could still fall back)."""
        run = self._mcp_run(ex)
        events: EventStream = await (
            run.open() if run is not None else self._dispatch(ex, ex.responses, ex.raw, stream=True)
        )
        served = ex.target
        assert served is not None
        ex.sent = events.sent
        resumer = None
        rest = ex.targets[ex.targets.index(served) + 1 :]
        # a passthrough is relayed, not rebuilt; the MCP loop's turns are its own
        if self.config.stream_resume and rest and events.tee is None and run is None:
            resumer = Resumer(self._continuation(ex, rest), served)

        def finalize(response: dict[str, Any], index: int) -> dict[str, Any]:
            if resumer is not None and resumer.resumed:
                ex.target = resumer.served_by
                ex.resumed = resumer.resumed
            response["extra_fields"] = ex.extra_fields()
            return {"chunk_index": index, **ex.extra_fields(with_raw=False)}

        tee = events.tee
        return OpenStream(
            events,
            resumer,
            finalize,
            (lambda response: self.finish(ex, response)) if tee is None else partial(self._teed_final, ex, tee),
            self._watch(ex),
            lambda error: self.fail(ex, error),
        )

    async def _teed_final(self, ex: Exchange, tee: Tee, response: dict[str, Any]) -> Pending:
        """A passed-through stream's end: the after hooks on its final response, or, when the tee has only its
        head (``Tee.later``), the hooks that read no more (the cost) now, before the client has the end, and
        the others once it has, as for a passed-through reply (``after_reply``)."""
        if tee.later is None:
            return await self.finish(ex, response)
        ex.read_later, ex.native_stream = tee.later, tee.unread
        for hook in self._head:
            await hook.after(ex, response)
        return self._after_stream(ex, response)

    async def _after_stream(self, ex: Exchange, head: dict[str, Any]) -> None:
        try:
            pending = await self.after_reply(ex, head)
            if pending is not None:
                await pending
        except Exception:  # the client has its stream: a hook that fails now is logged, not answered
            log.exception("an after hook failed on a stream already sent")

    def _watch(self, ex: Exchange) -> Callable[[str | None], None] | None:
        watchers = self._events
        if not watchers:
            return None
        if len(watchers) == 1:
            hook = watchers[0]
            return lambda event_type: hook.on_event(ex, event_type)

        def each(event_type: str | None) -> None:
            for hook in watchers:
                hook.on_event(ex, event_type)

        return each

    async def background(self, ex: Exchange) -> dict[str, Any]:
        """Stored as ``queued`` and returned at once; a gateway task calls the provider and stores the result."""
        req = ex.responses
        if req.stream:
            raise InvalidRequestError(
                "'background' with 'stream' is not supported: poll GET /v1/responses/{id} or replay it "
                "with ?stream=true once it is done.",
                param="stream",
                code="unsupported_parameter",
            )
        if req.store is False or self.store is None:
            raise InvalidRequestError(
                "'background' needs the response to be stored: set store to true (and configure a store).",
                param="background",
                code="invalid_value",
            )
        conversation = ex.conversation or Conversation(self.config, self.store, ex.owner)
        skeleton = self.background_runner.skeleton(ex.raw)
        record = conversation.record(req, ex.raw, skeleton, ex.targets[0])
        assert record is not None
        record.status = "queued"
        await self.store.put(record)
        ex.state[BACKGROUND] = record
        raw = {k: v for k, v in ex.raw.items() if k != "background"}
        run = msgspec.structs.replace(req, background=None)

        async def work() -> dict[str, Any]:
            try:
                response = await self._create(ex, run, raw)
            except FerrymanError as exc:
                await self.fail(ex, exc)
                raise
            response["extra_fields"] = ex.extra_fields()
            pending = await self.finish(ex, {**response, "id": record.id})
            if pending is not None:
                await pending
            return response

        self.background_runner.launch(record, work)
        return skeleton

    # ---- dispatch -------------------------------------------------------------------------------

    def _mcp_run(self, ex: Exchange) -> McpRun | None:
        """The MCP tool loop of a request with ``mcp`` tools (None: none, or its provider runs them itself)."""
        if not ex.mcp_tools:
            return None
        if self._tool_loop is None:
            from ferryman.gateway.toolloop import ToolLoop  # MCP only for a request that uses it

            self._tool_loop = ToolLoop(self.config, self.mcp_client)
        return self._tool_loop.run(ex, self._dispatch)

    async def _create(
        self, ex: Exchange, req: ResponsesRequest, raw: dict[str, Any], *, later: bool = False
    ) -> dict[str, Any]:
        """The provider's answer; with ``later``, a passed-through reply's head (``UpstreamReply.later``)."""
        run = self._mcp_run(ex)
        if run is not None:
            return await run.create()
        reply = await self._dispatch(ex, req, raw, stream=False)
        ex.sent, ex.raw_response, ex.native_reply = reply.sent, reply.raw, reply.native
        response: dict[str, Any] = reply.body
        if reply.later is not None:
            if later:
                ex.read_later = reply.later
            else:
                response = reply.later()
        return response

    async def _dispatch(
        self,
        ex: Exchange,
        req: ResponsesRequest,
        raw: dict[str, Any],
        *,
        stream: bool,
        rewrite: Callable[[ResponsesRequest, dict[str, Any]], tuple[ResponsesRequest, dict[str, Any]]] | None = None,
    ) -> Any:
        """Call the targets; with truncation "auto", drop the oldest turns while the prompt is too long.
        ``rewrite`` reshapes each target's request after its history is replayed (the MCP tool loop's)."""
        run = self.dispatcher.open_stream if stream else self.dispatcher.create
        conversation = ex.conversation
        replays = conversation is not None and conversation.replays
        shape: Shape | None = conversation.shape if conversation is not None and replays else None
        if rewrite is not None:
            shape = _rewritten(shape, rewrite)
        truncating = req.truncation == "auto" and replays
        if truncating:
            self._fit_context(ex)
        while True:
            try:
                result, ex.target = await run(req, raw, ex.targets, ex.attempts, ex.timeout, shape, ex.compat)
                return result
            except FerrymanError as exc:
                if truncating and is_context_overflow(exc) and conversation is not None and conversation.drop_oldest():
                    continue
                exc.ferryman_attempts = ex.attempts  # type: ignore[attr-defined]
                raise

    def _fit_context(self, ex: Exchange) -> None:
        first = ex.targets[0]
        provider = self.config.providers[first.provider]
        window = context_window(provider.name, provider.type, first.deployment)
        if window and ex.conversation is not None:
            ex.conversation.fit(ex.raw, window, reserve=ex.responses.max_output_tokens or 4096)

    def _continuation(self, ex: Exchange, targets: list[Target]) -> OpenNext:
        """How a broken stream goes on: the same request, the text so far as an assistant prefix."""
        conversation = ex.conversation
        shape: Shape | None = conversation.shape if conversation is not None and conversation.replays else None

        async def open_next(prefix: str) -> tuple[EventStream, Target] | None:
            items = input_list(ex.raw.get("input"))
            if prefix:
                items.append(
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": prefix}]}
                )
            raw = {**ex.raw, "input": items, "stream": True}
            raw.pop("fallbacks", None)
            req = msgspec.convert(raw, ResponsesRequest)
            try:
                return await self.dispatcher.open_stream(req, raw, targets, ex.attempts, ex.timeout, shape, ex.compat)
            except FerrymanError:
                return None

        return open_next


def _rewritten(
    shape: Shape | None, rewrite: Callable[[ResponsesRequest, dict[str, Any]], tuple[ResponsesRequest, dict[str, Any]]]
) -> Shape:
    def shaped(target: Target, req: ResponsesRequest, raw: dict[str, Any]) -> tuple[ResponsesRequest, dict[str, Any]]:
        return rewrite(*(shape(target, req, raw) if shape is not None else (req, raw)))

    return shaped


async def _observed(
    ex: Exchange, response: dict[str, Any], observers: list[Hook], pending: list[Awaitable[None]]
) -> None:
    """Once the client has its reply: the hooks that only record it, in order (at once, before anything left
    pending is awaited: a request that follows sees their counts), then what was left pending. A hook that
    fails now is logged: the client has its answer."""
    for hook in observers:
        try:
            later = await hook.after(ex, response)
        except Exception:  # noqa: BLE001 - the reply is out
            log.exception("hook %s failed on a reply already sent", hook.name)
            continue
        if later is not None:
            pending.append(later)
    await _all(pending)


async def _all(pending: list[Awaitable[None]]) -> None:
    for later in pending:
        await later
