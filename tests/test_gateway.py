"""The reference gateway over real HTTP on loopback: partner endpoint, back-office API, outbox, operations.

Every gateway here is a real uvicorn server on 127.0.0.1 with a real store; the partner's side is played by
the test with keys of a test PKI, and every reply is checked as the sender would check it (signature, signer,
digest of the bytes sent).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from picexchange import codec, exchange, signing
from picexchange.client import ClientConfig, RetryPolicy
from picexchange.errors import RemoteError
from picexchange.gateway import BackofficeConfig, GatewayConfig, OutboxConfig, PartnerConfig, build
from picexchange.models.envelope import Envelope, Error, UtilityBlock
from picexchange.models.pic import Notification
from picexchange.store import InboundState
from picexchange.testing import (
    GatewayNode,
    backoffice_credentials,
    free_port,
    gateway_pair,
    serve_in_thread,
)
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import TrustStore
from postgres_server import PG_SERVER, postgres_schema, require_postgres

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
EXPORTER, IMPORTER, STRANGER = "AU:DCCEEW", "MY:DOE", "SG:NEA"
MAX_BODY = 64 * 1024
BODY_TIMEOUT = 2.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _SteppedClock:
    """The real time plus an offset a test can step forward, instead of sleeping until the time has moved."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return _now() + self.offset

    @contextlib.contextmanager
    def stepped(self, seconds: float) -> Iterator[None]:
        """Run the block with the clock ``seconds`` ahead, then put it back."""
        self.offset += dt.timedelta(seconds=seconds)
        try:
            yield
        finally:
            self.offset -= dt.timedelta(seconds=seconds)


#: The importing gateway's clock (its receipts carry ReceivedAt from it).
IMPORTER_CLOCK = _SteppedClock()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def pki() -> TestPki:
    now = _now()
    return make_test_pki(
        [EXPORTER, IMPORTER, STRANGER, "MY:RMCD", "JP:MOE", "NL:ILT"],
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )


@pytest.fixture(scope="module")
def notification() -> Notification:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    return document


def _registry(
    pki: TestPki,
    me: str,
    endpoints: Mapping[str, str | None],
    *,
    blocks: Mapping[str, frozenset[UtilityBlock]] | None = None,
) -> TrustStore:
    """Return ``me``'s registry: the partners named in ``endpoints``, at those endpoints."""
    partners = []
    for participant, endpoint in endpoints.items():
        partner = dataclasses.replace(pki[participant].partner, endpoint=endpoint)
        if blocks and participant in blocks:
            partner = dataclasses.replace(partner, utility_blocks=blocks[participant])
        partners.append(partner)
    return TrustStore.of(partners, me=pki[me].identity)


@contextlib.contextmanager
def _gateway(
    directory: Path,
    trust: TrustStore,
    *,
    port: int | None = None,
    store: str | None = None,
    outbox: OutboxConfig | None = None,
    client_config: ClientConfig | None = None,
    partner: PartnerConfig | None = None,
    backoffice: BackofficeConfig | None = None,
    clock: Callable[[], dt.datetime] = _now,
) -> Iterator[GatewayNode]:
    """Build and serve one gateway on loopback; yield it with a back-office client holding a test token."""
    assert trust.me is not None
    participant = trust.me.participant
    partner = partner or PartnerConfig()
    config = GatewayConfig(
        partners=directory / "partners.toml",
        store=store or f"sqlite:///{directory / (participant.replace(':', '_') + '.db')}",
        partner=dataclasses.replace(partner, port=port or 0),
        backoffice=backoffice or BackofficeConfig(port=0),
        outbox=outbox or OutboxConfig(poll_seconds=0.05, lease_seconds=60),
    )
    token, credentials = backoffice_credentials([participant])
    running = build(config, trust=trust, credentials=credentials, client_config=client_config, clock=clock)
    with serve_in_thread(running) as server:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.backoffice_url, timeout=30, headers=headers) as http:
            yield GatewayNode(
                participant=participant,
                url=server.partner_url,
                backoffice_url=server.backoffice_url,
                running=running,
                http=http,
                token=token,
            )


