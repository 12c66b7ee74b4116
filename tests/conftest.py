from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.passthrough import Capture
from tests.fakes.upstream import FakeUpstream


def _stale_compiled() -> list[str]:
    """The modules mypyc compiled (setup.py) whose source changed since: what they run is not what they say."""
    src = Path(__file__).resolve().parents[1] / "src"
    stale = []
    for lib in sorted(src.rglob("*.so")):
        source = lib.with_name(lib.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > lib.stat().st_mtime:
            stale.append(str(source.relative_to(src)))
    return stale


def pytest_configure(config: pytest.Config) -> None:
    stale = _stale_compiled()
    if stale:
        pytest.exit(
            f"compiled modules older than their source: {', '.join(stale)}. Build them again "
            "(.venv/bin/pip install -e '.[dev]'), or run them interpreted: delete src/**/*.so (an install with "
            "FERRYMAN_PURE=1 then builds none)",
            returncode=4,
        )


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


PG_URL = os.environ.get("FERRYMAN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    import asyncpg

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(PG_URL, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for each backend: a SQLite file of the test's own, and the shared PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ferryman.db"
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")
    return PG_URL


_STORE_DIR = tempfile.mkdtemp(prefix="ferryman-test-store-")


def base_config(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{_STORE_DIR}/{uuid.uuid4().hex}.db",
        "providers": {
            "openai": {
                "base_url": f"{upstream.url}/v1",
                "keys": [{"value": "sk-test-openai-secret"}],
                "max_retries": 0,
            },
        },
        "models": [{"name": "smart", "target": "openai/gpt-4o"}],
        **extra,
    }


@pytest.fixture(scope="session")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    """One gateway for the session, configured against the shared fake upstream."""
    server = GatewayServer(base_config(upstream, stream_keepalive=0.2)).start()
    yield server
    server.stop()


@pytest.fixture
def client(gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)


@pytest.fixture
def http(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        yield c


@pytest.fixture
def capture() -> Capture:
    """The requests an SDK sends, as it sends them (hooked into its HTTP client)."""
    return Capture()
