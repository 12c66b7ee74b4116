"""ferryman serve | ferryman config check PATH | ferryman keys create|list|revoke --config PATH"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys

from ferryman.config import Config, ConfigError, describe, load_config, secret_values, unset_keys
from ferryman.plugins.logs.console import FORMATS, setup_console
from ferryman.plugins.metrics import multiprocess_dir, remove_dir
from ferryman.scrub import mask_url_passwords, protect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferryman", description="Ferryman LLM gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the gateway")
    serve.add_argument("--config", help="YAML config file (default: providers from environment variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format", default="text", choices=FORMATS, help="console lines as text or as JSON (one object a line)"
    )

    config = sub.add_parser("config", help="config tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file and show what it resolves to")
    check.add_argument("path")

    from ferryman.plugins.governance import keys_cli

    keys_cli.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command == "keys":
        loaded = _load(args.config)
        return 1 if loaded is None else keys_cli.run(loaded, args)
    if args.command == "config":
        return _check(args.path)
    return _serve(args)


def _load(path: str | None) -> Config | None:
    """The config, or None once its error is printed (every command validates it the same way)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"ferryman: invalid config: {exc}", file=sys.stderr)
        return None


def _check(path: str) -> int:
    config = _load(path)
    if config is None:
        return 1
    print(describe(config))
    for warning in unset_keys(config):
        print(f"warning: {warning}", file=sys.stderr)
    print("config OK")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    # validate before forking workers, so a bad file fails fast with one clear message
    config = _load(args.config)
    if config is None:
        return 1
    protect(secret_values(config))  # every log line of this process is scrubbed of the config's secrets
    # every worker sets up its console the same way (``app_from_env``): stderr, written by a thread of its own
    os.environ["FERRYMAN_LOG_LEVEL"] = args.log_level
    os.environ["FERRYMAN_LOG_FORMAT"] = args.log_format
    setup_console(args.log_level, args.log_format)
    log = logging.getLogger("ferryman")
    store = mask_url_passwords(config.store) if config.store else "(none)"
    log.info("config %s: providers %s; store %s", config.source, ", ".join(config.providers) or "(none)", store)
    for warning in unset_keys(config):
        log.warning("%s", warning)
    if all(p.type == "mock" for p in config.providers.values()):
        add = "set OPENAI_API_KEY (or another provider's key) or pass --config"
        if config.providers:
            log.warning("only mock/... models are available (e.g. mock/echo): to add a provider, %s", add)
        else:
            log.warning("no providers configured: %s", add)
    if args.config:
        os.environ["FERRYMAN_CONFIG"] = os.path.abspath(args.config)
    else:
        os.environ.pop("FERRYMAN_CONFIG", None)
    # with several workers, every worker's metrics go to files in one directory; a scrape sums them
    atexit.register(remove_dir, multiprocess_dir(args.workers) if config.metrics is not None else None)
    uvicorn.run(
        "ferryman.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop" if _has("uvloop") else "asyncio",
        # uvicorn's httptools protocol with header, body and idle timeouts and the connection cap (``server:``)
        http="ferryman.connection:Connection",
        log_level=args.log_level,
        log_config=None,  # uvicorn's own lines go through the console set up above (and in each worker)
        access_log=False,
        proxy_headers=False,  # nothing reads the client address; the middleware cost every request
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
