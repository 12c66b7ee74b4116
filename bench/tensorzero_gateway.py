"""TensorZero's gateway as a process of its own, for the Chat Completions side-by-side (``run.py --api chat``).

The ``tensorzero`` wheel embeds TensorZero's Rust gateway. The helper behind its ``patch_openai_client``
starts that gateway's HTTP server in this process (on its own threads: the Python thread only waits
here) on a loopback port it picks, serving its OpenAI-compatible ``/openai/v1/chat/completions``.
This script starts it with the config the benchmark wrote (no ClickHouse, no Postgres, no Valkey:
observability off), writes its base URL to ``--url-file`` once it listens, and runs until SIGTERM.

    python bench/tensorzero_gateway.py --config tensorzero.toml --url-file tensorzero.url
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="TensorZero's embedded gateway as an HTTP server")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--url-file", type=Path, required=True, help="where to write the gateway's base URL")
    args = parser.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # waited for below
    from tensorzero import _start_http_gateway  # the gateway's own threads start here: import only when run

    gateway = _start_http_gateway(
        config_file=str(args.config), clickhouse_url=None, postgres_url=None, valkey_url=None, async_setup=False
    )
    partial = args.url_file.with_suffix(".tmp")
    partial.write_text(str(gateway.base_url))
    partial.rename(args.url_file)  # whole or absent: the benchmark never reads half a URL
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    gateway.close()


if __name__ == "__main__":
    main()
