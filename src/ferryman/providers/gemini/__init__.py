"""Google Gemini, through the Gemini API (``gemini``) or Vertex AI (``vertex``).

Both speak the same ``generateContent`` body; they differ in the URL and in how they authenticate:

- Gemini API: ``{base_url}/v1beta/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
  for a stream), the key in the ``x-goog-api-key`` header (never in the URL, so it is never logged);
- Vertex AI: ``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
  publishers/google/models/{model}:generateContent`` (location ``global`` -> ``aiplatform.googleapis.com``),
  an OAuth bearer token from a service account or Application Default Credentials (auth.py); a
  configured key is sent as ``x-goog-api-key`` instead (Vertex express mode, URL without a project
  when none is configured).

The translation lives in request.py (with the field mapping table and ``HINTS``), response.py (reply
and stream chunks) and schema.py (tool schemas); passthrough.py sends the Gemini door's own body as it is
(the fast path: the Gemini API only; Vertex AI's ``v1`` is translated to).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ferryman.providers.base import Call, EventStream, UpstreamReply
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.native import GENERATE, Native
from ferryman.providers.paths import path_segment, path_segments
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import FerrymanError, ProviderError

from . import passthrough
from .auth import TokenSource
from .config import GeminiConfig, VertexConfig
from .request import HINTS, native_request
from .response import Reader

__all__ = ["HINTS", "GeminiProvider", "VertexProvider"]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
_KEEP = "@"  # a partner model's version on Vertex (claude-sonnet-4@20250514) stays as Google writes it


class GeminiProvider(TranslatingProvider):
    config: GeminiConfig
    default_version = "v1beta"

    def passes(self, native: Native, deployment: str) -> bool:
        return native.api == GENERATE

    # ---- what TranslatingProvider asks for ------------------------------------------------------

    def model(self, call: Call) -> str:
        return call.deployment.removeprefix("models/")

    def url(self, call: Call, *, stream: bool) -> str:
        base = self.config.base_url or GEMINI_BASE_URL
        version = self.config.api_version or self.default_version
        return f"{base}/{version}/models/{path_segment(self.model(call), keep=_KEEP)}:{_method(stream)}"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"x-goog-api-key": secret}

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        return native_request(call.request, call.raw, self.name, self.model(call), call.dropping)

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        Reader(self.name, builder).read(body, whole=True)

    def translator(self, builder: ResponseBuilder) -> Reader:
        return Reader(self.name, builder)

    # ---- Google's error shape -------------------------------------------------------------------

    async def create(self, call: Call) -> UpstreamReply:
        try:
            if call.native is not None:
                return await passthrough.create(self, call)
            return await super().create(call)
        except ProviderError as exc:
            raise google_error(exc) from None

    async def stream(self, call: Call) -> EventStream:
        try:
            if call.native is not None:
                return await passthrough.stream(self, call)
            return await super().stream(call)
        except ProviderError as exc:
            raise google_error(exc) from None


class VertexProvider(GeminiProvider):
    config: VertexConfig
    default_version = "v1"

    def passes(self, native: Native, deployment: str) -> bool:
        return False  # its v1 API is not the Gemini API's v1beta the door speaks: translated

    def __init__(self, config: VertexConfig) -> None:
        super().__init__(config)
        self.location = config.region or "us-central1"
        self.tokens = TokenSource(config.name, config.credentials)
        self._bearer: str | None = None

    def url(self, call: Call, *, stream: bool) -> str:
        version = self.config.api_version or self.default_version
        host = self.config.base_url
        if host is None:
            regional = self.location != "global"
            host = (
                f"https://{self.location}-aiplatform.googleapis.com"
                if regional
                else "https://aiplatform.googleapis.com"
            )
        model = self.model(call)
        project = self.config.project or self.tokens.project
        if project is None:  # express mode: an API key that names no project
            return f"{host}/{version}/publishers/google/models/{path_segment(model, keep=_KEEP)}:{_method(stream)}"
        if model.isdigit():  # a tuned model's endpoint
            path = f"endpoints/{model}"
        elif "/" in model:  # a full resource path below the location (publishers/x/models/y)
            path = path_segments(model, keep=_KEEP)
        else:
            path = f"publishers/google/models/{path_segment(model, keep=_KEEP)}"
        return f"{host}/{version}/projects/{project}/locations/{self.location}/{path}:{_method(stream)}"

    def headers(self, call: Call) -> dict[str, str]:
        if _key(call) or self._bearer is None:
            return super().headers(call)
        return {"content-type": "application/json", **self.config.headers, "authorization": f"Bearer {self._bearer}"}

    async def create(self, call: Call) -> UpstreamReply:
        await self._authorize(call)
        return await super().create(call)

    async def stream(self, call: Call) -> EventStream:
        await self._authorize(call)
        return await super().stream(call)

    async def _authorize(self, call: Call) -> None:
        if _key(call):
            return
        self._bearer = await self.tokens.token()  # every request shares the provider's credentials
        if not (self.config.project or self.tokens.project):
            raise FerrymanError(
                f"provider {self.name!r}: no Google Cloud project: set 'project' in its config entry",
                code="provider_misconfigured",
            )


def _method(stream: bool) -> str:
    return "streamGenerateContent?alt=sse" if stream else "generateContent"


def _key(call: Call) -> str | None:
    return call.key.secret.reveal() if call.key is not None else None


_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def google_error(exc: ProviderError) -> ProviderError:
    """Google's ``{"error": {"code", "message", "status", "details"}}``, in OpenAI's terms.

    The shared mapping takes ``status`` (``NOT_FOUND``) as the error type; here the type follows the
    HTTP status as OpenAI's does, Google's status becomes the code (``not_found``), and a RetryInfo
    detail becomes ``retry-after`` for the retry logic.
    """
    body = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("status"), str):
        return exc
    headers = dict(exc.headers)
    for detail in error.get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        m = _DELAY.match(delay) if isinstance(delay, str) else None
        if m and "retry-after" not in headers:
            headers["retry-after"] = str(math.ceil(float(m.group(1))))
    return ProviderError(
        exc.provider,
        exc.status,
        exc.provider_message,
        code=error["status"].lower(),
        headers=headers,
        body=body,
    )
