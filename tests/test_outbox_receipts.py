"""A forged or wrong receipt is no final failure: the outbox sends the same bytes again until a genuine one comes.

Over real HTTP on loopback and on the real SQLite store: a tiny partner server takes each message, checks it
as MY:DOE's gateway would (``exchange.accept`` with MY:DOE's key), and answers with the reply the test scripts
— forged, signed by another partner, for other bytes or another message id, tampered, garbage with 200, or
genuine. The worker runs one round at a time on a clock the test moves past each back-off, so nothing waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import http.server
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from picexchange import codec, exchange
from picexchange.client import AsyncClient, Client, ClientConfig, RetryPolicy
from picexchange.errors import MessageError, UnverifiedReplyError
from picexchange.gateway.config import OutboxConfig
from picexchange.gateway.outbox import DeliveryOutcome, OutboxWorker
from picexchange.models.common import Digest
from picexchange.models.envelope import Envelope, Receipt, UtilityBlock
from picexchange.models.pic import Notification
from picexchange.store import OutboundMessage, OutboundState
from picexchange.store.sqlite import SqliteStore
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import TrustStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
EXPORTER, IMPORTER, OTHER = "AU:DCCEEW", "MY:DOE", "SG:NEA"
START = dt.datetime.now(dt.UTC).replace(microsecond=0)

#: Reads the message the partner received (already accepted by it) and returns the HTTP status and body.
Answer = Callable[[exchange.Inbound, bytes], tuple[int, bytes]]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        [EXPORTER, IMPORTER, OTHER],
        not_before=START - dt.timedelta(days=1),
        not_after=START + dt.timedelta(days=30),
    )


@pytest.fixture(scope="module")
def impostor() -> TestPki:
    """Another test PKI with its own MY:DOE: right name, key nobody registered."""
    return make_test_pki([IMPORTER], not_before=START - dt.timedelta(days=1), not_after=START + dt.timedelta(days=30))


@pytest.fixture(scope="module")
def notification() -> Notification:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return document


class Clock:
    """The worker's and the client's time; the test moves it on."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


