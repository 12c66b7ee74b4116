"""AWS Bedrock Runtime, Converse API, translated to and from the Responses API.

``POST {base_url}/model/{modelId}/converse`` (``/converse-stream`` for a stream), where the base URL
defaults to ``https://bedrock-runtime.{region}.amazonaws.com`` and the region comes from the config
entry's ``region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else us-east-1. The model id is
URL-quoted as the AWS SDKs quote it (``us.amazon.nova-micro-v1%3A0``, ARNs with ``%2F``) and sent
exactly so, which is also the path the request is signed over.

Authentication: a configured key is a Bedrock API key, sent as ``authorization: Bearer``. Without
one each request is SigV4-signed by botocore, with the entry's ``aws_access_key_id`` /
``aws_secret_access_key`` / ``aws_session_token``, else the AWS credential chain (environment,
shared config, SSO, container and instance roles). The chain is resolved in a worker thread at
start-up (it may do network I/O), and refreshable credentials are refreshed in a worker thread
before they expire, so the event loop never blocks on them.

``request.py`` builds the Converse body (its docstring holds the field table and what is refused),
``response.py`` reads a reply or the stream's events back through the shared ResponseBuilder.
ConverseStream answers with ``application/vnd.amazon.eventstream`` binary frames; they are decoded
here with botocore's EventStreamBuffer. An exception frame as the stream's first frame (throttling
before any output) is read before the stream is handed on, so it is a plain HTTP error the
dispatcher can retry or fall back from; later it becomes an ``error`` event and ``response.failed``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import yarl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from botocore.session import get_session

from ferryman.client import UpstreamResponse
from ferryman.providers.base import Call, EventStream, SSEEvent, describe, kept_headers
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.paths import path_segment
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import (
    AuthenticationError,
    ProviderError,
    UpstreamConnectionError,
    provider_error_from_body,
)
from ferryman.scrub import SECRETS

from .config import BedrockConfig
from .request import HINTS, TAG, native_request
from .response import END, EXCEPTION, ConverseReader, event_payload, stream_exception

__all__ = ["HINTS", "TAG", "BedrockProvider"]

DEFAULT_REGION = "us-east-1"
SERVICE = "bedrock"  # the SigV4 signing name of bedrock-runtime
_ERROR_HEADERS = ("x-amzn-errortype", "x-amzn-requestid")


class BedrockProvider(TranslatingProvider):
    config: BedrockConfig

    def __init__(self, config: BedrockConfig) -> None:
        super().__init__(config)
        self.region = (
            config.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        )
        self.base_url = (config.base_url or f"https://bedrock-runtime.{self.region}.amazonaws.com").rstrip("/")
        self._credentials: Any = _static_credentials(config)  # botocore Credentials, or None until resolved
        self._chain_tried = False

    async def start(self) -> None:
        await super().start()
        if self._credentials is None and not any(k.secret.is_set for k in self.config.keys):
            # no API key and no explicit credentials: the AWS chain, which may read files or call IMDS
            self._credentials = await asyncio.to_thread(_chain_credentials)
            self._chain_tried = True
            await asyncio.to_thread(self._hide_credentials)

    # ---- what TranslatingProvider asks for ------------------------------------------------------

    def url(self, call: Call, *, stream: bool) -> str:
        action = "converse-stream" if stream else "converse"
        return f"{self.base_url}/model/{path_segment(call.deployment)}/{action}"

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        return native_request(call.request, call.raw, self.name, call.deployment, call.dropping)

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        ConverseReader(builder, self.name).reply(body)

    def translator(self, builder: ResponseBuilder) -> ConverseReader:
        return ConverseReader(builder, self.name)

    async def stream_events(self, resp: UpstreamResponse) -> AsyncIterator[SSEEvent]:
        """The eventstream frames as events: ``:event-type`` named, exceptions as ``exception:<type>``."""
        buffer = EventStreamBuffer()
        async for chunk in resp.content.iter_any():
            buffer.add_data(chunk)
            try:
                messages = list(buffer)
            except ParserError as exc:
                raise UpstreamConnectionError(
                    f"{self.name}: the provider sent a corrupt event stream ({describe(exc)})",
                    code="upstream_bad_response",
                ) from None
            for message in messages:
                yield _frame(message)
        yield SSEEvent(END, b"")

    # ---- authentication -------------------------------------------------------------------------

    async def _send(self, call: Call, *, stream: bool) -> tuple[UpstreamResponse, dict[str, Any]]:
        if not _key(call) and "authorization" not in {h.lower() for h in self.config.headers}:
            await self._fresh_credentials()
        return await super()._send(call, stream=stream)

    async def signed_headers(self, url: str, body: bytes, call: Call) -> dict[str, str]:
        """The headers of a call outside Converse (InvokeModel), authenticated as Converse's are."""
        if not _key(call) and "authorization" not in {h.lower() for h in self.config.headers}:
            await self._fresh_credentials()
        return self.sign(url, body, self.headers(call), call)

    async def _fresh_credentials(self) -> None:
        """Resolve or refresh the AWS credentials off the event loop, so sign() never does I/O."""
        creds = self._credentials
        if creds is None:
            if self._chain_tried:
                return  # the chain found nothing; sign() says so rather than search it on every request
            self._chain_tried = True
            self._credentials = await asyncio.to_thread(_chain_credentials)
        elif getattr(creds, "refresh_needed", None) is not None and creds.refresh_needed():
            await asyncio.to_thread(creds.get_frozen_credentials)
        else:
            return
        await asyncio.to_thread(self._hide_credentials)

    def _hide_credentials(self) -> None:
        """The chain's credentials (they rotate) are scrubbed as configured ones are (blocking: a refresh may run)."""
        frozen = self._credentials.get_frozen_credentials() if self._credentials is not None else None
        if frozen is not None:
            SECRETS.rotate(f"aws:{id(self)}", [frozen.secret_key, frozen.token])

    def sign(self, url: str, body: bytes, headers: dict[str, str], call: Call) -> dict[str, str]:
        if any(name.lower() == "authorization" for name in headers):
            return headers  # a Bedrock API key (bearer), or an authorization header from the config
        frozen: ReadOnlyCredentials | None = (
            self._credentials.get_frozen_credentials() if self._credentials is not None else None
        )
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise AuthenticationError(
                f"provider {self.name!r} has no credentials for model {call.deployment!r}: set a Bedrock API key"
                " (AWS_BEARER_TOKEN_BEDROCK or a key in its config entry), aws_access_key_id and"
                " aws_secret_access_key in its config entry, or AWS credentials the AWS SDKs find",
                code="missing_api_key",
            )
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(frozen, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())

    # ---- HTTP: the path sent as quoted, and Bedrock's error shape -------------------------------

    async def post(
        self, url: str | yarl.URL, body: bytes, headers: dict[str, str], call: Call, *, stream: bool
    ) -> UpstreamResponse:
        """Send the URL exactly as signed: parsed as not yet encoded, ``%3A`` in the model id would turn back
        into ``:``, and the wire path would no longer be the signed one."""
        target = url if isinstance(url, yarl.URL) else yarl.URL(url, encoded=True)
        return await super().post(target, body, headers, call, stream=stream)

    def http_error(self, resp: UpstreamResponse, payload: bytes) -> ProviderError:
        """``{"message": ...}`` (or ``Message``) with the exception name in ``x-amzn-errortype``."""
        kept = kept_headers(resp)
        for name in _ERROR_HEADERS:
            if resp.headers.get(name) is not None:
                kept[name] = resp.headers[name]
        base = provider_error_from_body(self.name, resp.status, payload, kept)
        errortype = kept.get("x-amzn-errortype", "").split(":", 1)[0] or None
        return ProviderError(
            self.name,
            base.status,
            base.provider_message,
            param=base.param,
            code=errortype or base.code,
            headers=base.headers,
            body=base.body,
        )

    # ---- the stream: an exception as the first frame is a plain HTTP error ----------------------

    async def stream(self, call: Call) -> EventStream:
        resp, native = await self._send(call, stream=True)
        events, first = await self.first_event(resp, self._refuse_exception)
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id)
        pump = self.relay(events, builder, self.translator(builder), first, start_first=True)
        return EventStream(events=pump, sent=native, closers=[resp.close], built=True)

    def _refuse_exception(self, first: SSEEvent) -> None:
        """An exception frame first: the plain HTTP error it stands for."""
        if first.event is not None and first.event.startswith(EXCEPTION):
            raise stream_exception(self.name, first.event[len(EXCEPTION) :], event_payload(first, self.name))


