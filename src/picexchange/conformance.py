"""The conformance kit: black-box checks of any Single Window gateway's partner endpoint.

A vendor's gateway (or ours) is tested from outside, as a partner sees it: the kit signs messages as a
participant of the partner registry (its ``[[me]]`` entries), POSTs them to the target's partner endpoint, and
holds each answer to the protocol (docs/gateway.md section 5, docs/cases.md "In the gateway"): a valid message
gets a Receipt signed by the addressed participant's registered certificate, quoting the message id and the
SHA-256 of exactly the bytes sent; each kind of bad message is refused with a signed Error and its stable
code; the case rules visible from outside hold. Each check has a stable id (``receipt.valid``), a one-line
description and a function that returns what it expected and what came (:data:`CHECKS`).

    setup = KitSetup.from_registry(load_registry("partners.toml").trust, target="https://sw.example.my",
                                   sender="AU:DCCEEW")
    report = run_checks(setup)
    report.passed, junit_xml(report)

The kit sends real messages of a real case (an Australia to Malaysia plastic-waste notification, packaged
with picexchange), under fresh notification numbers ``<CC>-CONF-<hex>`` so that every run starts new cases;
they are not marked as test messages, since a gateway acts on no case of a test message. Run it against a
test instance of a gateway, never a production one.

With ``listen``, the kit also runs a small partner endpoint of its own (stdlib ``http.server``, plain HTTP),
which receives what the target sends back later (the automatic ClearanceResult "held"), verifies it like any
partner message and answers with a signed Receipt. The target's registry must name that URL as the endpoint of
the kit's exporting Customs participant.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import http.server
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import httpx
from lxml import etree

from picexchange import codec, exchange, resources, signing, testpki
from picexchange.errors import ConfigurationError, MessageError
from picexchange.models.base import NS_ENVELOPE
from picexchange.models.envelope import Document, Envelope, Error, MessageType, Receipt, UtilityBlock, utility_block_of
from picexchange.models.export import ClearanceResult, ClearanceStatus, ExportData
from picexchange.models.pic import Acknowledgement, Notification
from picexchange.trust import Hosted, Identity, ParticipantRole, Partner, TrustStore

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "KitSetup",
    "KitEndpoint",
    "ConformanceReport",
    "Session",
    "Verdict",
    "junit_xml",
    "partner_endpoint",
    "run_checks",
]

#: The path of a partner endpoint (docs/gateway.md section 2), appended to a target URL given without a path.
MESSAGES_PATH = "/ub/v1/messages"

#: The participant id the unknown-sender check signs as: in no registry.
STRANGER = "ZZ:CONFORMANCE"

#: The receiver of the wrong-receiver check when the registry names no participant of a third country.
NOWHERE = "ZZ:NOWHERE"

#: How old the Created of the stale message is (gateways refuse messages older than 30 days by default).
STALE_AGE = dt.timedelta(days=60)


class Verdict(enum.StrEnum):
    """How a check ended."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckFailed(Exception):
    """A check's expectation was not met: what was expected and what came."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(f"expected {expected}; found {found}")
        self.expected = expected
        self.found = found


class CheckSkipped(Exception):
    """A check cannot run with this set-up; the reason says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One check's outcome.

    Attributes:
        check_id: the stable id (``receipt.valid``).
        description: what the check holds the target to, in one line.
        verdict: passed, failed or skipped.
        expected: what the check expected.
        found: what came (for a skip, why it was skipped).
        seconds: how long the check took.

    """

    check_id: str
    description: str
    verdict: Verdict
    expected: str
    found: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConformanceReport:
    """Every check's outcome, in the order they ran.

    Attributes:
        target: the partner endpoint tested.
        results: one per check.

    """

    target: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """Return whether no check failed (skipped checks do not fail a run)."""
        return all(result.verdict is not Verdict.FAILED for result in self.results)

    def count(self, verdict: Verdict) -> int:
        """Return how many checks ended with ``verdict``."""
        return sum(1 for result in self.results if result.verdict is verdict)


# ------------------------------------------------------------------------------------------------ set-up


def partner_endpoint(target: str) -> str:
    """Return the URL messages are POSTed to: ``target`` itself, or with ``/ub/v1/messages`` when it has no path.

    Raises:
        ConfigurationError: ``target`` is not an http(s) URL.

    """
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"--target: {target!r} is not an http(s) URL")
    if parts.path in ("", "/"):
        return target.rstrip("/") + MESSAGES_PATH
    return target


@dataclass(frozen=True, slots=True, kw_only=True)
class KitSetup:
    """Who the kit is, whom it tests and how.

    Attributes:
        url: the target's partner endpoint.
        trust: the registry: our hosted identities and the target's participants with their certificates.
        sender: the competent authority we send PIC messages as (``--as``).
        receiver: the target's participant the PIC messages go to (``--to``).
        exporting_customs: our Customs identity that sends ExportData (a hosted ``[[me]]`` of our country with
            the role ``customs``), or None.
        importing_customs: the target's Customs participant (the registry's Customs of the receiver's country),
            or None.
        listen: where the kit's own partner endpoint listens (host, port), or None.
        max_body_bytes: the target's body limit; the oversize check sends one byte more.
        timeout: seconds for each HTTP exchange.
        held_timeout: seconds to wait for the held ClearanceResult.
        verify_tls: for an https target: True (the system's CAs), or a CA bundle path.

    """

    url: str
    trust: TrustStore
    sender: Identity
    receiver: Partner
    exporting_customs: Identity | None = None
    importing_customs: Partner | None = None
    listen: tuple[str, int] | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    timeout: float = 60.0
    held_timeout: float = 60.0
    verify_tls: bool | str = True

    @classmethod
    def from_registry(
        cls,
        trust: TrustStore,
        *,
        target: str,
        sender: str,
        to: str | None = None,
        listen: str | None = None,
        max_body_bytes: int = 8 * 1024 * 1024,
        timeout: float = 60.0,
        held_timeout: float = 60.0,
        verify_tls: bool | str = True,
    ) -> KitSetup:
        """Work out the set-up from the registry, ``--as`` and ``--to``.

        Without ``to``, the target participant is the registry's one competent authority whose endpoint is
        ``target`` (or, failing that, the one competent authority of another country than ours).

        Raises:
            ConfigurationError: the registry hosts nobody, ``sender`` is not hosted, the target participant
                cannot be told or is not in the registry, ``listen`` is not HOST:PORT.

        """
        url = partner_endpoint(target)
        hosted = trust.hosted
        if hosted is None:
            raise ConfigurationError("--partners: the registry has no [[me]] entry to send as")
        identity = hosted.identity(sender)
        if identity is None:
            known = ", ".join(sorted(hosted.participants))
            raise ConfigurationError(f"--as: {sender} is not a [[me]] entry of the registry (it hosts {known})")
        receiver = _receiver(trust, url=url, to=to, country=hosted.country)
        if receiver.country == hosted.country:
            raise ConfigurationError(f"--to: {receiver.id} is of our own country; the target is another Single Window")
        customs_identity = next(
            (
                item
                for item in hosted
                if (partner := trust.partner(item.participant)) is not None and partner.role is ParticipantRole.CUSTOMS
            ),
            None,
        )
        importing = next(
            (p for p in trust if p.country == receiver.country and p.role is ParticipantRole.CUSTOMS), None
        )
        return cls(
            url=url,
            trust=trust,
            sender=identity,
            receiver=receiver,
            exporting_customs=customs_identity,
            importing_customs=importing,
            listen=_host_port(listen) if listen is not None else None,
            max_body_bytes=max_body_bytes,
            timeout=timeout,
            held_timeout=held_timeout,
            verify_tls=verify_tls,
        )

    @property
    def hosted(self) -> Hosted:
        """Return our hosted identities."""
        assert self.trust.hosted is not None  # from_registry made sure
        return self.trust.hosted

    @property
    def target_participants(self) -> frozenset[str]:
        """Return the registry's participants of the target's country: whom the target's Single Window hosts."""
        return frozenset(p.id for p in self.trust if p.country == self.receiver.country)


def _receiver(trust: TrustStore, *, url: str, to: str | None, country: str) -> Partner:
    if to is not None:
        partner = trust.partner(to)
        if partner is None:
            raise ConfigurationError(f"--to: {to} is not a [[partner]] of the registry")
        return partner
    authorities = [p for p in trust if p.role is ParticipantRole.COMPETENT_AUTHORITY and p.country != country]
    at_target = [p for p in authorities if p.endpoint is not None and partner_endpoint(p.endpoint) == url]
    candidates = at_target or authorities
    if len(candidates) != 1:
        names = ", ".join(sorted(p.id for p in candidates)) or "none"
        raise ConfigurationError(
            f"--to: name the target participant; the registry has {len(candidates)} competent authorities "
            f"that could be the target ({names})"
        )
    return candidates[0]


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigurationError(f"--listen: {value!r} is not HOST:PORT (e.g. 127.0.0.1:8900)")
    return host.strip("[]"), int(port)


# ------------------------------------------------------------------------------------- the kit's own endpoint


@dataclass(slots=True)
class _Inbox:
    messages: list[Envelope] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)


