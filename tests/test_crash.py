"""Crash safety of the reference gateway, with real gateway processes killed by SIGKILL (DESIGN §4, §5).

- Inbound: every message a killed gateway receipted is stored, and reaches the back office exactly once;
  resending any message after the restart gets a receipt (the original one for a stored message).
- Outbound: every message the back office got a 202 for is delivered after the sending gateway is killed
  mid-delivery and restarted, and the receiver holds each exactly once.
- Two gateway processes on one PostgreSQL database deliver each outbox message once between them.

Each gateway runs as ``picexchange serve --config FILE`` (see ``gateway_process.py``) on loopback, with its
SQLite store in ``tmp_path`` or a PostgreSQL schema private to the test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gateway_process import BACKOFFICE_HEADERS, GatewayProcess, with_endpoints, write_site
from picexchange import codec, exchange
from picexchange.client import Client, ClientConfig, RetryPolicy
from picexchange.errors import DeliveryError
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.testing import free_port
from picexchange.testpki import TestPki, make_test_pki
from postgres_server import PG_SERVER, postgres_schema, require_postgres

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
EXPORTER = "AU:DCCEEW"
IMPORTER = "MY:DOE"
MESSAGES = 300
SETTLE = 90.0  # seconds any wait may take on a loaded 2-core machine before the test fails


def _notification() -> Notification:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return document


def _pki(endpoints: dict[str, int]) -> TestPki:
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(
        [EXPORTER, IMPORTER], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
    )
    return with_endpoints(pki, {pid: f"http://127.0.0.1:{port}/ub/v1/messages" for pid, port in endpoints.items()})


def _wait(condition: Callable[[], bool], what: str, *, timeout: float = SETTLE, every: float = 0.05) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        time.sleep(every)


def _inbox(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Page the whole inbox log through the back-office API, from the start to the end."""
    entries: list[dict[str, Any]] = []
    since = 0
    while True:
        response = http.get(f"{url}/api/v1/inbox", params={"since": since, "limit": 100})
        response.raise_for_status()
        page = response.json()
        entries += page["messages"]
        assert page["next"] >= since, "the inbox cursor went backwards"
        if not page["has_more"]:
            return entries
        since = page["next"]


class Cluster:
    """The gateway processes of one test and their stores; :meth:`close` kills the processes, then drops schemas."""

    def __init__(self, directory: Path, backend: str) -> None:
        self.directory = directory
        self.backend = backend
        self.processes: list[GatewayProcess] = []
        self.schemas = contextlib.ExitStack()

    def store(self, name: str, backend: str | None = None) -> str:
        """Return the URL of a new, empty store: a SQLite file in the test's folder or a fresh PostgreSQL schema."""
        if (backend or self.backend) == "sqlite":
            return f"sqlite:///{self.directory / name / 'gateway.db'}"
        return self.schemas.enter_context(postgres_schema(PG_SERVER, prefix="px_crash"))

    def gateway(self, name: str, pki: TestPki, *, me: str, store: str, port: int, **outbox: Any) -> GatewayProcess:
        """Write a gateway's files and return its (not yet started) process."""
        config = write_site(self.directory / name, pki, me=me, store=store, port=port, **outbox)
        process = GatewayProcess(config, port=port, name=name)
        self.processes.append(process)
        return process

    @staticmethod
    def rows(store: str, sql: str) -> list[tuple[Any, ...]]:
        """Read a gateway's store beside the running process (to see what it wrote)."""
        if store.startswith("sqlite:///"):
            with sqlite3.connect(store.removeprefix("sqlite://"), timeout=30) as db:
                return db.execute(sql).fetchall()
        with psycopg.connect(store) as conn:
            return conn.execute(sql.encode()).fetchall()

    def close(self) -> None:
        # The crashes are the tests' own kill() calls; at the end the survivors stop cleanly (SIGTERM, a kill
        # if one hangs), so that what they ran is measured by ./dev cover (a killed process writes no data).
        for process in reversed(self.processes):
            process.stop()
        self.schemas.close()


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """Yield a cluster whose stores are SQLite files or PostgreSQL schemas; kill every process at the end."""
    backend: str = request.param
    if backend == "postgres":
        require_postgres()
    made = Cluster(tmp_path, backend)
    try:
        yield made
    finally:
        made.close()


# ---------------------------------------------------------------------------------------------- inbound


@pytest.mark.timeout(180)
def test_a_killed_receiver_keeps_every_receipted_message_once(cluster: Cluster) -> None:
    """SIGKILL mid-stream: each receipted message is stored once, with the digest its receipt quotes.

    Several senders POST distinct sealed messages; the receiving gateway is killed after about a third
    were receipted and restarted on the same store. Every message without a receipt is sent again (same
    bytes) and now gets one; a receipted message sent again gets the byte-identical original receipt; and
    the back office pages an inbox log holding every message exactly once.
    """
    port = free_port()
    pki = _pki({IMPORTER: port})
    receiver_store = cluster.store("receiver")
    receiver = cluster.gateway("receiver", pki, me=IMPORTER, store=receiver_store, port=port)
    receiver.start()

    document = _notification()
    me = pki[EXPORTER].identity
    now = dt.datetime.now(dt.UTC)
    sealed = [exchange.seal(document, me=me, to=IMPORTER, now=now) for _ in range(MESSAGES)]
    by_id = {str(item.message_id): item for item in sealed}
    assert len(by_id) == MESSAGES

    config = ClientConfig(connect_timeout=2, read_timeout=20, retry=RetryPolicy(max_attempts=1))
    receipts: dict[str, exchange.Receipted] = {}
    unanswered: set[str] = set()
    unexpected: list[str] = []
    lock = threading.Lock()
    todo = list(reversed(sealed))

    def send() -> None:
        with Client(me=me, trust=pki.trust(), config=config) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    item = todo.pop()
                key = str(item.message_id)
                try:
                    receipted = client.deliver(item)
                except DeliveryError:
                    with lock:
                        unanswered.add(key)
                    continue
                except Exception as exc:  # a refusal or a bad receipt: the test fails below
                    with lock:
                        unexpected.append(f"{key}: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    receipts[key] = receipted

    senders = [threading.Thread(target=send, name=f"sender-{n}") for n in range(6)]
    for thread in senders:
        thread.start()
    _wait(lambda: len(receipts) >= MESSAGES // 3, "a third of the messages receipted", every=0.002)
    receiver.kill()
    receipted_before_kill = len(receipts)
    for thread in senders:
        thread.join(SETTLE)
    assert not unexpected, unexpected[:5]
    assert len(receipts) + len(unanswered) == MESSAGES
    assert unanswered, "every message was receipted before the kill; the test proved nothing"

    restarted_at = dt.datetime.now(dt.UTC)
    receiver.start()
    with Client(me=me, trust=pki.trust(), config=config) as client:
        # Same bytes again: a message stored before the kill but never answered gets its original receipt.
        for key in sorted(unanswered):
            receipts[key] = client.deliver(by_id[key])
        stored_unanswered = sum(receipts[key].receipt.received_at < restarted_at for key in unanswered)
        # A receipted message again: the same receipt, byte for byte.
        for key in sorted(receipts)[::10]:
            again = client.deliver(by_id[key])
            assert again.raw == receipts[key].raw, f"message {key} got a new receipt on redelivery"

    with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
        entries = _inbox(http, receiver.api)
    counts = Counter(entry["message_id"] for entry in entries)
    twice = [key for key, n in counts.items() if n > 1]
    assert not twice, f"messages in the inbox log more than once: {twice[:5]}"
    assert set(counts) == set(by_id), "the inbox log does not hold exactly the messages sent"
    for entry in entries:
        receipt = receipts[entry["message_id"]].receipt
        assert entry["digest"] == receipt.received_digest.value == by_id[entry["message_id"]].digest
        assert entry["xml"].encode("utf-8") == by_id[entry["message_id"]].raw
    # Each message was stored with its case update in one transaction: after the SIGKILL every stored message
    # is in its case once, at contiguous positions, and the case lists nothing that was not stored.
    number = document.notification_number
    stored_ids = {row[0] for row in cluster.rows(receiver_store, "SELECT message_id FROM inbound")}
    listed = cluster.rows(
        receiver_store,
        f"SELECT message_id, position FROM case_message WHERE notification_number = '{number}'",  # noqa: S608
    )
    assert Counter(row[0] for row in listed) == Counter(stored_ids) and stored_ids == set(by_id)
    assert sorted(row[1] for row in listed) == list(range(1, MESSAGES + 1))
    assert cluster.rows(
        receiver_store,
        f"SELECT message_count, version FROM pic_case WHERE notification_number = '{number}'",  # noqa: S608
    ) == [(MESSAGES, MESSAGES)]
    print(
        f"inbound: {receipted_before_kill} receipted before SIGKILL, {len(unanswered)} sent again after restart, "
        f"of which {stored_unanswered} had been stored before the kill without an answer"
    )


# --------------------------------------------------------------------------------------------- outbound


def _submit(http: httpx.Client, url: str, document: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"{url}/api/v1/outbox", json={"receiver": IMPORTER, "document": document})
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _received(process: GatewayProcess, http: httpx.Client, outcome: str) -> int:
    """Return how many messages the gateway accepted with ``outcome`` (new or duplicate) since it started."""
    samples = process.metrics(http)
    return int(
        sum(
            value
            for key, value in samples.items()
            if key.startswith("picexchange_received_total{") and f'outcome="{outcome}"' in key
        )
    )


def _states(cluster: Cluster, store: str) -> Counter[str]:
    return Counter(dict(cluster.rows(store, "SELECT state, count(*) FROM outbound GROUP BY state")))


def _assert_inbox_holds_once(entries: list[dict[str, Any]], expected: set[str]) -> None:
    counts = Counter(entry["message_id"] for entry in entries)
    twice = [key for key, n in counts.items() if n > 1]
    assert not twice, f"messages in the receiver's inbox log more than once: {twice[:5]}"
    assert set(counts) == expected, (
        f"missing {sorted(expected - set(counts))[:5]}, unexpected {sorted(set(counts) - expected)[:5]}"
    )


@pytest.mark.timeout(180)
def test_a_killed_sender_delivers_every_accepted_submission_once(cluster: Cluster) -> None:
    """SIGKILL mid-delivery: after the restart every 202-answered document is receipted, and received once.

    The back office submits documents to the sending gateway while its outbox delivers them; the sender is
    killed when a third are receipted and restarted on the same store. Claims the killed worker held lapse
    and are delivered again; the receiver deduplicates them, so its inbox log holds each message once and
    counts every redelivery as a duplicate, never as a new message.
    """
    ports = {EXPORTER: free_port(), IMPORTER: free_port()}
    pki = _pki(ports)
    receiver_store = cluster.store("receiver", "sqlite")
    sender_store = cluster.store("sender")
    receiver = cluster.gateway("receiver", pki, me=IMPORTER, store=receiver_store, port=ports[IMPORTER])
    sender = cluster.gateway("sender", pki, me=EXPORTER, store=sender_store, port=ports[EXPORTER], lease_seconds=3)
    receiver.start()
    sender.start()

    payload = json.loads(codec.to_json(_notification()))
    accepted: dict[str, str] = {}  # message id -> digest, for every 202 answer
    lock = threading.Lock()
    remaining = MESSAGES  # documents not yet answered 202

    def submit_until_refused() -> None:
        nonlocal remaining
        with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
            while True:
                with lock:
                    if remaining == 0:
                        return
                    remaining -= 1
                try:
                    answer = _submit(http, sender.api, payload)
                except httpx.TransportError:
                    # No 202: the document is submitted again after the restart (a lost 202 may mean it was
                    # queued all the same; the outbox then holds one message more, delivered like the rest).
                    with lock:
                        remaining += 1
                    return
                with lock:
                    accepted[answer["message_id"]] = answer["digest"]

    submitters = [threading.Thread(target=submit_until_refused, name=f"submitter-{n}") for n in range(4)]
    for thread in submitters:
        thread.start()

    def more_to_deliver() -> bool:
        states = _states(cluster, sender_store)
        return states["queued"] + states["sending"] > 0

    _wait(lambda: _states(cluster, sender_store)["receipted"] >= MESSAGES // 3, "a third receipted")
    # No delivery ends while the receiver is frozen: what is left to deliver when the sender is killed is
    # still there at the kill, however fast or loaded the machine is.
    receiver.freeze()
    try:
        _wait(more_to_deliver, "more to deliver")
        sender.kill()
    finally:
        receiver.thaw()
    for thread in submitters:
        thread.join(SETTLE)
    submitted_before_kill = len(accepted)
    at_kill = _states(cluster, sender_store)
    assert at_kill["queued"] + at_kill["sending"] > 0, f"nothing was left to deliver at the kill: {at_kill}"

    sender.start()
    with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
        for _ in range(remaining):
            answer = _submit(http, sender.api, payload)
            accepted[answer["message_id"]] = answer["digest"]
        assert len(accepted) == MESSAGES

        _wait(lambda: _states(cluster, sender_store).keys() <= {"receipted", "failed"}, "the outbox delivered")
        for key in accepted:
            status = http.get(f"{sender.api}/api/v1/outbox/{key}").json()
            assert status["state"] == "receipted", status
        outbox = dict(cluster.rows(sender_store, "SELECT message_id, state FROM outbound"))
        assert set(outbox.values()) == {"receipted"}
        assert set(accepted) <= set(outbox)

        entries = _inbox(http, receiver.api)
        new, duplicates = _received(receiver, http, "new"), _received(receiver, http, "duplicate")
    # Every message in the outbox arrived, a submission whose 202 was lost in the kill included.
    _assert_inbox_holds_once(entries, set(outbox))
    for entry in entries:
        if entry["message_id"] in accepted:
            assert entry["digest"] == accepted[entry["message_id"]]
    assert new == len(outbox), "the receiver accepted a redelivered message as new"
    print(
        f"outbound ({cluster.backend}): at SIGKILL {dict(at_kill)} with {submitted_before_kill} submitted; "
        f"{len(outbox)} delivered, {duplicates} redeliveries deduplicated by the receiver"
    )


# ------------------------------------------------------------------------------------ shared PostgreSQL


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cluster", ["postgres"], indirect=True)
def test_two_gateway_processes_on_one_database_deliver_each_message_once(cluster: Cluster) -> None:
    """Two sending processes share one PostgreSQL outbox: both deliver, no message is delivered twice.

    The receiver counts what reaches it: every message arrives as new, none as a duplicate, and each
    outbox row records exactly one attempt.
    """
    ports = {"first": free_port(), "second": free_port(), IMPORTER: free_port()}
    pki = _pki({IMPORTER: ports[IMPORTER]})
    shared = cluster.store("shared")
    receiver = cluster.gateway(
        "receiver", pki, me=IMPORTER, store=cluster.store("receiver", "sqlite"), port=ports[IMPORTER]
    )
    senders = [
        cluster.gateway(name, pki, me=EXPORTER, store=shared, port=ports[name], lease_seconds=60)
        for name in ("first", "second")
    ]
    for process in (receiver, *senders):
        process.start()

    payload = json.loads(codec.to_json(_notification()))
    accepted: set[str] = set()
    lock = threading.Lock()

    def submit(count: int) -> None:
        with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
            for _ in range(count):
                answer = _submit(http, senders[0].api, payload)
                with lock:
                    accepted.add(answer["message_id"])

    submitters = [threading.Thread(target=submit, args=(MESSAGES // 3,)) for _ in range(3)]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join(SETTLE)
    assert len(accepted) == MESSAGES

    _wait(lambda: set(_states(cluster, shared)) == {"receipted"}, "the shared outbox delivered", every=0.2)
    with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
        new, duplicates = _received(receiver, http, "new"), _received(receiver, http, "duplicate")
        entries = _inbox(http, receiver.api)
    rows = cluster.rows(shared, "SELECT message_id, attempts, worker FROM outbound")
    assert {row[0] for row in rows} == accepted
    assert [row for row in rows if row[1] != 1] == [], "a message took more than one attempt"
    workers = Counter(row[2] for row in rows)
    assert len(workers) == 2, f"both processes should have delivered: {workers}"
    assert duplicates == 0, "a message was delivered twice"
    assert new == MESSAGES
    _assert_inbox_holds_once(entries, accepted)
    print(f"shared outbox: {MESSAGES} messages delivered once, by worker {dict(workers)}")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cluster", ["postgres"], indirect=True)
def test_when_one_of_two_processes_is_killed_the_other_takes_over_its_claims(cluster: Cluster) -> None:
    """SIGKILL one of two processes on one PostgreSQL outbox: the survivor delivers what the dead one held.

    The killed process is not restarted. Its claims lapse after the lease and the other process claims
    and delivers them; the receiver holds every message once.
    """
    ports = {"doomed": free_port(), "survivor": free_port(), IMPORTER: free_port()}
    pki = _pki({IMPORTER: ports[IMPORTER]})
    shared = cluster.store("shared")
    receiver = cluster.gateway(
        "receiver", pki, me=IMPORTER, store=cluster.store("receiver", "sqlite"), port=ports[IMPORTER]
    )
    doomed, survivor = (
        cluster.gateway(name, pki, me=EXPORTER, store=shared, port=ports[name], lease_seconds=3)
        for name in ("doomed", "survivor")
    )
    receiver.start()
    doomed.start()
    payload = json.loads(codec.to_json(_notification()))
    with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
        # A first message through the doomed process alone names its worker in the outbox.
        probe = _submit(http, doomed.api, payload)["message_id"]
        _wait(lambda: _states(cluster, shared)["receipted"] == 1, "the probe receipted")
        ((doomed_worker,),) = cluster.rows(shared, f"SELECT worker FROM outbound WHERE message_id = '{probe}'")
    survivor.start()

    accepted: set[str] = {probe}
    lock = threading.Lock()

    def submit(count: int) -> None:
        with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
            for _ in range(count):
                answer = _submit(http, survivor.api, payload)
                with lock:
                    accepted.add(answer["message_id"])

    submitters = [threading.Thread(target=submit, args=(MESSAGES // 3,)) for _ in range(3)]
    for thread in submitters:
        thread.start()
    held = f"SELECT message_id FROM outbound WHERE state = 'sending' AND worker = '{doomed_worker}'"
    # With the receiver frozen no delivery ends, so the outbox backs up while the submitters go on and the
    # doomed process is bound to hold claims when it is killed, however fast or loaded the machine is.
    _wait(lambda: len(accepted) >= MESSAGES // 3, "a third submitted")
    receiver.freeze()
    try:
        _wait(lambda: bool(cluster.rows(shared, held)), "the doomed process holds claims", every=0.01)
        doomed.kill()
        orphans = {row[0] for row in cluster.rows(shared, held)}
    finally:
        receiver.thaw()
    assert orphans, "the killed process held no claim; the test proved nothing"
    for thread in submitters:
        thread.join(SETTLE)
    assert len(accepted) == MESSAGES + 1

    _wait(lambda: set(_states(cluster, shared)) == {"receipted"}, "the survivor delivered everything", every=0.2)
    rows = {row[0]: row[1] for row in cluster.rows(shared, "SELECT message_id, worker FROM outbound")}
    assert set(rows) == accepted
    assert {rows[key] for key in orphans} <= set(rows.values()) - {doomed_worker}
    with httpx.Client(timeout=30, headers=BACKOFFICE_HEADERS) as http:
        new, duplicates = _received(receiver, http, "new"), _received(receiver, http, "duplicate")
        entries = _inbox(http, receiver.api)
    assert new == len(accepted), "the receiver accepted a redelivered message as new"
    _assert_inbox_holds_once(entries, accepted)
    print(
        f"takeover: the killed process held {len(orphans)} claims, all delivered by the survivor; "
        f"{duplicates} redeliveries deduplicated by the receiver"
    )