def _key(call: Call) -> str | None:
    return call.key.secret.reveal() if call.key is not None else None


def _static_credentials(config: BedrockConfig) -> Credentials | None:
    """Credentials from the config entry, when both halves of the key pair are set."""
    access = config.aws_access_key_id.reveal() if config.aws_access_key_id is not None else None
    secret = config.aws_secret_access_key.reveal() if config.aws_secret_access_key is not None else None
    token = config.aws_session_token.reveal() if config.aws_session_token is not None else None
    if not access or not secret:
        return None
    return Credentials(access, secret, token or None)


def _chain_credentials() -> Any:
    """The AWS SDKs' credential chain (blocking: call it in a worker thread).

    A broken AWS config (an unknown profile, an unreadable file) must not stop the gateway from
    starting: it means no credentials, which a request then reports as a 401 that says what to set.
    """
    try:
        return get_session().get_credentials()
    except Exception:  # noqa: BLE001 - botocore raises many unrelated types here
        return None


def _frame(message: EventStreamMessage) -> SSEEvent:
    headers = message.headers
    kind = headers.get(":message-type", "event")
    if kind == "event":
        return SSEEvent(headers.get(":event-type"), message.payload)
    if kind == "exception":
        return SSEEvent(EXCEPTION + str(headers.get(":exception-type") or "unknownException"), message.payload)
    # a protocol-level error frame: the code and message are headers, not payload
    text = headers.get(":error-message") or "the provider reported an error in the stream"
    code = str(headers.get(":error-code") or "internalServerException")
    return SSEEvent(EXCEPTION + code[:1].lower() + code[1:], msgspec.json.encode({"message": str(text)}))