@contextlib.contextmanager
def _postgres_url() -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL schema, dropped afterwards."""
    require_postgres()
    with postgres_schema(PG_SERVER, prefix="px_gw") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def importer(
    request: pytest.FixtureRequest, pki: TestPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayNode]:
    """The importing gateway (MY:DOE) on each store; it knows the exporter, not the stranger (SG:NEA)."""
    directory = tmp_path_factory.mktemp(f"importer-{request.param}")
    trust = _registry(pki, IMPORTER, {EXPORTER: None, IMPORTER: None})
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(_postgres_url()) if request.param == "postgres" else None
        node = stack.enter_context(
            _gateway(
                directory,
                trust,
                store=store,
                partner=PartnerConfig(max_body_bytes=MAX_BODY, body_timeout_seconds=BODY_TIMEOUT),
                clock=IMPORTER_CLOCK,
            )
        )
        yield node


@pytest.fixture(scope="module")
def partner() -> Iterator[httpx.Client]:
    """The exporting partner's HTTP client (it talks to the partner endpoint, with no back-office token)."""
    with httpx.Client(timeout=30) as http:
        yield http


# ------------------------------------------------------------------------------------------------ helpers


def _seal(
    pki: TestPki,
    document: Notification,
    *,
    sender: str = EXPORTER,
    to: str = IMPORTER,
    now: dt.datetime | None = None,
    **options: Any,
) -> exchange.Sealed:
    return exchange.seal(document, me=pki[sender].identity, to=to, now=now or _now(), **options)


def _sign_changed(pki: TestPki, document: Notification, change: Callable[[bytes], bytes]) -> tuple[uuid.UUID, bytes]:
    """Return the id and the bytes of an envelope changed by ``change`` and then genuinely signed by the exporter."""
    message_id = uuid.uuid4()
    envelope = Envelope.wrap(
        document,
        message_id=message_id,
        sender=EXPORTER,
        receiver=IMPORTER,
        conversation_id=document.notification_number,
        created=_now(),
    )
    unsigned = codec.to_xml(envelope)
    changed = change(unsigned)
    assert changed != unsigned
    return message_id, signing.sign(changed, pki[EXPORTER].identity)


def _post(http: httpx.Client, node: GatewayNode, raw: bytes, content_type: str = "application/xml") -> httpx.Response:
    return http.post(f"{node.url}/ub/v1/messages", content=raw, headers={"Content-Type": content_type})


def _signed_error(pki: TestPki, response: httpx.Response, *, status: int, code: str) -> Error:
    """Check ``response`` is a signed Error of the importer with ``status`` and ``code``; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/xml")
    verified = signing.verify(response.content, trust=pki.trust(), now=_now())
    assert verified.signer.id == IMPORTER
    error = verified.envelope.document
    assert isinstance(error, Error)
    assert error.code.value == code
    return error


def _remote_error(pki: TestPki, response: httpx.Response, sealed: exchange.Sealed) -> RemoteError:
    """Read ``response`` as the sender of ``sealed`` does; return the RemoteError it amounts to."""
    with pytest.raises(RemoteError) as caught:
        exchange.read_reply(
            response.content, sent=sealed, me=pki[sealed.envelope.header.sender].identity, trust=pki.trust(), now=_now()
        )
    return caught.value


@contextlib.contextmanager
def _nothing_stored_but_an_audit_line(node: GatewayNode) -> Iterator[None]:
    store = node.running.store
    before = store.counts()
    yield
    after = store.counts()
    assert after.rejected == before.rejected + 1
    assert after.inbound == before.inbound
    assert after.outbound == before.outbound


def _all_inbox(node: GatewayNode) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    since = 0
    while True:
        page = node.inbox(since=since, limit=500)
        messages += page["messages"]
        since = page["next"]
        if not page["has_more"]:
            return messages


def _raw_request(
    url: str, headers: Mapping[str, str], parts: Iterable[bytes], *, timeout: float = 20.0
) -> tuple[int, bytes]:
    """POST to the partner endpoint over a bare socket, leaving the connection open; return status and body.

    The request is written as given — headers that lie, bodies that never end — which no HTTP client does.
    """
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        head = f"POST /ub/v1/messages HTTP/1.1\r\nHost: {host}:{port}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        sock.sendall(head.encode("ascii"))
        for part in parts:
            sock.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before a response: {received!r}"
            received += chunk
        head_bytes, _, body = received.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of the response"
            body += chunk
        return status, body


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n"


def _metric(node: GatewayNode, name: str) -> float:
    text = node.http.get("/metrics").text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# ------------------------------------------------------------------------------------------------ partner endpoint


def test_an_accepted_message_gets_a_signed_receipt_for_its_exact_bytes(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    """The reply to a good message is HTTP 200 with the importer's signed Receipt quoting the digest sent."""
    sealed = _seal(pki, notification)
    response = _post(partner, importer, sealed.raw)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    receipted = exchange.read_reply(
        response.content, sent=sealed, me=pki[EXPORTER].identity, trust=pki.trust(), now=_now()
    )
    assert receipted.receipt.ref_to_message_id == sealed.message_id
    assert receipted.receipt.received_digest.value == sealed.digest
    assert receipted.envelope.header.sender == IMPORTER
    status = importer.running.store.inbound_status(EXPORTER, str(sealed.message_id))
    assert status is not None and status.digest == sealed.digest


