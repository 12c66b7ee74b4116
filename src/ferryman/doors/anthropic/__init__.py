"""The Anthropic Messages API as a front door: request, reply, stream and errors (``routes/anthropic.py``)."""
