"""OpenTelemetry: a span per request with the GenAI semantic conventions, a child span per upstream attempt,
and the GenAI client metrics, exported over OTLP/HTTP (protobuf) by the official SDK.

``genai.py`` holds the conventions' vocabulary (provider names, finish reasons) and imports nothing of
OpenTelemetry; ``export.py`` (the SDK's providers, batched exporters and their shutdown), ``metrics.py``
and ``hook.py`` (the pipeline hook) do, and are imported only for a config with a ``telemetry:`` section.
"""