def test_a_body_that_is_not_application_xml_is_refused_with_415(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    sealed = _seal(pki, notification)
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, sealed.raw, content_type="application/json")
    error = _signed_error(pki, response, status=415, code="unsupported-media-type")
    assert "application/xml" in error.text
    assert importer.running.store.inbound_status(EXPORTER, str(sealed.message_id)) is None


def test_a_body_declared_over_the_limit_is_refused_with_413(
    pki: TestPki, importer: GatewayNode, partner: httpx.Client
) -> None:
    body = b"<x>" + b" " * MAX_BODY + b"</x>"
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, body)
    error = _signed_error(pki, response, status=413, code="too-large")
    assert str(MAX_BODY) in error.text


def test_a_content_length_over_the_limit_is_refused_without_waiting_for_the_body(
    pki: TestPki, importer: GatewayNode
) -> None:
    """A Content-Length claiming 100 MB is answered 413 at once; the gateway does not wait for the bytes."""
    with _nothing_stored_but_an_audit_line(importer):
        status, body = _raw_request(
            importer.url, {"Content-Type": "application/xml", "Content-Length": str(100 * 1024 * 1024)}, [b"<Env"]
        )
    # Waiting for the body would end in the 408 of the body deadline instead.
    assert status == 413
    error = signing.verify(body, trust=pki.trust(), now=_now()).envelope.document
    assert isinstance(error, Error) and error.code.value == "too-large"


def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit_while_reading(
    pki: TestPki, importer: GatewayNode
) -> None:
    """Chunks past the limit are refused 413 while the body is still arriving (the sender has not finished)."""
    parts = [_chunk(b"<" + b"a" * 8191)] + [_chunk(b"a" * 8192)] * (MAX_BODY // 8192 + 1)
    with _nothing_stored_but_an_audit_line(importer):
        status, body = _raw_request(
            importer.url, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked"}, parts
        )
    # The last chunk was never sent: reading to the end would end in the 408 of the body deadline.
    assert status == 413
    error = signing.verify(body, trust=pki.trust(), now=_now()).envelope.document
    assert isinstance(error, Error) and error.code.value == "too-large"


def test_a_complete_chunked_body_over_the_limit_is_refused_and_one_within_it_accepted(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    """httpx sends an iterator without Content-Length (chunked); the size is counted, not declared."""

    def pieces(data: bytes) -> Iterator[bytes]:
        yield from (data[i : i + 4096] for i in range(0, len(data), 4096))

    big = b"<x>" + b" " * MAX_BODY + b"</x>"
    with _nothing_stored_but_an_audit_line(importer):
        refused = partner.post(
            f"{importer.url}/ub/v1/messages", content=pieces(big), headers={"Content-Type": "application/xml"}
        )
    assert "content-length" not in {name.lower() for name in refused.request.headers}
    _signed_error(pki, refused, status=413, code="too-large")

    sealed = _seal(pki, notification)
    accepted = partner.post(
        f"{importer.url}/ub/v1/messages", content=pieces(sealed.raw), headers={"Content-Type": "application/xml"}
    )
    assert accepted.status_code == 200
    exchange.read_reply(accepted.content, sent=sealed, me=pki[EXPORTER].identity, trust=pki.trust(), now=_now())


def test_a_body_that_does_not_arrive_in_time_is_refused_with_408(
    pki: TestPki, notification: Notification, importer: GatewayNode
) -> None:
    """Half a message and then silence: the gateway answers at its body deadline instead of waiting forever."""
    sealed = _seal(pki, notification)
    started = time.monotonic()
    with _nothing_stored_but_an_audit_line(importer):
        status, body = _raw_request(
            importer.url,
            {"Content-Type": "application/xml", "Content-Length": str(len(sealed.raw))},
            [sealed.raw[: len(sealed.raw) // 2]],
        )
    assert status == 408
    assert BODY_TIMEOUT - 0.5 < time.monotonic() - started < BODY_TIMEOUT + 10
    error = signing.verify(body, trust=pki.trust(), now=_now()).envelope.document
    assert isinstance(error, Error) and "did not arrive within" in error.text
    assert error.code.value == "body-timeout"


def test_a_body_that_is_not_well_formed_is_refused_with_400_parse(
    pki: TestPki, importer: GatewayNode, partner: httpx.Client
) -> None:
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, b"<?xml version='1.0'?>\n<Envelope>\n  <Header>\n</Envelope>")
    error = _signed_error(pki, response, status=400, code="parse")
    assert error.ref_to_message_id is None
    assert error.issue and error.issue[0].line is not None


def test_a_schema_error_in_the_business_document_is_refused_with_400_schema_and_its_path(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    message_id, raw = _sign_changed(
        pki,
        notification,
        lambda xml: xml.replace(b"<pic:IntendedShipments>", b"<pic:Bogus>1</pic:Bogus><pic:IntendedShipments>", 1),
    )
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, raw)
    error = _signed_error(pki, response, status=400, code="schema")
    assert error.ref_to_message_id == message_id
    assert error.issue[0].path == "/Envelope/Body/Notification/Bogus"
    assert error.issue[0].line is not None
    assert importer.running.store.inbound_status(EXPORTER, str(message_id)) is None


def test_a_message_for_another_receiver_is_refused_with_403_trust(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    sealed = _seal(pki, notification, to="MY:RMCD")
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, sealed.raw)
    error = _signed_error(pki, response, status=403, code="trust")
    assert error.issue[0].path == "/Envelope/Header/Receiver"
    assert error.ref_to_message_id == sealed.message_id
    assert "addressed to MY:RMCD, not to MY:DOE" in error.text


def test_a_message_from_an_unknown_sender_is_refused_with_403_trust(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    sealed = _seal(pki, notification, sender=STRANGER)
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, sealed.raw)
    error = _signed_error(pki, response, status=403, code="trust")
    assert error.issue[0].path == "/Envelope/Header/Sender"
    assert "unknown sender SG:NEA" in error.text
    assert importer.running.store.inbound_status(STRANGER, str(sealed.message_id)) is None


def test_the_partner_listener_routes_by_the_hosted_participants(
    pki: TestPki, notification: Notification, tmp_path: Path, partner: httpx.Client
) -> None:
    """The Receiver is checked against ``Gateway.hosted`` (exchange.accept_for), which several agencies widen."""
    with _gateway(tmp_path, _registry(pki, IMPORTER, {EXPORTER: None, IMPORTER: None})) as node:
        node.running.gateway.hosted = frozenset({"MY:RMCD"})  # MY:DOE's gateway no longer receives for MY:DOE
        with _nothing_stored_but_an_audit_line(node):
            response = _post(partner, node, _seal(pki, notification).raw)
        error = _signed_error(pki, response, status=403, code="trust")
        assert "MY:DOE" in error.text


def test_a_changed_byte_is_refused_with_403_signature(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    sealed = _seal(pki, notification)
    tampered = sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<")
    assert tampered != sealed.raw
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, tampered)
    _signed_error(pki, response, status=403, code="signature")
    assert _remote_error(pki, response, sealed).code == "signature"
    assert importer.running.store.inbound_status(EXPORTER, str(sealed.message_id)) is None


def test_a_genuinely_signed_breach_of_a_business_rule_is_refused_with_422(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    """An individual-shipment notification announcing 8 shipments (Annex V-A 4), correctly signed."""
    message_id, raw = _sign_changed(
        pki, notification, lambda xml: xml.replace(b"<pic:ShipmentMode>multiple<", b"<pic:ShipmentMode>individual<")
    )
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, raw)
    error = _signed_error(pki, response, status=422, code="business-rule")
    assert error.ref_to_message_id == message_id
    [issue] = error.issue
    assert issue.rule_id == "V-A 4"
    assert issue.path == "/Envelope/Body/Notification/IntendedShipments"
    assert importer.running.store.inbound_status(EXPORTER, str(message_id)) is None


# ------------------------------------------------------------------------------------------------ idempotency


def test_a_redelivery_gets_the_original_receipt_and_is_stored_once(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    """Same id, same bytes (a retry after a lost answer): 200 with the byte-identical original receipt."""
    sealed = _seal(pki, notification)
    first = _post(partner, importer, sealed.raw)
    assert first.status_code == 200
    before = importer.running.store.counts()
    with IMPORTER_CLOCK.stepped(2):  # a receipt signed anew would carry another ReceivedAt
        again = _post(partner, importer, sealed.raw)
    assert again.status_code == 200
    assert again.content == first.content
    assert importer.running.store.counts() == before
    copies = [m for m in _all_inbox(importer) if m["message_id"] == str(sealed.message_id)]
    assert len(copies) == 1
    assert copies[0]["digest"] == sealed.digest
    assert copies[0]["xml"].encode("utf-8") == sealed.raw


def test_concurrent_redeliveries_are_stored_once_and_all_get_the_same_receipt(
    pki: TestPki, notification: Notification, importer: GatewayNode
) -> None:
    sealed = _seal(pki, notification)
    before = sum(importer.running.store.counts().inbound.values())
    replies: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(timeout=30) as http:
            replies.append(_post(http, importer, sealed.raw))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in replies] == [200] * 6
    assert len({r.content for r in replies}) == 1
    assert sum(importer.running.store.counts().inbound.values()) == before + 1


def test_the_same_id_with_other_bytes_is_a_409_conflict_and_the_original_stays(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    original = _seal(pki, notification)
    assert _post(partner, importer, original.raw).status_code == 200
    # Another Created (two seconds earlier): other bytes, genuinely signed.
    resigned = _seal(pki, notification, message_id=original.message_id, now=_now() - dt.timedelta(seconds=2))
    assert resigned.raw != original.raw
    with _nothing_stored_but_an_audit_line(importer):
        response = _post(partner, importer, resigned.raw)
    error = _signed_error(pki, response, status=409, code="conflict")
    assert error.ref_to_message_id == original.message_id
    assert _remote_error(pki, response, resigned).code == "conflict"
    status = importer.running.store.inbound_status(EXPORTER, str(original.message_id))
    assert status is not None and status.digest == original.digest


# ------------------------------------------------------------------------------------------------ back office


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with gateway_pair(tmp_path_factory.mktemp("pair")) as running_pair:
        yield running_pair


def _document_json(document: Notification) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(codec.to_json(document))
    return value


def test_a_submitted_document_is_queued_then_receipted_with_the_partners_receipt(
    pair: Any, notification: Notification
) -> None:
    exporting, importing = pair.exporting, pair.importing
    submitted = 'picexchange_submitted_total{message_type="Notification"}'
    before = _metric(exporting, submitted)
    queued = exporting.submit(notification, to=importing.participant)
    assert queued["status"] == "queued"
    assert _metric(exporting, submitted) == before + 1
    assert exporting.status(queued["message_id"])["state"] in {"queued", "sending", "receipted"}
    status = exporting.wait_for(queued["message_id"], "receipted")
    assert status["final"] is True and status["attempts"] == 1 and status["last_error"] is None
    # The receipt the exporter keeps is the importer's, for exactly the bytes the importer stored.
    [received] = [m for m in _all_inbox(importing) if m["message_id"] == queued["message_id"]]
    assert received["digest"] == queued["digest"]
    raw = received["xml"].encode("utf-8")
    sent = exchange.Sealed(envelope=codec.from_xml(raw, Envelope), raw=raw, digest=exchange.digest_of(raw))
    receipted = exchange.read_reply(
        status["receipt_xml"].encode("utf-8"),
        sent=sent,
        me=pair.pki[exporting.participant].identity,
        trust=pair.pki.trust(),
        now=_now(),
    )
    assert receipted.envelope.header.sender == importing.participant
    assert received["document"]["Envelope"]["body"]["notification"] == _document_json(notification)["Notification"]


def test_the_inbox_pages_with_a_cursor_and_is_acknowledged(pair: Any, notification: Notification) -> None:
    exporting, importing = pair.exporting, pair.importing
    start = importing.inbox(since=0, limit=500)
    while start["has_more"]:
        start = importing.inbox(since=start["next"], limit=500)
    cursor = start["next"]
    ids = [exporting.submit(notification, to=importing.participant)["message_id"] for _ in range(3)]
    for message_id in ids:
        exporting.wait_for(message_id, "receipted")

    # The outbox delivers concurrently, so the three may arrive in any order; the log keeps arrival order.
    first = importing.inbox(since=cursor, limit=2)
    assert len(first["messages"]) == 2 and first["has_more"] is True
    second = importing.inbox(since=first["next"], limit=2)
    assert len(second["messages"]) == 1 and second["has_more"] is False
    log = first["messages"] + second["messages"]
    assert sorted(m["message_id"] for m in log) == sorted(ids)
    assert [m["sequence"] for m in log] == sorted(m["sequence"] for m in log)
    empty = importing.inbox(since=second["next"], limit=2)
    assert empty == {"messages": [], "next": second["next"], "has_more": False}
    # The log is append-only: reading from an old cursor again gives the same entries.
    assert importing.inbox(since=cursor, limit=2)["messages"] == first["messages"]

    sequences = [m["sequence"] for m in first["messages"] + second["messages"]]
    importing.acknowledge(sequences)
    for message_id in ids:
        status = importing.http.get(f"/api/v1/inbox/{exporting.participant}/{message_id}").json()
        assert status["state"] == "acknowledged"


def test_inbound_status_moves_received_delivered_acknowledged(pair: Any, notification: Notification) -> None:
    exporting, importing = pair.exporting, pair.importing
    message_id = exporting.submit(notification, to=importing.participant)["message_id"]
    exporting.wait_for(message_id, "receipted")
    url = f"/api/v1/inbox/{exporting.participant}/{message_id}"

    received = importing.http.get(url).json()
    assert received["state"] == "received" and received["delivered_at"] is None
    page = _all_inbox(importing)
    [entry] = [m for m in page if m["message_id"] == message_id]
    delivered = importing.http.get(url).json()
    assert delivered["state"] == "delivered" and delivered["delivered_at"] is not None
    importing.acknowledge([entry["sequence"]])
    acknowledged = importing.http.get(url).json()
    assert acknowledged["state"] == InboundState.ACKNOWLEDGED.value and acknowledged["acknowledged_at"] is not None
    missing = importing.http.get(f"/api/v1/inbox/{exporting.participant}/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"


def test_acknowledging_an_unknown_sequence_is_a_409_and_acknowledges_nothing(
    pair: Any, notification: Notification
) -> None:
    exporting, importing = pair.exporting, pair.importing
    message_id = exporting.submit(notification, to=importing.participant)["message_id"]
    exporting.wait_for(message_id, "receipted")
    [entry] = [m for m in _all_inbox(importing) if m["message_id"] == message_id]
    response = importing.http.post("/api/v1/inbox/ack", json={"sequences": [entry["sequence"], 10**9]})
    assert response.status_code == 409
    assert response.json()["code"] == "not-acknowledged"
    status = importing.http.get(f"/api/v1/inbox/{exporting.participant}/{message_id}").json()
    assert status["state"] == "delivered"


def test_submitting_to_an_unknown_partner_is_a_404(pair: Any, notification: Notification) -> None:
    response = pair.exporting.http.post(
        "/api/v1/outbox", json={"receiver": "ZZ:NOBODY", "document": _document_json(notification)}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "unknown-partner"


def test_submitting_an_invalid_document_is_a_422_with_its_issues(pair: Any, notification: Notification) -> None:
    document = _document_json(notification)
    document["Notification"]["shipment_mode"] = "individual"  # with 8 intended shipments (Annex V-A 4)
    response = pair.exporting.http.post(
        "/api/v1/outbox", json={"receiver": pair.importing.participant, "document": document}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "business-rule"
    assert any(issue["rule_id"] == "V-A 4" for issue in problem["issues"])
    assert all(issue["path"] for issue in problem["issues"])


def test_submitting_a_transport_reply_or_no_document_is_a_422(pair: Any) -> None:
    documents: list[dict[str, Any]] = [{"Nonsense": {}}, {"Receipt": {}}]
    for document in documents:
        response = pair.exporting.http.post(
            "/api/v1/outbox", json={"receiver": pair.importing.participant, "document": document}
        )
        assert response.status_code == 422, document
        assert response.json()["code"] == "not-a-document"


def test_an_unknown_outbound_message_is_a_404(pair: Any) -> None:
    response = pair.exporting.http.get(f"/api/v1/outbox/{uuid.uuid4()}")
    assert response.status_code == 404 and response.json()["code"] == "not-found"


# ------------------------------------------------------------------------------------------------ outbox


FAST_RETRY = OutboxConfig(
    poll_seconds=0.05,
    lease_seconds=60,
    max_attempts=1000,
    retry=RetryPolicy(initial_backoff=0.1, multiplier=1.5, max_backoff=0.4, jitter=0.1),
)


def _wait(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_dead_partner_never_blocks_deliveries_to_a_live_one(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """Messages to a closed port stay queued with growing attempts; the live partner's are receipted at once."""
    dead = f"http://127.0.0.1:{free_port()}/ub/v1/messages"
    with _gateway(tmp_path, _registry(pki, IMPORTER, {EXPORTER: None, IMPORTER: None})) as live:
        endpoints = {IMPORTER: f"{live.url}/ub/v1/messages", STRANGER: dead, EXPORTER: None}
        with _gateway(tmp_path, _registry(pki, EXPORTER, endpoints), outbox=FAST_RETRY) as exporting:
            stuck = [exporting.submit(notification, to=STRANGER)["message_id"] for _ in range(4)]
            _wait(lambda: exporting.status(stuck[-1])["attempts"] >= 1, timeout=10, what="first attempt")
            started = time.monotonic()
            sent = [exporting.submit(notification, to=IMPORTER)["message_id"] for _ in range(4)]
            for message_id in sent:
                exporting.wait_for(message_id, "receipted", timeout=10)
            assert time.monotonic() - started < 5
            first = {m: exporting.status(m) for m in stuck}
            _wait(
                lambda: all(exporting.status(m)["attempts"] >= first[m]["attempts"] + 2 for m in stuck),
                timeout=10,
                what="attempts to the dead partner growing",
            )
            for message_id in stuck:
                status = exporting.status(message_id)
                assert status["state"] in {"queued", "sending"} and status["final"] is False
                assert status["receipt_xml"] is None
                assert "cannot reach" in (status["last_error"] or "")


def test_a_partner_that_hangs_never_blocks_deliveries_to_a_live_one(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """A partner that takes the connection and never answers holds only its share of the delivery slots.

    More messages wait for it than the worker has slots (12 > concurrency 8): without a per-partner share they
    would take every slot and the live partner would wait for the hanging one's read timeout.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)  # never accepted, never answered: the kernel completes the handshakes
        hanging = f"http://127.0.0.1:{hole.getsockname()[1]}/ub/v1/messages"
        with _gateway(tmp_path, _registry(pki, IMPORTER, {EXPORTER: None, IMPORTER: None})) as live:
            endpoints = {IMPORTER: f"{live.url}/ub/v1/messages", "JP:MOE": hanging, EXPORTER: None}
            with _gateway(
                tmp_path,
                _registry(pki, EXPORTER, endpoints),
                outbox=FAST_RETRY,
                client_config=ClientConfig(read_timeout=10.0),
            ) as exporting:
                held = [exporting.submit(notification, to="JP:MOE")["message_id"] for _ in range(12)]
                share = FAST_RETRY.per_partner
                assert share < FAST_RETRY.concurrency < len(held)

                def in_flight() -> int:
                    return sum(exporting.status(m)["state"] == "sending" for m in held)

                _wait(lambda: in_flight() == share, timeout=10, what="the hanging partner's share in flight")
                started = time.monotonic()
                sent = [exporting.submit(notification, to=IMPORTER)["message_id"] for _ in range(3)]
                for message_id in sent:
                    exporting.wait_for(message_id, "receipted", timeout=20)
                # Waiting for the hanging partner would take its 10 s read timeout.
                assert time.monotonic() - started < 5
                assert in_flight() == share  # the others wait, queued, for a slot of their own partner
                hole.close()  # resets the pending connections, so that shutting down does not wait for them


def test_a_signed_error_from_the_partner_fails_the_message_for_good(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """The partner refuses (it takes only Utility Block export from us): failed, final, with its error."""
    strict = _registry(pki, "JP:MOE", {EXPORTER: None}, blocks={EXPORTER: frozenset({UtilityBlock.EXPORT})})
    with _gateway(tmp_path, strict) as refusing:
        endpoints = {"JP:MOE": f"{refusing.url}/ub/v1/messages", EXPORTER: None}
        with _gateway(tmp_path, _registry(pki, EXPORTER, endpoints), outbox=FAST_RETRY) as exporting:
            message_id = exporting.submit(notification, to="JP:MOE")["message_id"]
            status = exporting.wait_for(message_id, "failed", timeout=10)
            assert status["final"] is True and status["attempts"] == 1
            assert status["last_error"].startswith("trust:")
            assert "may not send messages of Utility Block pic" in status["last_error"]
            time.sleep(0.5)  # a failed message is not tried again
            assert exporting.status(message_id)["attempts"] == 1
            assert refusing.running.store.counts().rejected == 1


def test_retries_resend_the_same_message_id_and_bytes(pki: TestPki, notification: Notification, tmp_path: Path) -> None:
    """The partner is down for the first attempts; what it finally stores is exactly what was submitted."""
    port = free_port()
    endpoints = {"NL:ILT": f"http://127.0.0.1:{port}/ub/v1/messages", EXPORTER: None}
    with _gateway(tmp_path, _registry(pki, EXPORTER, endpoints), outbox=FAST_RETRY) as exporting:
        queued = exporting.submit(notification, to="NL:ILT")
        _wait(lambda: exporting.status(queued["message_id"])["attempts"] >= 3, timeout=10, what="three attempts")
        down = exporting.status(queued["message_id"])
        assert down["state"] in {"queued", "sending"} and "cannot reach" in down["last_error"]
        with _gateway(tmp_path, _registry(pki, "NL:ILT", {EXPORTER: None}), port=port) as revived:
            status = exporting.wait_for(queued["message_id"], "receipted", timeout=10)
            assert status["attempts"] >= 4
            [received] = _all_inbox(revived)
            assert received["message_id"] == queued["message_id"]
            assert received["digest"] == queued["digest"]
            assert exchange.digest_of(received["xml"].encode("utf-8")) == queued["digest"]


# ------------------------------------------------------------------------------------------------ operations


def test_healthz_reports_ok_with_the_participant(importer: GatewayNode, partner: httpx.Client) -> None:
    response = partner.get(f"{importer.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "participant": IMPORTER}


def test_metrics_count_accepted_and_refused_messages(
    pki: TestPki, notification: Notification, importer: GatewayNode, partner: httpx.Client
) -> None:
    new = 'picexchange_received_total{message_type="Notification",outcome="new"}'
    duplicate = 'picexchange_received_total{message_type="Notification",outcome="duplicate"}'
    signature = 'picexchange_rejected_total{code="signature"}'
    before = {name: _metric(importer, name) for name in (new, duplicate, signature, "picexchange_audit_lines")}
    sealed = _seal(pki, notification)
    assert _post(partner, importer, sealed.raw).status_code == 200
    assert _post(partner, importer, sealed.raw).status_code == 200
    tampered = sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<")
    assert _post(partner, importer, tampered).status_code == 403
    assert _metric(importer, new) == before[new] + 1
    assert _metric(importer, duplicate) == before[duplicate] + 1
    assert _metric(importer, signature) == before[signature] + 1
    assert _metric(importer, "picexchange_audit_lines") == before["picexchange_audit_lines"] + 1
    text = importer.http.get("/metrics").text
    assert "# TYPE picexchange_received_total counter" in text
    assert re.search(r'^picexchange_inbound_messages\{state="received"\} [\d.]+$', text, re.MULTILINE)
    assert "# TYPE picexchange_delivery_attempts_total counter" in text  # the outbox worker's, in the same registry


def test_a_forged_receipt_shows_in_the_back_office_metrics(
    pki: TestPki, notification: Notification, tmp_path: Path
) -> None:
    """The outbox worker's counters are in /metrics: a receipt signed by an impostor counts as ``trust``."""
    from test_outbox_receipts import _partner, signed_by

    now = _now()
    impostor = make_test_pki([IMPORTER], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    forged = 'picexchange_delivery_unverified_replies_total{reason="trust"}'
    with _partner(pki, [signed_by(impostor, IMPORTER)]) as partner:
        trust = _registry(pki, EXPORTER, {EXPORTER: None, IMPORTER: partner.url})
        outbox = OutboxConfig(poll_seconds=0.05, lease_seconds=60, max_attempts=1)
        with _gateway(tmp_path, trust, outbox=outbox) as node:
            assert _metric(node, forged) == 0
            message_id = node.submit(notification, to=IMPORTER)["message_id"]
            node.wait_for(message_id, "failed")
            assert _metric(node, forged) == 1
            assert _metric(node, 'picexchange_delivery_attempts_total{outcome="unverified-reply"}') == 1
            assert _metric(node, 'picexchange_deliveries_failed_total{cause="attempts"}') == 1


def test_two_gateways_in_one_process_count_apart(pki: TestPki, notification: Notification, tmp_path: Path) -> None:
    """Each gateway has its own Prometheus registry: no clash on the metric names, no shared counts."""
    trust = _registry(pki, IMPORTER, {EXPORTER: None, IMPORTER: None})
    new = 'picexchange_received_total{message_type="Notification",outcome="new"}'
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with _gateway(tmp_path / "one", trust) as one, _gateway(tmp_path / "two", trust) as two:
        with httpx.Client(timeout=30) as http:
            assert _post(http, one, _seal(pki, notification).raw).status_code == 200
        assert (_metric(one, new), _metric(two, new)) == (1, 0)


def test_when_the_store_fails_the_partner_gets_503_and_no_receipt(
    pki: TestPki, notification: Notification, tmp_path: Path, partner: httpx.Client
) -> None:
    """Nothing durable, nothing acknowledged: a signed Error with 503 and Retry-After, so the sender retries."""
    with _gateway(tmp_path, _registry(pki, IMPORTER, {EXPORTER: None, IMPORTER: None})) as node:
        node.running.store.close()
        sealed = _seal(pki, notification)
        response = _post(partner, node, sealed.raw)
        error = _signed_error(pki, response, status=503, code="unavailable")
        assert error.ref_to_message_id == sealed.message_id
        assert response.headers["retry-after"] == "5"
        health = partner.get(f"{node.url}/healthz")
        assert health.status_code == 503 and health.json() == {"status": "unavailable"}
        assert health.headers["retry-after"] == "5"
