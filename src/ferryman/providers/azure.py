"""Azure OpenAI: the Responses API natively, Chat Completions for deployments that only have that.

Configuration (``AzureConfig``: the shared keys, plus ``api_version`` and ``deployments``):

- ``base_url``: the resource endpoint, ``https://<resource>.openai.azure.com`` (or an AI Foundry
  ``https://<resource>.services.ai.azure.com``), or that endpoint's ``.../openai/v1``.
- ``api_version``: unset or ``v1`` (the default, Azure's current GA API) calls the v1 API, which
  takes no api-version: ``POST {endpoint}/openai/v1/responses`` and ``.../openai/v1/chat/completions``
  with ``model`` = the deployment name. ``preview`` calls the same v1 paths with
  ``?api-version=preview``. A dated version (``2024-10-21``, ``2025-04-01-preview``) calls the
  classic paths: ``{endpoint}/openai/responses?api-version=...`` (model = deployment) and
  ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``.
- ``deployments``: model name -> deployment name (default: the model name itself). A value
  prefixed ``chat:`` marks a deployment served through Chat Completions only (older models, or a
  region without the Responses API): ``deployments: {gpt-35-turbo: "chat:my-gpt35"}``; ``"chat:"``
  alone keeps the model name as the deployment. Those requests are translated by the Chat
  Completions adapter (``providers/openai_chat``) with OpenAI's quirks, minus hosted web search.
- keys: an API key goes in the ``api-key`` header. A key value that starts with ``Bearer `` is a
  Microsoft Entra ID access token and is sent as ``Authorization: Bearer <token>`` instead
  (``keys: [{value: env.AZURE_ENTRA_TOKEN}]`` with the variable holding ``Bearer eyJ...``). Tokens
  expire: whoever sets the variable refreshes it; the gateway does not mint them.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from ferryman.providers.base import Call, EventStream, UpstreamReply
from ferryman.providers.openai import OpenAIResponsesProvider
from ferryman.providers.openai_chat import QUIRKS, ChatCompletionsProvider
from ferryman.providers.openai_chat.embeddings import OpenAIEmbeddings
from ferryman.providers.paths import path_segment
from ferryman.providers.spec import ProviderConfig
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import FerrymanError

CHAT_PREFIX = "chat:"
V1_SUFFIX = "/openai/v1"


class AzureConfig(ProviderConfig):
    api_version: str | None = None  # default v1
    deployments: dict[str, str] = {}  # model name -> deployment name; "chat:<name>" for Chat Completions only

    def route(self, model: str) -> tuple[str, bool]:
        """(deployment name, chat-only?) for a model name, from ``deployments``."""
        deployment = self.deployments.get(model, model)
        if deployment.startswith(CHAT_PREFIX):
            return deployment[len(CHAT_PREFIX) :].strip() or model, True
        return deployment, False

    def speaks_responses(self, model: str) -> bool:
        return not self.route(model)[1]


def auth_headers(secret: str) -> dict[str, str]:
    """``api-key`` for a key; an Entra ID token (``Bearer ...``) goes in Authorization."""
    if secret[:7].lower() == "bearer ":
        return {"authorization": f"Bearer {secret[7:].strip()}"}
    return {"api-key": secret}


class _Endpoint:
    """The URLs of one Azure resource, from its base_url and api_version."""

    def __init__(self, config: AzureConfig) -> None:
        self.name = config.name
        base = (config.base_url or "").rstrip("/")
        self.root = base[: -len(V1_SUFFIX)] if base.endswith(V1_SUFFIX) else base
        version = (config.api_version or "v1").strip()
        self.v1 = version.lower() in ("v1", "preview", "latest")
        self.query = "" if version.lower() in ("v1", "latest") else f"?api-version={quote(version)}"

    def _root(self) -> str:
        if not self.root:
            raise FerrymanError(
                f"provider {self.name!r} has no base_url: set it to https://<resource>.openai.azure.com",
                code="provider_misconfigured",
            )
        return self.root

    def responses(self) -> str:
        if self.v1:
            return f"{self._root()}{V1_SUFFIX}/responses{self.query}"
        return f"{self._root()}/openai/responses{self.query}"

    def embeddings(self, deployment: str) -> str:
        if self.v1:
            return f"{self._root()}{V1_SUFFIX}/embeddings{self.query}"
        return f"{self._root()}/openai/deployments/{path_segment(deployment)}/embeddings{self.query}"

    def chat(self, deployment: str) -> str:
        if self.v1:
            return f"{self._root()}{V1_SUFFIX}/chat/completions{self.query}"
        return f"{self._root()}/openai/deployments/{path_segment(deployment)}/chat/completions{self.query}"


class AzureChatProvider(ChatCompletionsProvider):
    """Chat Completions on an Azure deployment: Azure's URL and auth, OpenAI's wire format."""

    def __init__(self, config: ProviderConfig, endpoint: _Endpoint) -> None:
        super().__init__(config, QUIRKS["azure"])
        self.endpoint = endpoint

    def url(self, call: Call, *, stream: bool) -> str:
        return self.endpoint.chat(call.deployment)

    def auth_headers(self, secret: str) -> dict[str, str]:
        return auth_headers(secret)


class AzureEmbeddings(OpenAIEmbeddings):
    """OpenAI's embeddings on an Azure deployment: the client's body, Azure's URL (a ``chat:`` prefix in
    ``deployments`` says nothing here: an embeddings deployment has one API)."""

    provider: AzureProvider

    def __init__(self, provider: AzureProvider) -> None:
        super().__init__(provider)

    def url(self, call: Call) -> str:
        return self.provider.endpoint.embeddings(call.deployment)

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply:
        deployment = self.provider.config.route(call.deployment)[0]
        return await super().embed(req, replace(call, deployment=deployment))


class AzureProvider(OpenAIResponsesProvider):
    config: AzureConfig

    def __init__(self, config: AzureConfig) -> None:
        super().__init__(config)
        self.endpoint = _Endpoint(config)
        self.chat = AzureChatProvider(config, self.endpoint)
        self.chat.share_pool(self)  # one pool for both APIs of the resource

    def chat_api(self) -> ChatCompletionsProvider:
        return self.chat

    def url(self) -> str:
        return self.endpoint.responses()

    def auth_headers(self, secret: str) -> dict[str, str]:
        return auth_headers(secret)

    async def create(self, call: Call) -> UpstreamReply:
        deployment, chat = self.config.route(call.deployment)
        call = replace(call, deployment=deployment)
        if chat or call.native is not None:  # the Chat Completions door's body goes to any deployment as is
            return await self.chat.create(call)
        return await super().create(call)

    async def stream(self, call: Call) -> EventStream:
        deployment, chat = self.config.route(call.deployment)
        call = replace(call, deployment=deployment)
        if chat or call.native is not None:
            return await self.chat.stream(call)
        return await super().stream(call)
