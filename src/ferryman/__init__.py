"""Ferryman: a fast LLM gateway speaking the OpenAI Responses API to every provider."""

__version__ = "0.1.0"
