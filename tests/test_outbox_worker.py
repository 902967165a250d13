"""The outbox worker outlives a bug: an unexpected exception neither kills it nor loses the message.

On the real SQLite store, with the real client; the partner (MY:DOE) is an httpx transport that accepts each
message for real (``exchange.accept``) and answers a signed receipt, unless the test scripts a bug first. The
worker's clock is the test's: a round is ``run_once``, and the clock is moved past a back-off or a lease.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from picexchange import codec, exchange
from picexchange.client import Client
from picexchange.gateway.config import OutboxConfig
from picexchange.gateway.outbox import DeliveryOutcome, OutboxWorker
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.store import OutboundMessage, OutboundState, OutboundStatus
from picexchange.store.sqlite import SqliteStore
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import TrustStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
EXPORTER, IMPORTER = "AU:DCCEEW", "MY:DOE"
START = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
URL = "https://my-doe.sw.test/ub/v1/messages"


class Bug(Exception):
    """What a programming error looks like to the worker: no exception it knows."""


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        [EXPORTER, IMPORTER], not_before=START - dt.timedelta(days=1), not_after=START + dt.timedelta(days=30)
    )


@pytest.fixture(scope="module")
def sealed(pki: TestPki) -> exchange.Sealed:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return exchange.seal(document, me=pki[EXPORTER].identity, to=IMPORTER, now=START)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@dataclasses.dataclass
class Partner:
    """MY:DOE behind an httpx transport: raises the scripted bugs first, then accepts and receipts for real."""

    pki: TestPki
    bugs: int = 0
    received: list[bytes] = dataclasses.field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request.content)
        if self.bugs:
            self.bugs -= 1
            raise Bug("delivery tripped over a bug")
        me = self.pki[IMPORTER].identity
        inbound = exchange.accept(request.content, me=me, trust=self.pki.trust(), now=START)
        return httpx.Response(200, content=exchange.receipt_for(inbound, me=me, now=START).raw)


@dataclasses.dataclass
class Outbox:
    store: SqliteStore
    worker: OutboxWorker
    clock: Clock
    partner: Partner
    message_id: str

    def status(self) -> OutboundStatus:
        status = self.store.outbound_status(self.message_id)
        assert status is not None
        return status


@pytest.fixture
def outbox(pki: TestPki, sealed: exchange.Sealed, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Outbox]:
    """AU:DCCEEW's outbox holding ``sealed``; ``bugs``, ``store_class`` and ``max_attempts`` come from the test."""
    kwargs: dict[str, Any] = getattr(request, "param", {})
    store = kwargs.get("store_class", SqliteStore)(tmp_path / "outbox.db")
    store.migrate()
    header = sealed.envelope.header
    store.enqueue(
        OutboundMessage(
            message_id=str(header.message_id),
            receiver=IMPORTER,
            endpoint=URL,
            conversation_id=header.conversation_id,
            message_type=header.message_type.value,
            created=header.created,
            data=sealed.raw,
        ),
        at=START,
    )
    partner = Partner(pki, bugs=kwargs.get("bugs", 0))
    trust = TrustStore.of([dataclasses.replace(pki[IMPORTER].partner, endpoint=URL)], me=pki[EXPORTER].identity)
    clock = Clock()
    config = OutboxConfig(concurrency=1, max_attempts=kwargs.get("max_attempts", 12), poll_seconds=0.01)
    client = Client(me=pki[EXPORTER].identity, trust=trust, clock=clock, transport=httpx.MockTransport(partner))
    worker = OutboxWorker(store=store, client=client, config=config, clock=clock, draw=lambda: 0.5)
    try:
        yield Outbox(store=store, worker=worker, clock=clock, partner=partner, message_id=str(header.message_id))
    finally:
        worker.stop()
        client.close()
        store.close()


def _after(outbox: Outbox, moment: dt.datetime | None) -> None:
    assert moment is not None
    outbox.clock.now = moment + dt.timedelta(milliseconds=1)