class KitEndpoint:
    """The kit's own partner endpoint: verifies what the target sends, answers a signed Receipt, keeps it.

    Every POST (whatever the path) is checked with :func:`picexchange.exchange.accept_for` for our hosted
    participants; a refused one is answered with our signed Error.
    """

    def __init__(self, setup: KitSetup, clock: Callable[[], dt.datetime]) -> None:
        assert setup.listen is not None
        self._setup = setup
        self._clock = clock
        self._inbox = _Inbox()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, setup.max_body_bytes))
                status, body = listener.receive(raw)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server name)
                return

        host, port = setup.listen
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigurationError(f"--listen: cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="conformance-listener", daemon=True)

    def receive(self, raw: bytes) -> tuple[int, bytes]:
        """Accept one message for a hosted participant; return the HTTP status and our signed reply."""
        now = self._clock()
        hosted = self._setup.hosted
        try:
            inbound = exchange.accept_for(raw, hosted=hosted.participants, trust=self._setup.trust, now=now)
        except MessageError as exc:
            return exc.http_status, exchange.error_for(exc, raw=raw, me=hosted, now=now).raw
        me = hosted.identity(inbound.envelope.header.receiver) or hosted.first
        receipt = exchange.receipt_for(inbound, me=me, now=now)
        with self._inbox.condition:
            self._inbox.messages.append(inbound.envelope)
            self._inbox.condition.notify_all()
        return 200, receipt.raw

    def wait_for(self, predicate: Callable[[Envelope], bool], timeout: float) -> Envelope | None:
        """Return the first received envelope ``predicate`` accepts, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._inbox.condition:
            while True:
                found = next((item for item in self._inbox.messages if predicate(item)), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._inbox.condition.wait(left)

    @contextmanager
    def running(self) -> Iterator[KitEndpoint]:
        """Serve in a background thread until the block ends."""
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)


# --------------------------------------------------------------------------------------------- the session


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    status: int
    body: bytes


def _document(name: str) -> Any:
    return codec.from_xml(resources.conformance_document_bytes(name), Envelope).document


class Session:
    """What the checks share: the set-up, an HTTP client, the clock, the documents and the kit's listener."""

    def __init__(
        self,
        setup: KitSetup,
        http: httpx.Client,
        clock: Callable[[], dt.datetime],
        listener: KitEndpoint | None,
    ) -> None:
        self.setup = setup
        self.http = http
        self.clock = clock
        self.listener = listener
        self.notification: Notification = _document("notification")
        self.acknowledgement: Acknowledgement = _document("acknowledgement")
        self.export_data: ExportData = _document("export-data")
        self._stranger: Identity | None = None

    # ---- building messages

    def fresh_number(self) -> str:
        """Return a notification number no gateway has seen: ``<our country>-CONF-<hex>``."""
        return f"{self.setup.hosted.country}-CONF-{secrets.token_hex(5).upper()}"

    def new_notification(self) -> Notification:
        """Return the packaged Notification under a fresh notification number."""
        return self.notification.model_copy(update={"notification_number": self.fresh_number()})

    def envelope(
        self,
        document: Document,
        *,
        me: Identity,
        to: str,
        created: dt.datetime | None = None,
        message_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Return the unsigned envelope of ``document`` from ``me`` to ``to``."""
        block = utility_block_of(type(document)) or UtilityBlock.PIC
        return Envelope.wrap(
            document,
            message_id=message_id or uuid.uuid4(),
            conversation_id=document.notification_number,  # type: ignore[union-attr]
            ref_to_message_id=None,
            sender=me.participant,
            receiver=to,
            created=created or self.clock(),
            test_indicator=None,
            utility_block=block,
        )

    def seal(
        self,
        document: Document,
        *,
        me: Identity | None = None,
        to: str | None = None,
        created: dt.datetime | None = None,
        message_id: uuid.UUID | None = None,
    ) -> exchange.Sealed:
        """Sign ``document`` from ``me`` (our ``--as``) to ``to`` (the target participant)."""
        me = me or self.setup.sender
        envelope = self.envelope(
            document, me=me, to=to or self.setup.receiver.id, created=created, message_id=message_id
        )
        raw = signing.sign(envelope, me)
        return exchange.Sealed(envelope=envelope, raw=raw, digest=exchange.digest_of(raw))

    def stranger(self) -> Identity:
        """Return a throw-away TEST identity of a participant in no registry."""
        if self._stranger is None:
            now = self.clock()
            pki = testpki.make_test_pki(
                [STRANGER], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
            )
            self._stranger = pki[STRANGER].identity
        return self._stranger

    # ---- sending

    def post(self, raw: bytes) -> _Answer:
        """POST ``raw`` to the target's partner endpoint."""
        try:
            response = self.http.post(self.setup.url, content=raw, headers={"Content-Type": "application/xml"})
        except httpx.HTTPError as exc:
            raise CheckFailed("an HTTP answer", f"no answer: {type(exc).__name__}: {exc}") from exc
        return _Answer(status=response.status_code, body=response.content)

    def post_oversize(self, size: int) -> _Answer:
        """POST a body of ``size`` bytes over a bare connection, reading the answer even if the body is cut off.

        A gateway may answer 413 as soon as it reads the Content-Length and close the connection; an HTTP client
        that is still writing then sees a reset instead of the answer.
        """
        parts = urlsplit(self.setup.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        try:
            sock: socket.socket = socket.create_connection((host, port), timeout=self.setup.timeout)
        except OSError as exc:
            raise CheckFailed("an HTTP answer", f"cannot connect to {parts.netloc}: {exc}") from exc
        with sock:
            if parts.scheme == "https":
                context = ssl.create_default_context(
                    cafile=self.setup.verify_tls if isinstance(self.setup.verify_tls, str) else None
                )
                if self.setup.verify_tls is False:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=host)
            chunk = b" " * 65536
            try:
                sock.sendall(head + b"<")
                sent = 1
                while sent < size:
                    piece = chunk[: min(len(chunk), size - sent)]
                    sock.sendall(piece)
                    sent += len(piece)
            except OSError:
                pass  # refused while we were writing: the answer may still be waiting
            return _read_answer(sock)

    # ---- reading answers

    def reply(self, answer: _Answer, *, expected_signer: str | None) -> Envelope:
        """Verify a signed reply from the target: a registered certificate of the signer its header names.

        Args:
            answer: the HTTP answer.
            expected_signer: the participant that must have signed; None for any participant of the target's
                country (an Error to a message addressed to none of them).

        """
        try:
            verified = signing.verify(answer.body, trust=self.setup.trust, now=self.clock())
        except MessageError as exc:
            shown = answer.body[:200].decode("utf-8", "replace").replace("\n", " ")
            raise CheckFailed(
                "a reply signed with a registered certificate of the target",
                f"HTTP {answer.status} with a reply that does not verify ({exc.code}: {exc.text}): {shown!r}",
            ) from exc
        signer = verified.signer.id
        if expected_signer is not None and signer != expected_signer:
            raise CheckFailed(f"a reply signed by {expected_signer}", f"a reply signed by {signer}")
        if expected_signer is None and signer not in self.setup.target_participants:
            raise CheckFailed(
                f"a reply signed by a participant of {self.setup.receiver.country}", f"a reply signed by {signer}"
            )
        return verified.envelope

    def receipt(self, answer: _Answer, sealed: exchange.Sealed) -> Envelope:
        """Check ``answer`` is a valid Receipt for ``sealed``; return its envelope."""
        if answer.status != 200:
            raise CheckFailed(f"HTTP 200 with a signed Receipt for {sealed.message_id}", _describe(answer))
        envelope = self.reply(answer, expected_signer=sealed.receiver)
        document = envelope.document
        if not isinstance(document, Receipt):
            raise CheckFailed("a Receipt", f"a {type(document).__name__}")
        header = envelope.header
        if header.receiver != sealed.sender:
            raise CheckFailed(f"a Receipt addressed to {sealed.sender}", f"one addressed to {header.receiver}")
        if header.ref_to_message_id != sealed.message_id or document.ref_to_message_id != sealed.message_id:
            raise CheckFailed(
                f"RefToMessageId {sealed.message_id}",
                f"{header.ref_to_message_id} (header), {document.ref_to_message_id} (Receipt)",
            )
        if document.received_digest.value != sealed.digest:
            raise CheckFailed(
                f"ReceivedDigest {sealed.digest} (SHA-256 of the bytes sent)", document.received_digest.value
            )
        return envelope

    def refusal(
        self,
        answer: _Answer,
        *,
        status: int,
        code: str,
        rule_id: str | None = None,
        ref_to: uuid.UUID | None = None,
        signer: str | None = None,
    ) -> Error:
        """Check ``answer`` is HTTP ``status`` with a signed Error ``code`` (issue ``rule_id``, about ``ref_to``)."""
        wanted = f"HTTP {status} with a signed Error {code}" + (f" ({rule_id})" if rule_id else "")
        if answer.status != status:
            raise CheckFailed(wanted, _describe(answer))
        envelope = self.reply(answer, expected_signer=signer)
        document = envelope.document
        if not isinstance(document, Error):
            raise CheckFailed(wanted, f"HTTP {answer.status} with a {type(document).__name__}")
        if document.code.value != code:
            raise CheckFailed(wanted, f"Error {document.code.value}: {document.text}")
        rules = [issue.rule_id for issue in document.issue if issue.rule_id]
        if rule_id is not None and rule_id not in rules:
            raise CheckFailed(wanted, f"Error {code} with issue rule ids {rules or 'none'}: {document.text}")
        if ref_to is not None and envelope.header.ref_to_message_id != ref_to:
            found = envelope.header.ref_to_message_id
            raise CheckFailed(f"an Error referring to {ref_to}", f"one referring to {found}")
        return document


def _read_answer(sock: socket.socket) -> _Answer:
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/"):
            raise CheckFailed("an HTTP answer", "the connection closed without one")
        status = int(lines[0].split()[1])
        length = next(
            (int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), None
        )
        while length is None or len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except OSError as exc:
        raise CheckFailed("an HTTP answer", f"the connection failed before one: {exc}") from exc
    return _Answer(status=status, body=body if length is None else body[:length])


def _describe(answer: _Answer) -> str:
    """Say what an answer was: its status and, when it is a signed Error or Receipt, what it says."""
    try:
        document = codec.from_xml(answer.body, Envelope).document
    except MessageError:
        shown = answer.body[:200].decode("utf-8", "replace").replace("\n", " ")
        return f"HTTP {answer.status}: {shown!r}"
    if isinstance(document, Error):
        return f"HTTP {answer.status} with Error {document.code.value}: {document.text}"
    return f"HTTP {answer.status} with a {type(document).__name__}"


# ------------------------------------------------------------------------------------------------ the checks


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One black-box check of a partner endpoint.

    Attributes:
        check_id: the stable id, ``area.name``.
        description: one line: what the target must do.
        expected: what passing looks like (shown when the check passes).
        run: returns what came when the expectation is met; raises :class:`CheckFailed` otherwise (or
            :class:`CheckSkipped` when it cannot run with this set-up).

    """

    check_id: str
    description: str
    expected: str
    run: Callable[[Session], str]


def _receipt_valid(session: Session) -> str:
    sealed = session.seal(session.new_notification())
    receipt = session.receipt(session.post(sealed.raw), sealed)
    return f"Receipt {receipt.header.message_id} signed by {receipt.header.sender}"


def _redelivery_idempotent(session: Session) -> str:
    sealed = session.seal(session.new_notification())
    first = session.receipt(session.post(sealed.raw), sealed)
    second = session.receipt(session.post(sealed.raw), sealed)
    if second.header.message_id != first.header.message_id:
        raise CheckFailed(
            f"the first Receipt again ({first.header.message_id}): the message is stored once",
            f"another Receipt ({second.header.message_id}): the message was taken as new",
        )
    return f"the same Receipt {first.header.message_id} twice"


def _redelivery_conflict(session: Session) -> str:
    sealed = session.seal(session.new_notification())
    session.receipt(session.post(sealed.raw), sealed)
    created = sealed.envelope.header.created + dt.timedelta(seconds=1)
    other = session.seal(sealed.envelope.document, created=created, message_id=sealed.message_id)
    session.refusal(session.post(other.raw), status=409, code="conflict", signer=sealed.receiver)
    return "HTTP 409 with a signed Error conflict"


def _bad_signature(session: Session) -> str:
    sealed = session.seal(session.new_notification())
    root = codec.parse(sealed.raw)
    value = root.find(f".//{{{signing.NS_DS}}}SignatureValue")
    assert value is not None and value.text is not None
    signature = bytearray(base64.b64decode(value.text))
    signature[len(signature) // 2] ^= 0x01
    value.text = base64.b64encode(bytes(signature)).decode("ascii")
    raw = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    session.refusal(session.post(raw), status=403, code="signature", ref_to=sealed.message_id, signer=sealed.receiver)
    return "HTTP 403 with a signed Error signature"


def _wrong_receiver(session: Session) -> str:
    # Addressed to a participant of a third country (a message for another Single Window), or to one in no
    # registry when ours lists none.
    setup = session.setup
    elsewhere = sorted(p.id for p in setup.trust if p.country not in (setup.hosted.country, setup.receiver.country))
    sealed = session.seal(session.new_notification(), to=elsewhere[0] if elsewhere else NOWHERE)
    session.refusal(session.post(sealed.raw), status=403, code="trust", rule_id="receiver-not-hosted")
    return "HTTP 403 with a signed Error trust (receiver-not-hosted)"


def _unknown_sender(session: Session) -> str:
    sealed = session.seal(session.new_notification(), me=session.stranger())
    session.refusal(
        session.post(sealed.raw),
        status=403,
        code="trust",
        rule_id="unknown-sender",
        ref_to=sealed.message_id,
        signer=sealed.receiver,
    )
    return "HTTP 403 with a signed Error trust (unknown-sender)"


def _sender_not_allowed(session: Session) -> str:
    notification = session.new_notification()
    sent = session.seal(notification)
    session.receipt(session.post(sent.raw), sent)
    # The exporting authority acknowledging its own notification: only an authority of import or transit may.
    acknowledgement = session.acknowledgement.model_copy(
        update={
            "notification_number": notification.notification_number,
            "country": session.setup.hosted.country,
            "competent_authority": session.setup.sender.participant,
        }
    )
    sealed = session.seal(acknowledgement)
    session.refusal(
        session.post(sealed.raw),
        status=403,
        code="sender-not-allowed",
        rule_id="case.sender.role",
        ref_to=sealed.message_id,
        signer=sealed.receiver,
    )
    return "HTTP 403 with a signed Error sender-not-allowed (case.sender.role)"


def _schema_invalid(session: Session) -> str:
    envelope = session.envelope(session.new_notification(), me=session.setup.sender, to=session.setup.receiver.id)
    root = codec.parse(codec.to_xml(envelope))
    notification = root.find(f"{{{NS_ENVELOPE}}}Body/*")
    assert notification is not None
    # A Notification without its notifier: the business document breaks its schema, the envelope does not.
    notifier = next(child for child in notification if etree.QName(child).localname == "Exporter")
    notification.remove(notifier)
    raw = signing.sign(root, session.setup.sender)
    session.refusal(
        session.post(raw), status=400, code="schema", ref_to=envelope.header.message_id, signer=envelope.header.receiver
    )
    return "HTTP 400 with a signed Error schema"


def _oversize(session: Session) -> str:
    size = session.setup.max_body_bytes + 1
    session.refusal(session.post_oversize(size), status=413, code="too-large")
    return f"HTTP 413 with a signed Error too-large for {size} bytes"


def _with_doctype(sealed: exchange.Sealed, internal_subset: str, name_text: str) -> bytes:
    """Return ``sealed``'s bytes with a DOCTYPE and an exporter name made of ``name_text`` (an entity reference)."""
    declaration, _, rest = sealed.raw.partition(b"?>")
    document = rest.replace(b"Southern Cross Polymers Pty Ltd", name_text.encode("ascii"), 1)
    doctype = f"\n<!DOCTYPE env:Envelope [\n{internal_subset}]>".encode("ascii")
    return declaration + b"?>" + doctype + document


def _xml_bomb(session: Session) -> str:
    lines = ['  <!ENTITY lol0 "lol">\n'] + [
        f'  <!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">\n' for level in range(1, 10)
    ]
    raw = _with_doctype(session.seal(session.new_notification()), "".join(lines), "&lol9;")
    session.refusal(session.post(raw), status=400, code="parse")
    return "HTTP 400 with a signed Error parse; nothing expanded"


def _doctype(session: Session) -> str:
    raw = _with_doctype(session.seal(session.new_notification()), "", "Southern Cross Polymers Pty Ltd")
    session.refusal(session.post(raw), status=400, code="parse")
    return "HTTP 400 with a signed Error parse"


def _stale_created(session: Session) -> str:
    sealed = session.seal(session.new_notification(), created=session.clock() - STALE_AGE)
    session.refusal(
        session.post(sealed.raw),
        status=403,
        code="trust",
        rule_id="created-too-old",
        ref_to=sealed.message_id,
        signer=sealed.receiver,
    )
    return f"HTTP 403 with a signed Error trust (created-too-old) for a Created {STALE_AGE.days} days old"


def _held_without_consent(session: Session) -> str:
    setup = session.setup
    if setup.exporting_customs is None:
        raise CheckSkipped("the registry hosts no Customs participant of our country ([[me]] with role customs)")
    if setup.importing_customs is None:
        raise CheckSkipped(f"the registry names no Customs participant of {setup.receiver.country}")
    if session.listener is None:
        raise CheckSkipped("no --listen: the kit cannot receive the ClearanceResult the target sends back")
    export = session.export_data.model_copy(update={"notification_number": session.fresh_number()})
    sealed = session.seal(export, me=setup.exporting_customs, to=setup.importing_customs.id)
    session.receipt(session.post(sealed.raw), sealed)

    def answers(envelope: Envelope) -> bool:
        return envelope.header.ref_to_message_id == sealed.message_id

    arrived = session.listener.wait_for(answers, setup.held_timeout)
    if arrived is None:
        raise CheckFailed(
            f"a signed ClearanceResult held from {sealed.receiver} at the kit's endpoint",
            f"nothing referring to {sealed.message_id} within {setup.held_timeout:g} s",
        )
    result = arrived.document
    if arrived.header.sender != sealed.receiver or arrived.header.message_type is not MessageType.CLEARANCE_RESULT:
        raise CheckFailed(
            f"a ClearanceResult from {sealed.receiver}",
            f"a {arrived.header.message_type.value} from {arrived.header.sender}",
        )
    assert isinstance(result, ClearanceResult)
    if result.status is not ClearanceStatus.HELD:
        raise CheckFailed("status held", f"status {result.status.value}")
    rules = sorted({item.rule_id for item in result.finding})
    return f"receipted, then ClearanceResult held from {arrived.header.sender} (findings: {', '.join(rules) or 'none'})"


#: Every check, in the order they run.
CHECKS: tuple[Check, ...] = (
    Check(
        check_id="receipt.valid",
        description="a valid Notification gets a Receipt signed by the addressed participant",
        expected="HTTP 200, Receipt signed with its registered certificate, right RefToMessageId and digest",
        run=_receipt_valid,
    ),
    Check(
        check_id="redelivery.idempotent",
        description="the same bytes sent again get the same Receipt (stored once)",
        expected="HTTP 200 twice with the same Receipt",
        run=_redelivery_idempotent,
    ),
    Check(
        check_id="redelivery.conflict",
        description="the same MessageId with other bytes is refused",
        expected="HTTP 409 with a signed Error conflict",
        run=_redelivery_conflict,
    ),
    Check(
        check_id="refuse.bad-signature",
        description="a message whose signature value was altered is refused",
        expected="HTTP 403 with a signed Error signature",
        run=_bad_signature,
    ),
    Check(
        check_id="refuse.wrong-receiver",
        description="a message to a participant the target does not host is refused",
        expected="HTTP 403 with a signed Error trust (receiver-not-hosted)",
        run=_wrong_receiver,
    ),
    Check(
        check_id="refuse.unknown-sender",
        description="a message from a participant in no registry is refused",
        expected="HTTP 403 with a signed Error trust (unknown-sender)",
        run=_unknown_sender,
    ),
    Check(
        check_id="refuse.sender-not-allowed",
        description="an Acknowledgement from the exporting authority is refused",
        expected="HTTP 403 with a signed Error sender-not-allowed (case.sender.role)",
        run=_sender_not_allowed,
    ),
    Check(
        check_id="refuse.schema-invalid",
        description="a signed Notification that breaks its schema is refused",
        expected="HTTP 400 with a signed Error schema",
        run=_schema_invalid,
    ),
    Check(
        check_id="refuse.oversize",
        description="a body over the target's limit is refused",
        expected="HTTP 413 with a signed Error too-large",
        run=_oversize,
    ),
    Check(
        check_id="refuse.xml-bomb",
        description="a billion-laughs entity bomb is refused unexpanded",
        expected="HTTP 400 with a signed Error parse",
        run=_xml_bomb,
    ),
    Check(
        check_id="refuse.doctype",
        description="a message with a (harmless) DOCTYPE is refused",
        expected="HTTP 400 with a signed Error parse",
        run=_doctype,
    ),
    Check(
        check_id="refuse.stale-created",
        description="a genuinely signed message created 60 days ago is refused",
        expected="HTTP 403 with a signed Error trust (created-too-old)",
        run=_stale_created,
    ),
    Check(
        check_id="case.held-without-consent",
        description="export data for a notification never consented to is receipted, then held",
        expected="HTTP 200 Receipt, then a signed ClearanceResult held at the kit's endpoint",
        run=_held_without_consent,
    ),
)


def run_checks(
    setup: KitSetup,
    *,
    checks: Sequence[Check] = CHECKS,
    on_start: Callable[[Check], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> ConformanceReport:
    """Run ``checks`` against the target in order; return every outcome (a failure never stops the run).

    Raises:
        ConfigurationError: the kit's own endpoint cannot listen where ``setup.listen`` says.

    """
    listener = KitEndpoint(setup, clock) if setup.listen is not None else None
    results: list[CheckResult] = []
    with httpx.Client(timeout=setup.timeout, verify=setup.verify_tls) as http:
        with listener.running() if listener is not None else _nothing():
            session = Session(setup, http, clock, listener)
            for check in checks:
                if on_start is not None:
                    on_start(check)
                result = _run_one(check, session)
                results.append(result)
                if on_result is not None:
                    on_result(result)
    return ConformanceReport(target=setup.url, results=tuple(results))


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _run_one(check: Check, session: Session) -> CheckResult:
    started = time.monotonic()
    expected = check.expected
    try:
        found = check.run(session)
        verdict = Verdict.PASSED
    except CheckFailed as failed:
        verdict, expected, found = Verdict.FAILED, failed.expected, failed.found
    except CheckSkipped as skipped:
        verdict, found = Verdict.SKIPPED, str(skipped)
    except MessageError as exc:  # something the kit itself could not read
        verdict, found = Verdict.FAILED, f"{exc.code}: {exc.text}"
    except Exception as exc:  # noqa: BLE001 - one check's accident must not stop the others or the report
        verdict, found = Verdict.FAILED, f"the check could not run: {type(exc).__name__}: {exc}"
    return CheckResult(
        check_id=check.check_id,
        description=check.description,
        verdict=verdict,
        expected=expected,
        found=found,
        seconds=time.monotonic() - started,
    )


# ------------------------------------------------------------------------------------------------ JUnit XML


def junit_xml(report: ConformanceReport) -> bytes:
    """Return the report as JUnit XML: one testsuite ``picexchange.conformance``, one testcase per check."""
    results = report.results
    total = sum(result.seconds for result in results)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="picexchange conformance" tests="{len(results)}" '
        f'failures="{report.count(Verdict.FAILED)}" skipped="{report.count(Verdict.SKIPPED)}" time="{total:.3f}">',
        f'  <testsuite name="picexchange.conformance" tests="{len(results)}" '
        f'failures="{report.count(Verdict.FAILED)}" errors="0" skipped="{report.count(Verdict.SKIPPED)}" '
        f'time="{total:.3f}">',
        f'    <properties><property name="target" value={quoteattr(report.target)}/></properties>',
    ]
    for result in results:
        opening = (
            f'    <testcase classname="picexchange.conformance" name={quoteattr(result.check_id)} '
            f'time="{result.seconds:.3f}"'
        )
        if result.verdict is Verdict.PASSED:
            lines.append(f"{opening}/>")
            continue
        lines.append(f"{opening}>")
        if result.verdict is Verdict.FAILED:
            message = f"expected {result.expected}; found {result.found}"
            lines.append(
                f'      <failure message={quoteattr(message)} type="conformance">'
                f"{escape(result.description)}\n{escape(message)}</failure>"
            )
        else:
            lines.append(f"      <skipped message={quoteattr(result.found)}/>")
        lines.append("    </testcase>")
    lines += ["  </testsuite>", "</testsuites>", ""]
    return "\n".join(lines).encode("utf-8")
