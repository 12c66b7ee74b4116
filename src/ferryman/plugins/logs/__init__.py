"""The request log: one entry per client request, kept in the store and printed as one console line.

``hook.py`` (the pipeline hook that builds an entry from an exchange, on success or failure),
``writer.py`` (the bounded queue and the batched writer that keeps the store off the request's path,
and prunes old entries), ``console.py`` (the console line, and the logging set-up that writes it off
the event loop).
"""
