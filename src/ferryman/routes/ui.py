"""The dashboard at ``/ui``: a few static files from the installed package (``ferryman/ui/``), nothing else.

The page is plain HTML, CSS and JavaScript with uPlot for its charts (vendored with its licence); it reads
only the admin API, with the master key the operator types in, as any script would: the dashboard has no
endpoint of its own and no access the admin API does not give. Files are read from the package on the first
request for one and kept in memory; a fixed list says which exist, so no path from a client ever reaches the
file system. A strict Content-Security-Policy keeps the page from loading or sending anything outside the
gateway. This module is imported on the first request to ``/ui`` only: the model routes never see it.
"""

from __future__ import annotations

from importlib.resources import files

from ferryman.http import Receive, Scope, Send
from ferryman.schemas.errors import NotFoundError

# path under /ui -> (file in the package, content type, cache-control)
FILES: dict[str, tuple[str, str, str]] = {
    "": ("index.html", "text/html; charset=utf-8", "no-cache"),
    "app.js": ("app.js", "text/javascript; charset=utf-8", "no-cache"),
    "app.css": ("app.css", "text/css; charset=utf-8", "no-cache"),
    "vendor/uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", "max-age=86400"),
    "vendor/uPlot.min.css": ("vendor/uPlot.min.css", "text/css; charset=utf-8", "max-age=86400"),
}
POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class Dashboard:
    def __init__(self) -> None:
        self._bodies: dict[str, bytes] = {}

    async def serve(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        found = FILES.get(name)
        if found is None:
            raise NotFoundError(f"No dashboard file '/ui/{name}'.", code="route_not_found")
        file, content_type, cache = found
        body = self._bodies.get(file)
        if body is None:
            body = self._bodies[file] = files("ferryman.ui").joinpath(file).read_bytes()
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", cache.encode()),
            (b"content-security-policy", POLICY),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
