"""The config keys of the ``gemini`` and ``vertex`` provider types, beyond the shared ones."""

from __future__ import annotations

from ferryman.providers.spec import ProviderConfig
from ferryman.secret import Secret


class GeminiConfig(ProviderConfig):
    api_version: str | None = None  # default: v1beta (Gemini API), v1 (Vertex AI)


class VertexConfig(GeminiConfig):
    region: str | None = None  # the Vertex AI location (default us-central1; "global" for the global endpoint)
    project: str | None = None  # default: the project the credentials belong to
    credentials: Secret | None = None  # service-account JSON, a path or the JSON itself (default: ADC)