class Partner(http.server.ThreadingHTTPServer):
    """MY:DOE's endpoint on loopback: accepts each message for real, then answers what the test scripted."""

    def __init__(self, pki: TestPki, answers: list[Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pki = pki
        self.answers = answers
        self.received: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ub/v1/messages"

    def answer(self, raw: bytes) -> tuple[int, bytes]:
        self.received.append(raw)
        me = self.pki[IMPORTER].identity
        try:
            inbound = exchange.accept(raw, me=me, trust=self.pki.trust(), now=START)
        except MessageError as exc:
            return exc.http_status, exchange.error_for(exc, raw=raw, me=me, now=START).raw
        script = self.answers[min(len(self.received), len(self.answers)) - 1]
        return script(inbound, raw)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Partner

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        status, body = self.server.answer(raw)
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if body == NOT_GZIP:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
        pass


@contextlib.contextmanager
def _partner(pki: TestPki, answers: list[Answer]) -> Iterator[Partner]:
    server = Partner(pki, answers)
    thread = threading.Thread(target=server.serve_forever, name="forging-partner", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------------------------ the answers


def _receipt(pki: TestPki, signer: str, *, ref_to: uuid.UUID, digest: str, conversation: str) -> bytes:
    """Return a Receipt for ``ref_to`` quoting ``digest``, genuinely signed by ``signer`` of ``pki``."""
    document = Receipt(ref_to_message_id=ref_to, received_digest=Digest(value=digest), received_at=START)
    sealed = exchange.seal(
        document,
        me=pki[signer].identity,
        to=EXPORTER,
        now=START,
        conversation_id=conversation,
        ref_to=ref_to,
        utility_block=UtilityBlock.PIC,
    )
    return sealed.raw


def genuine(pki: TestPki) -> Answer:
    return lambda inbound, raw: (200, exchange.receipt_for(inbound, me=pki[IMPORTER].identity, now=START).raw)


def signed_by(pki: TestPki, signer: str) -> Answer:
    """A receipt for exactly what was sent, but signed by ``signer`` of ``pki`` (an impostor or another partner)."""

    def answer(inbound: exchange.Inbound, raw: bytes) -> tuple[int, bytes]:
        header = inbound.envelope.header
        receipt = _receipt(
            pki, signer, ref_to=header.message_id, digest=inbound.digest, conversation=header.conversation_id
        )
        return 200, receipt

    return answer


def other_digest(pki: TestPki) -> Answer:
    def answer(inbound: exchange.Inbound, raw: bytes) -> tuple[int, bytes]:
        header = inbound.envelope.header
        wrong = exchange.digest_of(raw + b" ")
        return 200, _receipt(pki, IMPORTER, ref_to=header.message_id, digest=wrong, conversation=header.conversation_id)

    return answer


def other_message(pki: TestPki) -> Answer:
    def answer(inbound: exchange.Inbound, raw: bytes) -> tuple[int, bytes]:
        header = inbound.envelope.header
        return 200, _receipt(
            pki, IMPORTER, ref_to=uuid.uuid4(), digest=inbound.digest, conversation=header.conversation_id
        )

    return answer


def tampered(pki: TestPki) -> Answer:
    def answer(inbound: exchange.Inbound, raw: bytes) -> tuple[int, bytes]:
        receipt = exchange.receipt_for(inbound, me=pki[IMPORTER].identity, now=START).raw
        year = str(START.year).encode()
        changed = receipt.replace(b"<env:ReceivedAt>" + year, b"<env:ReceivedAt>" + str(START.year - 1).encode(), 1)
        assert changed != receipt  # a genuine receipt, then one signed value changed
        return 200, changed

    return answer


def garbage(status: int = 200) -> Answer:
    return lambda inbound, raw: (status, b"OK, got it")


def not_gzip(inbound: exchange.Inbound, raw: bytes) -> tuple[int, bytes]:
    """Say Content-Encoding gzip (the handler does for this body), send bytes that are not."""
    return 200, NOT_GZIP


NOT_GZIP = b"this is not gzip"


# ------------------------------------------------------------------------------------------------ the outbox


@dataclasses.dataclass
class Sender:
    """AU:DCCEEW's outbox: the SQLite store, the worker, its clock, and the message it was given."""

    store: SqliteStore
    worker: OutboxWorker
    clock: Clock
    sealed: exchange.Sealed

    @property
    def message_id(self) -> str:
        return str(self.sealed.message_id)

    def attempt(self) -> None:
        """Run one round (exactly one delivery attempt), then move the clock past any back-off."""
        assert self.worker.run_once() == 1
        status = self.store.outbound_status(self.message_id)
        assert status is not None
        if status.next_attempt_at is not None:
            self.clock.now = max(self.clock.now, status.next_attempt_at) + dt.timedelta(milliseconds=1)


@contextlib.contextmanager
def _sender(
    pki: TestPki, notification: Notification, endpoint: str, tmp_path: Path, *, max_attempts: int
) -> Iterator[Sender]:
    registry = [dataclasses.replace(pki[IMPORTER].partner, endpoint=endpoint), pki[OTHER].partner]
    trust = TrustStore.of(registry, me=pki[EXPORTER].identity)
    store = SqliteStore(tmp_path / "AU_DCCEEW.db")
    store.migrate()
    clock = Clock()
    sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=START)
    header = sealed.envelope.header
    store.enqueue(
        OutboundMessage(
            message_id=str(header.message_id),
            receiver=IMPORTER,
            endpoint=IMPORTER,
            conversation_id=header.conversation_id,
            message_type=header.message_type.value,
            created=header.created,
            data=sealed.raw,
        ),
        at=START,
    )
    config = OutboxConfig(
        concurrency=1, max_attempts=max_attempts, retry=RetryPolicy(initial_backoff=2.0, multiplier=2.0, jitter=0.25)
    )
    with Client(me=pki[EXPORTER].identity, trust=trust, clock=clock) as client:
        worker = OutboxWorker(store=store, client=client, config=config, clock=clock, draw=lambda: 0.5)
        try:
            yield Sender(store=store, worker=worker, clock=clock, sealed=sealed)
        finally:
            worker.stop()
            store.close()


def test_every_kind_of_wrong_reply_is_retried_with_the_same_bytes_until_a_genuine_receipt(
    pki: TestPki, impostor: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """Forged, other signer, other digest or message id, tampered, garbage: each is one more attempt; then receipted."""
    answers = [
        signed_by(impostor, IMPORTER),
        signed_by(pki, OTHER),
        other_digest(pki),
        other_message(pki),
        tampered(pki),
        garbage(),
        genuine(pki),
    ]
    reasons = ["trust", "trust", "other-digest", "other-message", "signature", "parse"]
    with (
        _partner(pki, answers) as partner,
        _sender(pki, notification, partner.url, tmp_path, max_attempts=12) as sender,
    ):
        waits = []
        for attempt, reason in enumerate(reasons, start=1):
            before = sender.clock.now
            sender.attempt()
            status = sender.store.outbound_status(sender.message_id)
            assert status is not None
            assert status.state is OutboundState.QUEUED, f"attempt {attempt} ({reason}) was final"
            assert status.attempts == attempt
            assert "no genuine reply" in (status.last_error or "")
            assert status.next_attempt_at is not None
            waits.append((status.next_attempt_at - before).total_seconds())
        sender.attempt()
        final = sender.store.outbound_status(sender.message_id)
        assert final is not None and final.state is OutboundState.RECEIPTED and final.attempts == 7
        assert final.receipt is not None
        assert (
            exchange.read_reply(
                final.receipt, sent=sender.sealed, me=pki[EXPORTER].identity, trust=pki.trust(), now=START
            ).receipt.received_digest.value
            == sender.sealed.digest
        )
        assert partner.received == [sender.sealed.raw] * 7  # one message id, the stored bytes, never rebuilt
        assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]  # exponential back-off (draw 0.5: no jitter), capped
        counts = sender.worker.counters.snapshot()
        assert counts.attempts[DeliveryOutcome.UNVERIFIED_REPLY] == 6
        assert counts.attempts[DeliveryOutcome.RECEIPTED] == 1
        assert dict(counts.unverified_replies) == {
            "trust": 2,
            "other-digest": 1,
            "other-message": 1,
            "signature": 1,
            "parse": 1,
        }
        assert dict(counts.failed) == {}


@pytest.mark.parametrize(
    ("answer", "reason", "text"),
    [
        (lambda pki, impostor: signed_by(impostor, IMPORTER), "trust", "is not registered for MY:DOE"),
        (lambda pki, impostor: signed_by(pki, OTHER), "trust", "signed by SG:NEA, not by MY:DOE"),
        (lambda pki, impostor: other_digest(pki), "other-digest", "the receipt quotes digest"),
        (lambda pki, impostor: other_message(pki), "other-message", "the reply refers to"),
        (lambda pki, impostor: garbage(), "parse", "answered HTTP 200 with no genuine reply"),
        (lambda pki, impostor: garbage(404), "parse", "answered HTTP 404 with no genuine reply"),
        (lambda pki, impostor: garbage(302), "status", "answered HTTP 302"),
        (lambda pki, impostor: not_gzip, "encoding", "answered a body that cannot be decoded"),
    ],
    ids=["forged", "other-signer", "other-digest", "other-message", "garbage-200", "garbage-404", "redirect", "gzip"],
)
def test_a_reply_that_never_verifies_fails_after_max_attempts_with_the_last_reason(
    pki: TestPki,
    impostor: TestPki,
    notification: Notification,
    tmp_path: Path,
    answer: Callable[[TestPki, TestPki], Answer],
    reason: str,
    text: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retried while attempts remain (each logged as a warning with its reason); at max_attempts failed, with why."""
    caplog.set_level(logging.INFO, logger="picexchange.outbox")
    with (
        _partner(pki, [answer(pki, impostor)]) as partner,
        _sender(pki, notification, partner.url, tmp_path, max_attempts=3) as sender,
    ):
        for _ in range(2):
            sender.attempt()
            status = sender.store.outbound_status(sender.message_id)
            assert status is not None and status.state is OutboundState.QUEUED
        sender.attempt()
        status = sender.store.outbound_status(sender.message_id)
        assert status is not None and status.state is OutboundState.FAILED and status.attempts == 3
        assert (status.last_error or "").startswith("gave up after 3 attempts: MY:DOE answered ")
        assert text in (status.last_error or "")
        assert partner.received == [sender.sealed.raw] * 3
        counts = sender.worker.counters.snapshot()
        assert counts.attempts[DeliveryOutcome.UNVERIFIED_REPLY] == 3
        assert dict(counts.unverified_replies) == {reason: 3}
        assert dict(counts.failed) == {"attempts": 1}
        assert sender.worker.run_once() == 0  # failed is final
    warnings = [r for r in caplog.records if r.getMessage() == "reply did not verify, delivery will be retried"]
    assert [(r.levelno, getattr(r, "reason", None), getattr(r, "attempt", None)) for r in warnings] == [
        (logging.WARNING, reason, 1),
        (logging.WARNING, reason, 2),
    ]
    assert all(getattr(r, "message_id", None) == str(sender.sealed.message_id) for r in warnings)


def test_the_partners_signed_error_stays_final(pki: TestPki, notification: Notification, tmp_path: Path) -> None:
    """A genuinely signed Error is the partner's decision: failed after one attempt, with its code."""
    strict = dataclasses.replace(pki, participants=tuple(p for p in pki.participants if p.id != EXPORTER))
    with (
        _partner(strict, [genuine(pki)]) as partner,
        _sender(pki, notification, partner.url, tmp_path, max_attempts=12) as sender,
    ):
        sender.attempt()
        status = sender.store.outbound_status(sender.message_id)
        assert status is not None and status.state is OutboundState.FAILED and status.attempts == 1
        assert (status.last_error or "").startswith("trust: ")
        assert "unknown sender AU:DCCEEW" in (status.last_error or "")
        counts = sender.worker.counters.snapshot()
        assert counts.attempts[DeliveryOutcome.REFUSED] == 1
        assert dict(counts.failed) == {"refused": 1}


def test_the_counters_are_exposed_in_the_prometheus_text_format(
    pki: TestPki, impostor: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """Every outcome is listed (zero included); unverified replies by reason; failures by cause."""
    with (
        _partner(pki, [signed_by(impostor, IMPORTER), genuine(pki)]) as partner,
        _sender(pki, notification, partner.url, tmp_path, max_attempts=12) as sender,
    ):
        sender.attempt()
        sender.attempt()
        lines = sender.worker.counters.exposition()
    assert "# TYPE picexchange_delivery_attempts_total counter" in lines
    # prometheus-client writes every value as a float.
    assert 'picexchange_delivery_attempts_total{outcome="unverified-reply"} 1.0' in lines
    assert 'picexchange_delivery_attempts_total{outcome="receipted"} 1.0' in lines
    assert 'picexchange_delivery_attempts_total{outcome="refused"} 0.0' in lines
    assert 'picexchange_delivery_unverified_replies_total{reason="trust"} 1.0' in lines
    assert "# TYPE picexchange_deliveries_failed_total counter" in lines
    assert all(line.startswith("# ") or float(line.rsplit(" ", 1)[1]) >= 0 for line in lines)


def test_counting_is_safe_from_many_threads() -> None:
    """Delivery threads update the counters at once; no increment is lost."""
    from picexchange.gateway.outbox import DeliveryCounters

    counters = DeliveryCounters()

    def work() -> None:
        for _ in range(2000):
            counters.attempt(DeliveryOutcome.UNVERIFIED_REPLY, reason="trust")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = counters.snapshot()
    assert counts.attempts[DeliveryOutcome.UNVERIFIED_REPLY] == 16000
    assert counts.unverified_replies["trust"] == 16000


def test_the_async_client_also_sends_again_after_a_forged_receipt(
    pki: TestPki, impostor: TestPki, notification: Notification
) -> None:
    """AsyncClient reads replies as Client does: a forged receipt is retried with the same bytes, then receipted."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def send(url: str) -> exchange.Receipted:
        trust = TrustStore.of([dataclasses.replace(pki[IMPORTER].partner, endpoint=url)], me=pki[EXPORTER].identity)
        async with AsyncClient(
            me=pki[EXPORTER].identity, trust=trust, clock=Clock(), sleep=sleep, draw=lambda: 0.5
        ) as client:
            return await client.send(sealed)

    sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=START)
    with _partner(pki, [signed_by(impostor, IMPORTER), genuine(pki)]) as partner:
        receipted = asyncio.run(send(partner.url))
    assert receipted.receipt.received_digest.value == sealed.digest
    assert partner.received == [sealed.raw, sealed.raw]
    assert waits == [0.5]  # the default policy's first back-off, without jitter


class _Flood(http.server.BaseHTTPRequestHandler):
    """Answers 200 with 64 MB, declared (Content-Length) or chunked, and counts what it managed to write."""

    protocol_version = "HTTP/1.1"
    TOTAL = 64 * 1024 * 1024
    CHUNK = b"x" * (64 * 1024)
    declare = True
    written: list[int] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        if self.declare:
            self.send_header("Content-Length", str(self.TOTAL))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            while sent < self.TOTAL:
                if self.declare:
                    self.wfile.write(self.CHUNK)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(self.CHUNK), self.CHUNK))
                sent += len(self.CHUNK)
            if not self.declare:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what we want
        self.written.append(sent)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
        pass


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_a_huge_reply_is_cut_off_at_the_limit_not_read_whole(
    pki: TestPki, notification: Notification, declare: bool
) -> None:
    """A reply past max_reply_bytes is dropped while it streams in (a retried unverified reply), never read whole."""
    handler = type("Flood", (_Flood,), {"declare": declare, "written": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # server_close() then joins the request thread, so it has counted what it wrote before the test reads it
    # (with daemon request threads, that count raced the read: seen once in a CI run).
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, name="flooding-partner", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ub/v1/messages"
    trust = TrustStore.of([dataclasses.replace(pki[IMPORTER].partner, endpoint=url)], me=pki[EXPORTER].identity)
    sealed = exchange.seal(notification, me=pki[EXPORTER].identity, to=IMPORTER, now=START)
    try:
        config = ClientConfig(max_reply_bytes=64 * 1024)
        with Client(me=pki[EXPORTER].identity, trust=trust, config=config, clock=Clock()) as client:
            with pytest.raises(UnverifiedReplyError, match="with more than 65536 bytes") as caught:
                client.deliver(sealed)
        assert caught.value.reason == "too-large" and caught.value.status == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    [written] = handler.written
    assert written < _Flood.TOTAL // 2  # the client hung up long before the end
