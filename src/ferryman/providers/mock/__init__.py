"""The built-in ``mock`` provider: answers by itself, so Ferryman can be tried, tested and load-tested
without a key or a network. ``provider.py`` is the adapter, ``answer.py`` decides what to say,
``values.py`` makes values from JSON schemas, ``failure.py`` the errors a request asks for,
``tokens.py`` cuts and counts text."""

from ferryman.providers.mock.provider import MockProvider

__all__ = ["MockProvider"]
