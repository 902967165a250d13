"""Public test kit: two real gateways on loopback with a test PKI, for vendors' and our own tests and the demo.

    with gateway_pair(tmp_path) as pair:
        pair.exporting.submit(notification_document, to=pair.importing.participant)
        pair.exporting.wait_for(message_id, "receipted")
        page = pair.importing.inbox()

Everything here is TEST ONLY: the keys are made on the fly and the stores live in the folder you give. It runs
real gateways, so it needs the ``[gateway]`` extra; the production CLI imports it only for ``picexchange demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from picexchange import codec
from picexchange.gateway.auth import Credentials, Grant, new_token, token_sha256
from picexchange.gateway.config import BackofficeConfig, GatewayConfig, OutboxConfig, PartnerConfig
from picexchange.gateway.server import GatewayServer, Running, build
from picexchange.models.base import XmlModel
from picexchange.testpki import KeyType, TestPki, make_test_pki
from picexchange.trust import TrustStore

__all__ = [
    "GatewayNode",
    "GatewayPair",
    "free_port",
    "gateway_pair",
    "serve_in_thread",
    "backoffice_credentials",
]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def backoffice_credentials(
    participants: Iterable[str], *, client: str = "test-back-office", expires: dt.datetime | None = None
) -> tuple[str, Credentials]:
    """Return a new TEST token for ``participants`` and the credentials that accept it (and nothing else)."""
    token = new_token()
    grant = Grant(client=client, participants=frozenset(participants), sha256=token_sha256(token), expires=expires)
    return token, Credentials(tokens=(grant,))


@contextlib.contextmanager
def serve_in_thread(running: Running) -> Iterator[GatewayServer]:
    """Serve both listeners of ``running`` in a background thread; yield the server (its URLs); stop on exit."""
    server = GatewayServer(running)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), name="picexchange-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the gateway on {server.partner_url} did not start")
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.stop()
        thread.join(15)


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayNode:
    """One running gateway and a back-office HTTP client for it.

    Attributes:
        participant: its participant id.
        url: the base URL of its partner listener on loopback.
        backoffice_url: the base URL of its back-office listener on loopback.
        running: the wired gateway (store, worker, apps).
        http: an HTTP client for its back-office API, with a test token.
        token: that test token.

    """

    participant: str
    url: str
    backoffice_url: str
    running: Running
    http: httpx.Client
    token: str

    def submit(self, document: XmlModel, *, to: str, ref_to: str | None = None, test: bool = False) -> dict[str, Any]:
        """Queue ``document`` for ``to`` through the back-office API; return the JSON answer."""
        payload = json.loads(codec.to_json(document))
        body = {"receiver": to, "document": payload, "ref_to_message_id": ref_to, "test": test}
        response = self.http.post("/api/v1/outbox", json=body)
        if response.status_code != 202:
            raise AssertionError(f"submit refused: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def status(self, message_id: str) -> dict[str, Any]:
        """Return the back-office view of an outbound message."""
        response = self.http.get(f"/api/v1/outbox/{message_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_for(self, message_id: str, state: str = "receipted", *, timeout: float = 30.0) -> dict[str, Any]:
        """Poll an outbound message until it is final; raise if it ends other than ``state``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(message_id)
            if status["final"]:
                if status["state"] != state:
                    raise AssertionError(f"message {message_id} ended {status['state']}: {status['last_error']}")
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"message {message_id} still {status['state']} after {timeout} s")
            time.sleep(0.02)

    def inbox(self, *, since: int = 0, limit: int = 100) -> dict[str, Any]:
        """Pull the inbox log after ``since``."""
        response = self.http.get("/api/v1/inbox", params={"since": since, "limit": limit})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def acknowledge(self, sequences: list[int]) -> None:
        """Acknowledge inbox entries."""
        self.http.post("/api/v1/inbox/ack", json={"sequences": sequences}).raise_for_status()


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayPair:
    """An exporting and an importing Single Window gateway that trust each other.

    Attributes:
        pki: the test PKI both use.
        exporting: the exporting country's gateway.
        importing: the importing country's gateway.

    """

    pki: TestPki
    exporting: GatewayNode
    importing: GatewayNode


@contextlib.contextmanager
def gateway_pair(
    directory: Path,
    *,
    exporter: str = "AU:DCCEEW",
    importer: str = "MY:DOE",
    key_type: KeyType = KeyType.RSA_2048,
    stores: tuple[str, str] | None = None,
    outbox: OutboxConfig | None = None,
) -> Iterator[GatewayPair]:
    """Start two gateways on loopback, each knowing the other as partner; stop both on exit.

    Args:
        directory: where the SQLite stores go.
        exporter: participant id of the exporting Single Window.
        importer: participant id of the importing Single Window.
        key_type: the test keys' type.
        stores: store URLs for (exporting, importing); SQLite files in ``directory`` by default.
        outbox: outbox settings for both (fast polling by default).

    """
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(
        [exporter, importer],
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
        key_type=key_type,
    )
    ports = {exporter: free_port(), importer: free_port()}
    urls = {pid: f"http://127.0.0.1:{port}" for pid, port in ports.items()}
    partners = [
        dataclasses.replace(item.partner, endpoint=f"{urls[item.id]}/ub/v1/messages") for item in pki.participants
    ]
    urls_of_store = stores or tuple(f"sqlite:///{directory / (pid.replace(':', '_') + '.db')}" for pid in ports)
    settings = outbox or OutboxConfig(poll_seconds=0.05, lease_seconds=60)
    with contextlib.ExitStack() as stack:
        nodes = []
        for participant, store_url in zip((exporter, importer), urls_of_store, strict=True):
            trust = TrustStore.of(partners, me=pki[participant].identity)
            config = GatewayConfig(
                partners=directory / "partners.toml",
                store=store_url,
                partner=PartnerConfig(port=ports[participant]),
                backoffice=BackofficeConfig(port=0),
                outbox=settings,
            )
            token, credentials = backoffice_credentials([participant])
            running = build(config, trust=trust, credentials=credentials)
            server = stack.enter_context(serve_in_thread(running))
            http = stack.enter_context(
                httpx.Client(base_url=server.backoffice_url, timeout=30, headers={"Authorization": f"Bearer {token}"})
            )
            nodes.append(
                GatewayNode(
                    participant=participant,
                    url=server.partner_url,
                    backoffice_url=server.backoffice_url,
                    running=running,
                    http=http,
                    token=token,
                )
            )
        yield GatewayPair(pki=pki, exporting=nodes[0], importing=nodes[1])
