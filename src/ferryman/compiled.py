"""The modules mypyc compiles to C at install (``setup.py``): what every request runs through.

The HTTP server's cycle and connection, the upstream client and the providers' HTTP base, the doors' common
flow, the pipeline, hooks contract, store hook and dispatcher, the Chat Completions fast path, usage and cost,
the stored responses' records and pending writes, and the hooks most gateways run (governance, the request
log, metrics and their counters): compiled from the same typed source, a Chat Completions request costs about
38% fewer instructions. A module joins the list when it runs per request and mypyc takes it as it is: no async
generator (an iterator class instead), no value its annotations do not admit (what comes from the wire is
``Any`` until checked), no attribute patched from outside, and class attributes that subclasses override
declared ``ClassVar``; a compiled class that interpreted code subclasses (``Hook``, ``Door``, ``Ledger``,
``HttpProvider``, ``Entry``) says so with ``mypyc_attr(allow_interpreted_subclasses=True)``; a dataclass made per
request writes its own ``__init__`` (``init=False``: the generated one is interpreted).
Everything else stays interpreted. Read by ``setup.py`` without importing the package: no imports.
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
    "client.py",
    "providers/base.py",
    "providers/native.py",
    "routes/door.py",
    "routes/entry.py",
    "routes/responses.py",
    "gateway/hooks.py",
    "gateway/storing.py",
    "gateway/conversation.py",
    "state/base.py",
    "state/pending.py",
    "state/sql.py",
    "ids.py",
    "schemas/items.py",
    "schemas/responses.py",
    "schemas/usage.py",
    "secret.py",
    "plugins/logs/native.py",
    "gateway/keys.py",
    "state/records.py",
    "plugins/governance/spend.py",
    "plugins/logs/writer.py",
    "plugins/governance/hook.py",
    "plugins/governance/limits.py",
    "plugins/governance/ledger.py",
    "plugins/governance/terms.py",
    "plugins/logs/hook.py",
    "plugins/metrics/hook.py",
    "plugins/metrics/local.py",
    "state/logs.py",
]
