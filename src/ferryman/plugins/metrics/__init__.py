"""Prometheus metrics: the pipeline hook that counts (``hook.py``) and ``GET /metrics`` (``route.py``).

Both import prometheus_client; this module does not, so ``ferryman serve`` can prepare the
multiprocess directory (``multiprocess_dir``) and a gateway with ``metrics: false`` never loads it.
With several worker processes every worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
and a scrape, whichever worker answers it, sums them.
"""

from __future__ import annotations

import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir(workers: int) -> str | None:
    """Before the workers start: the directory they share their values in (the operator's own
    ``PROMETHEUS_MULTIPROC_DIR``, emptied, or a fresh one), set in the environment they inherit; None
    with one worker. Returns the directory to remove at exit when it is Ferryman's own."""
    if workers <= 1:
        return None
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):  # the values of a previous run are not this run's
            if name.endswith(".db"):
                os.remove(os.path.join(given, name))
        return None
    made = tempfile.mkdtemp(prefix="ferryman-metrics-")
    os.environ[MULTIPROC_ENV] = made
    return made


def remove_dir(path: str | None) -> None:
    if path is not None:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
