"""The Chat Completions API as a door: ``request.py`` (its body -> the canonical request), ``response.py``
(the canonical response -> ``chat.completion``), ``stream.py`` (the canonical events -> chunks). The door
itself, the route that uses them, is ``routes/chat.py``."""
