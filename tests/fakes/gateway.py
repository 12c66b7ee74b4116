"""Run the real Ferryman app on a real port, in a background thread, for a test."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from ferryman.app import create_app
from ferryman.config import config_from_dict


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayServer:
    def __init__(
        self, config: dict[str, Any], environ: dict[str, str] | None = None, wrap: Callable[[Any], Any] | None = None
    ) -> None:
        self.config = config_from_dict(config, environ or {}, source="test")
        self.app = create_app(self.config)
        self.port = free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(
                wrap(self.app) if wrap is not None else self.app,  # ``wrap``: an ASGI middleware of the test's
                host="127.0.0.1",
                port=self.port,
                loop="uvloop",
                http="ferryman.connection:Connection",  # as ``ferryman serve`` runs it
                proxy_headers=False,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        self._thread = threading.Thread(target=self._server.run, name="ferryman", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Ferryman did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_serving(url: str, proc: subprocess.Popen[Any], within: float = 30) -> None:
    """Until a ``ferryman serve`` process answers ``GET /health`` at ``url`` (it fails the test, with the
    process's stderr when it has one, if it exits or does not answer ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "ferryman serve exited")
        if time.monotonic() > deadline:
            raise AssertionError("ferryman serve did not start")
        time.sleep(0.05)


def wait_for(condition: Callable[[], object], timeout: float = 10) -> None:
    """Until ``condition()`` holds (a real event observed by polling), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.01)
