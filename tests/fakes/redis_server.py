"""A fake Redis on 127.0.0.1, in a background thread: one that accepts connections and never answers,
or answers some commands and not others, or answers everything (from a dict, in RESP2, or in RESP3
after ``HELLO 3``): the cache's commands and the counters' (``INCR``, ``INCRBY``, ``INCRBYFLOAT``, ``DECR``).

It records every connection and every command it reads, so a test can assert that nothing reached
it (rather than timing a request). ``hang`` names the commands it never answers (``"*"``: all).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable


class FakeRedis:
    def __init__(self, hang: Iterable[str] = ("*",)) -> None:
        self.hang = {name.upper() for name in hang}
        self.connections = 0
        self.commands: list[list[bytes]] = []
        self.strings: dict[bytes, bytes] = {}
        self.hashes: dict[bytes, dict[bytes, bytes]] = {}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-redis", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def names(self) -> list[str]:
        """The commands read so far, by name."""
        return [command[0].decode().upper() for command in self.commands]

    def answer(self) -> None:
        """From now on, answer every command."""
        self.hang = set()

    def start(self) -> FakeRedis:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in self._writers:
                writer.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        resp3 = False
        try:
            while True:
                command = await _read_command(reader)
                if command is None:
                    return
                self.commands.append(command)
                if "*" in self.hang or command[0].decode().upper() in self.hang:
                    continue  # read, never answered
                if command[0].upper() == b"HELLO":
                    resp3 = command[1:2] == [b"3"]
                writer.write(self._reply(command, resp3))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    def _reply(self, command: list[bytes], resp3: bool) -> bytes:
        name, args = command[0].decode().upper(), command[1:]
        if name == "HELLO":
            proto = b"3" if resp3 else b"2"
            return (b"%1\r\n" if resp3 else b"*2\r\n") + _bulk(b"proto") + b":" + proto + b"\r\n"
        if name == "PING":
            return b"+PONG\r\n"
        if name == "GET":
            value = self.strings.get(args[0])
            return b"_\r\n" if value is None and resp3 else _bulk(value)
        if name == "SET":
            self.strings[args[0]] = args[1]
            return b"+OK\r\n"
        if name == "EXISTS":
            return b":%d\r\n" % sum(key in self.strings for key in args)
        if name == "HLEN":
            return b":%d\r\n" % len(self.hashes.get(args[0], {}))
        if name == "HSET":
            self.hashes.setdefault(args[0], {}).update(zip(args[1::2], args[2::2], strict=True))
            return b":1\r\n"
        if name == "HGETALL":
            fields = self.hashes.get(args[0], {})
            head = b"%%%d\r\n" % len(fields) if resp3 else b"*%d\r\n" % (2 * len(fields))
            return head + b"".join(_bulk(k) + _bulk(v) for k, v in fields.items())
        if name == "HDEL":
            removed = [self.hashes.get(args[0], {}).pop(field, None) for field in args[1:]]
            return b":%d\r\n" % sum(value is not None for value in removed)
        if name in ("PEXPIRE", "EXPIRE"):
            return b":1\r\n"
        if name in ("INCR", "DECR", "INCRBY"):
            step = int(args[1]) if name == "INCRBY" else (-1 if name == "DECR" else 1)
            value = int(self.strings.get(args[0], b"0")) + step
            self.strings[args[0]] = b"%d" % value
            return b":%d\r\n" % value
        if name == "INCRBYFLOAT":
            total = repr(float(self.strings.get(args[0], b"0")) + float(args[1])).encode()
            self.strings[args[0]] = total
            return _bulk(total)
        return b"+OK\r\n"  # CLIENT SETINFO and the like


def _bulk(value: bytes | None) -> bytes:
    return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


async def _read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
    """One RESP array of bulk strings (what a client sends), or None at the end of the connection."""
    line = await reader.readline()
    if not line:
        return None
    assert line.startswith(b"*"), line
    parts = []
    for _ in range(int(line[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts
