"""Scrubbing: a configured secret in upstream text the gateway relays, or in a log line, becomes ``****``.

An upstream may echo what it was sent (a request's headers in an error message), and an exception's
text may hold a URL with a password. So every secret the gateway holds (provider keys, AWS and Vertex
credentials, proxy and store passwords, the tokens it obtains at run time) is registered here once, at
start-up or when the token is fetched, and one compiled pattern replaces each of them wherever text
leaves the gateway on a path that can carry upstream words: error messages and bodies (every
``FerrymanError``), ``raw_request``/``raw_response``, a relayed upstream ``error`` / ``response.failed``
event, and every log record (a log record factory, so records of every logger and handler pass).

It is cheap where it matters: nothing runs on a successful response or stream (only errors, the opt-in
raw fields and log records are scanned, by one regex pass). A value shorter than ``MIN_LENGTH``
characters is not scrubbed: it would mangle ordinary words and such a value is no real secret.

The registry is process-wide (logging is process-wide too): a process serving several gateways (the
tests do) scrubs the secrets of all of them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import msgspec

MASK = "****"
NAMES = 4096  # texts ``Scrubber.name`` remembers at most (the least recently used go first)
MIN_LENGTH = 8

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:)[^/?#@\s]*@")


def mask_url_passwords(text: str) -> str:
    """``postgresql://user:pass@host/db`` -> ``postgresql://user:****@host/db``, for every URL in ``text``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def url_password(url: str) -> str | None:
    """The password in a URL's user-info, if it has one (``scheme://user:password@host``)."""
    m = _URL_PASSWORD.match(url)
    if m is None:
        return None
    return url[m.end("head") : m.end() - 1] or None


_CREDENTIAL_FIELDS = ("private_key", "private_key_id", "client_secret", "refresh_token")


def secret_parts(value: str) -> list[str]:
    """A secret and what it holds that may travel on its own: a URL's password (and the Basic credentials a
    proxy is sent), a credentials JSON's keys (the JSON text itself, or the file it names)."""
    parts = [value]
    password = url_password(value)
    if password is not None:
        user = unquote(urlsplit(value).username or "")
        parts += [password, unquote(password), base64.b64encode(f"{user}:{unquote(password)}".encode()).decode()]
    text = value.strip()
    if not text.startswith("{") and len(text) < 4096 and os.path.isfile(text):
        try:
            with open(text, encoding="utf-8") as f:
                text = f.read(1 << 20)
        except OSError:
            return parts
    if text.startswith("{"):
        try:
            info = json.loads(text)
        except ValueError:
            return parts
        if isinstance(info, dict):
            parts += [v for k in _CREDENTIAL_FIELDS if isinstance(v := info.get(k), str)]
    return parts


def _forms(value: str) -> set[str]:
    """The value as an upstream may echo it: as sent, percent-encoded in a URL, escaped in JSON."""
    return {value, quote(value, safe=""), msgspec.json.encode(value).decode()[1:-1]}


class Scrubber:
    """The secrets to hide and the one pattern that finds them; swapped whole, so readers need no lock."""

    def __init__(self) -> None:
        self._slots: dict[str, frozenset[str]] = {}
        self._latest: dict[str, frozenset[str]] = {}  # what each rotating slot got last
        self._lock = threading.Lock()
        self._text: re.Pattern[str] | None = None
        self._bytes: re.Pattern[bytes] | None = None
        self._names = lru_cache(maxsize=NAMES)(self.text)  # ``name``: texts scrubbed with these secrets

    def add(self, values: Iterable[str | None], slot: str = "config") -> None:
        """Hide ``values`` from now on, with what ``slot`` already holds."""
        with self._lock:
            self._set(slot, self._slots.get(slot, frozenset()) | _kept(values))

    def rotate(self, slot: str, values: Iterable[str | None]) -> None:
        """Hide ``values``, and the ones they replace in ``slot`` (a refreshed token: requests still in
        flight carry the old one), but no older ones: a token refreshed every hour costs nothing over time."""
        with self._lock:
            latest = _kept(values)
            before = self._latest.get(slot, frozenset())
            self._latest[slot] = latest
            self._set(slot, before | latest)

    def _set(self, slot: str, secrets: frozenset[str]) -> None:
        if self._slots.get(slot) == secrets:
            return
        self._slots[slot] = secrets
        every = sorted(set().union(*self._slots.values()), key=len, reverse=True)  # the longest match wins
        if not every:
            self._text = self._bytes = None
        else:
            self._text = re.compile("|".join(map(re.escape, every)))
            self._bytes = re.compile(b"|".join(re.escape(s.encode()) for s in every))
        self._names = lru_cache(maxsize=NAMES)(self.text)

    def text(self, text: str) -> str:
        """``text`` without the secrets, nor a password inside a URL (however short)."""
        pattern = self._text
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return mask_url_passwords(text) if "://" in text else text

    def name(self, text: str) -> str:
        """``text`` scrubbed, remembered until the secrets change: the few short texts every request's console
        line repeats (a model's, a provider's, a key's name) cost a lookup, not a scan."""
        return self._names(text)

    def bytes(self, data: bytes) -> bytes:
        pattern = self._bytes
        return data if pattern is None else pattern.sub(MASK.encode(), data)

    def data(self, obj: Any) -> Any:
        """``obj`` (decoded JSON, or bytes/str) with every string scrubbed, as a copy."""
        return self._walk(obj)

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self._walk(k): self._walk(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self._walk(v) for v in obj]
        if isinstance(obj, bytes | bytearray):
            return self.bytes(bytes(obj))
        return obj


def _kept(values: Iterable[str | None]) -> frozenset[str]:
    return frozenset(form for value in values if value for form in _forms(value) if len(form) >= MIN_LENGTH)


SECRETS = Scrubber()


def scrub(text: str) -> str:
    """``text`` with every registered secret, and every password inside a URL, replaced by ``****``."""
    return SECRETS.text(text)


def scrub_name(text: str) -> str:
    """``scrub(text)`` for a short text that comes again and again (``Scrubber.name``)."""
    return SECRETS.name(text)


def scrub_bytes(data: bytes) -> bytes:
    return SECRETS.bytes(data)


def scrub_data(obj: Any) -> Any:
    return SECRETS.data(obj)


def protect(values: Iterable[str | None]) -> None:
    """Hide ``values`` from now on, in errors, raw fields and every log record (the gateway's start-up)."""
    SECRETS.add(values)
    install_log_scrubbing()


# ---- logs ---------------------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def install_log_scrubbing() -> None:
    """Scrub every log record from now on, whatever its logger and handlers (once per process).

    A record factory rather than a filter: a filter on a logger misses its children's records, and the
    handlers are made later (by uvicorn, in each worker) than the gateway can reach them.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        make = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            scrub_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def scrub_record(record: logging.LogRecord) -> None:
    """The record's message (formatted with its args), exception text and stack, scrubbed in place."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: the handler reports it as it would have
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        clean = scrub(text)
        if clean != text:
            record.exc_text = clean
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
