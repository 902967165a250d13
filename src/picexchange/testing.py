"""Public test kit: two real gateways on loopback with a test PKI, for vendors' and our own tests and the demo.

    with gateway_pair(tmp_path) as pair:
        pair.exporting.submit(notification_document, to=pair.importing.participant)
        pair.exporting.wait_for(message_id, "receipted")
        page = pair.importing.inbox()

Each gateway is a national Single Window and may host several participants of its country, each signing with
its own key: ``gateway_pair(tmp_path, exporter=("AU:DCCEEW", "AU:ABF"), importer=("MY:DOE", "MY:RMCD"))``,
then ``pair.exporting.submit(export_data, to="MY:RMCD", sender="AU:ABF")``.

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
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from picexchange.trust import Hosted, TrustStore

__all__ = [
    "GatewayNode",
    "GatewayNetwork",
    "GatewayPair",
    "free_port",
    "gateway_network",
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
        participant: its (first) hosted participant id.
        url: the base URL of its partner listener on loopback.
        backoffice_url: the base URL of its back-office listener on loopback.
        running: the wired gateway (store, worker, apps).
        http: an HTTP client for its back-office API, with a test token for every hosted participant.
        token: that test token.
        hosts: every participant it hosts, ``participant`` first; empty means ``participant`` alone.

    """

    participant: str
    url: str
    backoffice_url: str
    running: Running
    http: httpx.Client
    token: str
    hosts: tuple[str, ...] = ()

    @property
    def participants(self) -> tuple[str, ...]:
        """Return every participant the gateway hosts, ``participant`` first."""
        return self.hosts or (self.participant,)

    def submit(
        self,
        document: XmlModel,
        *,
        to: str,
        ref_to: str | None = None,
        test: bool = False,
        sender: str | None = None,
    ) -> dict[str, Any]:
        """Queue ``document`` for ``to`` through the back-office API; return the JSON answer.

        ``sender`` is the hosted participant to send it as; it is needed when the gateway hosts several.
        """
        payload = json.loads(codec.to_json(document))
        body = {"receiver": to, "document": payload, "ref_to_message_id": ref_to, "test": test}
        if sender is not None:
            body["sender"] = sender
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

    def case(self, notification_number: str) -> dict[str, Any]:
        """Return the back office's view of one PIC case (``GET /api/v1/cases/{number}``)."""
        response = self.http.get(f"/api/v1/cases/{notification_number}")
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


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayNetwork:
    """Several Single Window gateways that trust each other's participants.

    Attributes:
        pki: the test PKI all use.
        nodes: one gateway per Single Window, in the order they were asked for.

    """

    pki: TestPki
    nodes: tuple[GatewayNode, ...]

    def of(self, participant: str) -> GatewayNode:
        """Return the gateway hosting ``participant``."""
        for node in self.nodes:
            if participant in node.participants:
                return node
        raise KeyError(f"no gateway hosts {participant}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def gateway_network(
    directory: Path,
    single_windows: Sequence[str | Sequence[str]],
    *,
    key_type: KeyType = KeyType.RSA_2048,
    stores: Sequence[str] | None = None,
    outbox: OutboxConfig | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
    valid_until: dt.datetime | None = None,
) -> Iterator[GatewayNetwork]:
    """Start one gateway per Single Window on loopback, each knowing every other's participants; stop on exit.

    Args:
        directory: where the SQLite stores go.
        single_windows: the participant id(s) each Single Window hosts (one country each; the first is its
            ``participant``), e.g. ``[("AU:DCCEEW", "AU:ABF"), ("MY:DOE", "MY:RMCD"), "SG:NEA"]``.
        key_type: the test keys' type.
        stores: one store URL per Single Window; SQLite files in ``directory`` by default.
        outbox: outbox settings for all (fast polling by default).
        clock: the time every gateway, its outbox and its client read (a simulated clock for replays).
        valid_until: the test certificates' end; 30 days after ``clock()`` by default.

    """
    hosted = [(side,) if isinstance(side, str) else tuple(side) for side in single_windows]
    now = clock()
    pki = make_test_pki(
        [pid for side in hosted for pid in side],
        not_before=now - dt.timedelta(days=1),
        not_after=valid_until or now + dt.timedelta(days=30),
        key_type=key_type,
    )
    ports = [free_port() for _ in hosted]
    # Every participant a Single Window hosts is reached at that Single Window's partner listener.
    urls = {pid: f"http://127.0.0.1:{port}" for side, port in zip(hosted, ports, strict=True) for pid in side}
    partners = [
        dataclasses.replace(item.partner, endpoint=f"{urls[item.id]}/ub/v1/messages") for item in pki.participants
    ]
    urls_of_store = stores or tuple(
        f"sqlite:///{directory / (side[0].replace(':', '_') + '.db')}" for side in hosted
    )
    settings = outbox or OutboxConfig(poll_seconds=0.05, lease_seconds=60)
    with contextlib.ExitStack() as stack:
        nodes = []
        for side, port, store_url in zip(hosted, ports, urls_of_store, strict=True):
            trust = TrustStore.of(partners, me=Hosted(tuple(pki[pid].identity for pid in side)))
            config = GatewayConfig(
                partners=directory / "partners.toml",
                store=store_url,
                partner=PartnerConfig(port=port),
                backoffice=BackofficeConfig(port=0),
                outbox=settings,
            )
            token, credentials = backoffice_credentials(side)
            running = build(config, trust=trust, credentials=credentials, clock=clock)
            server = stack.enter_context(serve_in_thread(running))
            http = stack.enter_context(
                httpx.Client(base_url=server.backoffice_url, timeout=30, headers={"Authorization": f"Bearer {token}"})
            )
            nodes.append(
                GatewayNode(
                    participant=side[0],
                    url=server.partner_url,
                    backoffice_url=server.backoffice_url,
                    running=running,
                    http=http,
                    token=token,
                    hosts=side,
                )
            )
        yield GatewayNetwork(pki=pki, nodes=tuple(nodes))


@contextlib.contextmanager
def gateway_pair(
    directory: Path,
    *,
    exporter: str | Sequence[str] = "AU:DCCEEW",
    importer: str | Sequence[str] = "MY:DOE",
    key_type: KeyType = KeyType.RSA_2048,
    stores: tuple[str, str] | None = None,
    outbox: OutboxConfig | None = None,
) -> Iterator[GatewayPair]:
    """Start two Single Window gateways on loopback, each knowing the other's participants; stop both on exit.

    Args:
        directory: where the SQLite stores go.
        exporter: the participant id(s) the exporting Single Window hosts (one country; the first is its
            ``participant``), e.g. ``("AU:DCCEEW", "AU:ABF")``.
        importer: the participant id(s) the importing Single Window hosts.
        key_type: the test keys' type.
        stores: store URLs for (exporting, importing); SQLite files in ``directory`` by default.
        outbox: outbox settings for both (fast polling by default).

    """
    with gateway_network(directory, (exporter, importer), key_type=key_type, stores=stores, outbox=outbox) as network:
        exporting, importing = network.nodes
        yield GatewayPair(pki=network.pki, exporting=exporting, importing=importing)
