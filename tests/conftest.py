"""Shared test setup: no test reaches beyond loopback, and CI does not pass without its PostgreSQL server."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import postgres_server

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

_real_connect = socket.socket.connect

# pytest's faulthandler plugin prints every thread's stack if this process crashes in native code; processes
# the tests start (gateways, the CLI) inherit this, so a crash there leaves every thread's stack in their log.
os.environ.setdefault("PYTHONFAULTHANDLER", "1")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop the run before any test when PostgreSQL is required (CI) and its server does not answer.

    Each PostgreSQL test also fails on its own then (``postgres_server.require_postgres``); stopping here too
    catches a test that skips by itself, so the PostgreSQL half of the suite cannot go missing unnoticed.
    """
    if postgres_server.REQUIRED and (message := postgres_server.missing_server_message()) is not None:
        raise pytest.UsageError(f"{message}, and {postgres_server.REQUIRE_VARIABLE}=1 says the tests need it")


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise RuntimeError(f"tests may not connect to {host}")
        except ValueError:
            if host != "localhost":
                raise RuntimeError(f"tests may not connect to {host}") from None
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database of each backend, private to the test (the store suites' fixture)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'gateway.db'}"
        return
    postgres_server.require_postgres()
    with postgres_server.postgres_schema(postgres_server.PG_SERVER) as url:
        yield url
