"""The dashboard's files (``index.html``, ``app.js``, ``app.css`` and the vendored chart library), served at ``/ui``
by ``routes/ui.py``: package data, so the dashboard works on a machine with no internet."""
