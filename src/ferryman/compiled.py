"""The modules mypyc compiles to C at install (``setup.py``): what every request runs through.

The HTTP server's cycle and connection, the door, the pipeline and the dispatcher, the Chat Completions fast
path, usage and cost: compiled from the same typed source, they cost about a sixth fewer instructions per
request. A module joins the list when it runs per request and mypyc takes it as it is (no async generator,
no class that interpreted code subclasses, no value its annotations do not admit, no attribute patched from
outside); everything else stays interpreted. Read by ``setup.py`` without importing the package: no imports.
"""

COMPILED = [
    "cycle.py",
    "connection.py",
    "http.py",
    "routes/chat.py",
    "gateway/pipeline.py",
    "gateway/dispatch.py",
    "gateway/exchange.py",
    "gateway/usage.py",
    "gateway/cost.py",
    "gateway/router.py",
    "providers/openai_chat/passthrough.py",
    "providers/openai_chat/response.py",
    "doors/chat/request.py",
    "doors/chat/passthrough.py",
]
