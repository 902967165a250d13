"""Shared test setup: no test reaches beyond loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

_real_connect = socket.socket.connect

# pytest's faulthandler plugin prints every thread's stack if this process crashes in native code; processes
# the tests start (gateways, the CLI) inherit this, so a crash there leaves every thread's stack in their log.
os.environ.setdefault("PYTHONFAULTHANDLER", "1")


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
