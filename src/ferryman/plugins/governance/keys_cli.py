"""``ferryman keys create|list|revoke``: virtual keys managed straight in the store a config file names
(``store:``), with no gateway running. Gateways on that store honour the change within ``refresh`` seconds."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec

from ferryman.config import Config
from ferryman.plugins.governance.model import Budget, KeyChange, Limits
from ferryman.plugins.governance.registry import Registry
from ferryman.schemas.errors import FerrymanError
from ferryman.state import open_store
from ferryman.state.records import RecordStore


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="virtual keys in the store of a config file")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; its value is printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--models", help="comma-separated allow-list (aliases, provider/model, provider/*)")
    create.add_argument("--mcp-servers", help="comma-separated MCP servers of the config's mcp.servers it may use")
    create.add_argument("--budget", type=float, help="max USD")
    create.add_argument("--period", choices=["1d", "7d", "30d"], help="budget period (default: lifetime)")
    create.add_argument("--rpm", type=int)
    create.add_argument("--tpm", type=int)
    create.add_argument("--team", help="team id")
    keys_sub.add_parser("list", help="list keys (never their values)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    for parser in keys_sub.choices.values():
        parser.add_argument("--config", required=True, help="the gateway's YAML config file")


def run(config: Config, args: argparse.Namespace) -> int:
    """``args`` of a ``keys`` command, against the store of ``config`` (loaded and checked by the CLI)."""
    if config.store is None:
        print("ferryman: the config keeps no store (store: false): keys live in the store", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_run(config.store, args))
    except FerrymanError as exc:
        print(f"ferryman: {exc}", file=sys.stderr)
        return 1


async def _run(url: str, args: argparse.Namespace) -> int:
    store = open_store(url)
    await store.start()
    try:
        records: RecordStore = store  # type: ignore[assignment]  # SQLite and PostgreSQL have both
        registry = Registry(records)
        await registry.load()
        if args.keys_command == "create":
            limits = Limits(rpm=args.rpm, tpm=args.tpm) if args.rpm or args.tpm else None
            change = KeyChange(
                name=args.name,
                models=_names(args.models),
                mcp_servers=_names(args.mcp_servers),
                budget=Budget(max_usd=args.budget, period=args.period) if args.budget is not None else None,
                limits=limits,
                team_id=args.team,
            )
            key, value = await registry.create_key(change)
            print(msgspec.json.encode({**_view(key), "key": value}).decode())
            print("the key is shown this once: keep it now", file=sys.stderr)
        elif args.keys_command == "list":
            for key in sorted(registry.keys.values(), key=lambda k: k.created_at):
                print(msgspec.json.encode(_view(key)).decode())
        else:
            key = await registry.revoke_key(args.id)
            print(f"revoked {key.id} ({key.name})")
    finally:
        await store.close()
    return 0


def _names(value: str | None) -> list[str] | None:
    """A comma-separated allow-list (None when not given)."""
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


def _view(key: Any) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(key)
    del view["key_hash"]
    return view
