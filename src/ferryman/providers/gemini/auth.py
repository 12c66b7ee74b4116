"""Vertex AI access tokens: service-account JSON (a path or the JSON text) or Application Default Credentials.

google-auth does blocking I/O (reading the key file, the token request), so loading and refreshing run
in a worker thread; the token is cached and shared by every request of the provider until five minutes
before it expires, and one lock keeps a burst of requests from refreshing it many times over.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ferryman.schemas.errors import ProviderError
from ferryman.scrub import SECRETS
from ferryman.secret import Secret

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN = timedelta(minutes=5)


class TokenSource:
    def __init__(self, provider: str, credentials: Secret | None) -> None:
        self.provider = provider
        self._secret = credentials
        self._creds: Any = None  # google.auth.credentials.Credentials once loaded
        self.project: str | None = None  # the project the credentials belong to, when they say
        self._lock: asyncio.Lock | None = None

    async def token(self) -> str:
        creds = self._creds
        if creds is not None and _fresh(creds):
            return str(creds.token)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._creds is None or not _fresh(self._creds):  # another task may have refreshed it
                try:
                    await asyncio.to_thread(self._refresh)
                except Exception as exc:
                    raise ProviderError(
                        self.provider,
                        401,
                        f"cannot get a Google Cloud access token ({type(exc).__name__}: {_short(exc)})",
                        type="authentication_error",
                        code="vertex_credentials",
                    ) from None
                SECRETS.rotate(f"vertex-token:{id(self)}", [self._creds.token])  # an echo of it shows ****
            return str(self._creds.token)

    def _refresh(self) -> None:
        """Runs in a worker thread."""
        from google.auth.transport.requests import Request

        if self._creds is None:
            self._creds, project = self._load()
            self.project = project or getattr(self._creds, "project_id", None)
        self._creds.refresh(Request())

    def _load(self) -> tuple[Any, str | None]:
        import google.auth

        value = (self._secret.reveal() or "").strip() if self._secret is not None else ""
        if not value:
            return google.auth.default(scopes=list(SCOPES))
        if not value.startswith("{"):
            with open(value, encoding="utf-8") as f:
                value = f.read()
        try:
            info = json.loads(value)
        except ValueError:
            # never echo the text: it holds a private key
            raise ValueError("the 'credentials' value is neither a file path nor valid JSON") from None
        return _from_info(info)


def _from_info(info: Any) -> tuple[Any, str | None]:
    """Credentials of the two kinds a config entry names, loaded by their own loaders (google-auth
    warns against the generic loader, which would also accept external-account configurations)."""
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(SCOPES)
        )
        return creds, info.get("project_id")
    if kind == "authorized_user":
        from google.oauth2 import credentials

        user = credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=list(SCOPES)
        )
        return user, info.get("quota_project_id")
    raise ValueError(f"credentials of type {kind!r}: use a service account key (or ADC, with no 'credentials')")


def _fresh(creds: Any) -> bool:
    if not creds.token:
        return False
    expiry = creds.expiry
    if expiry is None:
        return True
    now = datetime.now(UTC)
    if expiry.tzinfo is None:  # google-auth keeps naive UTC datetimes
        now = now.replace(tzinfo=None)
    return bool(expiry - now > REFRESH_MARGIN)


def _short(exc: BaseException) -> str:
    return (str(exc) or "no detail")[:300]
