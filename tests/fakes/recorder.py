"""A recording reverse proxy: what a client sends (headers, body bytes) is kept, then forwarded to ``target`` and
its answer relayed back as it comes (a stream chunk by chunk). It stands between a client whose HTTP traffic a
test cannot hook (a CLI in another process) and the gateway, so the test can compare what the client sent with
what reached the upstream.

    with Recorder(gateway.url) as recorder:
        ... ANTHROPIC_BASE_URL=f"{recorder.url}/anthropic" ...
        recorder.received[-1].body
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.fakes.upstream import Received

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


class Recorder:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.received: list[Received] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the answer ends with the connection: no framing to redo

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path, _, query = self.path.partition("?")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.received.append(Received("POST", path, params, headers, body, self.path))
                sent = {k: v for k, v in headers.items() if k not in _HOP}
                with (
                    httpx.Client(timeout=120) as client,
                    client.stream("POST", recorder.target + self.path, headers=sent, content=body) as resp,
                ):
                    self.send_response(resp.status_code)
                    for name, value in resp.headers.items():
                        if name.lower() not in _HOP:
                            self.send_header(name, value)
                    self.end_headers()
                    for chunk in resp.iter_raw():
                        self.wfile.write(chunk)
                        self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="recorder", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