@pytest.mark.parametrize("outbox", [{"bugs": 1}], indirect=True, ids=["bug-once"])
def test_a_bug_in_delivery_queues_the_message_again_and_the_next_round_delivers_it(
    outbox: Outbox, sealed: exchange.Sealed, caplog: pytest.LogCaptureFixture
) -> None:
    """The round returns normally; the message is queued again for one lease, with the bug as its last error."""
    assert outbox.worker.run_once() == 1
    status = outbox.status()
    assert status.state is OutboundState.QUEUED and status.attempts == 1
    assert status.last_error == "internal: delivery tripped over a bug"
    assert status.next_attempt_at == START + outbox.worker.config.lease
    assert outbox.worker.counters.snapshot().attempts[DeliveryOutcome.INTERNAL] == 1
    logged = [r for r in caplog.records if r.getMessage() == "unexpected error while delivering"]
    assert len(logged) == 1 and logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], Bug)

    _after(outbox, status.next_attempt_at)
    assert outbox.worker.run_once() == 1
    assert outbox.status().state is OutboundState.RECEIPTED
    assert outbox.partner.received == [sealed.raw] * 2


@pytest.mark.parametrize("outbox", [{"bugs": 10, "max_attempts": 3}], indirect=True, ids=["bug-always"])
def test_a_bug_on_every_attempt_gives_the_message_up_at_max_attempts(outbox: Outbox) -> None:
    """A poison message does not come back every lease forever: failed at max_attempts, with the reason."""
    for _ in range(2):
        assert outbox.worker.run_once() == 1
        status = outbox.status()
        assert status.state is OutboundState.QUEUED
        _after(outbox, status.next_attempt_at)
    assert outbox.worker.run_once() == 1
    status = outbox.status()
    assert status.state is OutboundState.FAILED and status.attempts == 3
    assert status.last_error == "gave up after 3 attempts: internal: delivery tripped over a bug"
    counts = outbox.worker.counters.snapshot()
    assert counts.attempts[DeliveryOutcome.INTERNAL] == 3 and dict(counts.failed) == {"attempts": 1}
    assert outbox.worker.run_once() == 0


class ReceiptNotRecorded(SqliteStore):
    """The real store, with a bug in recording the first receipt (not a StoreError: nothing expects it)."""

    bugs = 1

    def mark_receipted(self, message_id: str, receipt: bytes, *, at: dt.datetime) -> bool:
        if self.bugs:
            self.bugs -= 1
            raise Bug("recording tripped over a bug")
        return super().mark_receipted(message_id, receipt, at=at)


@pytest.mark.parametrize("outbox", [{"store_class": ReceiptNotRecorded}], indirect=True, ids=["bug-recording"])
def test_a_bug_while_recording_the_outcome_neither_escapes_nor_loses_the_message(
    outbox: Outbox, sealed: exchange.Sealed, caplog: pytest.LogCaptureFixture
) -> None:
    """``run_once`` returns; the message stays claimed, and once the lease lapses it is delivered again."""
    assert outbox.worker.run_once() == 1
    status = outbox.status()
    assert status.state is OutboundState.SENDING  # claimed: no other round takes it before the lease lapses
    assert any(r.getMessage().startswith("delivery outcome not recorded") for r in caplog.records)
    assert outbox.worker.run_once() == 0

    _after(outbox, status.lease_expires_at)
    assert outbox.worker.run_once() == 1
    assert outbox.status().state is OutboundState.RECEIPTED
    assert outbox.partner.received == [sealed.raw] * 2  # the same bytes: the partner deduplicates


class ClaimingFailsOnce(SqliteStore):
    """The real store, with a bug in the first claim and a signal when a receipt is recorded."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.bugs = 1
        self.receipted = threading.Event()

    def claim_due(self, **kwargs: Any) -> list[OutboundMessage]:
        if self.bugs:
            self.bugs -= 1
            raise Bug("claiming tripped over a bug")
        return super().claim_due(**kwargs)

    def mark_receipted(self, message_id: str, receipt: bytes, *, at: dt.datetime) -> bool:
        recorded = super().mark_receipted(message_id, receipt, at=at)
        self.receipted.set()
        return recorded


@pytest.mark.parametrize("outbox", [{"store_class": ClaimingFailsOnce}], indirect=True, ids=["bug-claiming"])
def test_the_background_loop_outlives_a_bug_in_a_round(outbox: Outbox, caplog: pytest.LogCaptureFixture) -> None:
    """The failed round is logged and the next one delivers: the loop thread does not die with the bug."""
    store = outbox.store
    assert isinstance(store, ClaimingFailsOnce)
    outbox.worker.start()
    outbox.worker.wake()
    # An event, not a sleep: the loop polls every 10 ms; 30 s only bounds a loop that died.
    assert store.receipted.wait(30), "the loop stopped after the bug"
    assert outbox.status().state is OutboundState.RECEIPTED
    failed = [r for r in caplog.records if r.getMessage() == "outbox round failed"]
    assert failed and failed[0].exc_info is not None and isinstance(failed[0].exc_info[1], Bug)
