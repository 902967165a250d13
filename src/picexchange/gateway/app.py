"""The reference gateway as a FastAPI app: the partner endpoint, the back-office API, health and metrics.

Route handlers are short: read the body (bounded), hand it to :func:`picexchange.exchange.accept`, store it
in one transaction, answer the signed receipt. Everything the protocol decides is decided in ``exchange``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from picexchange import codec, exchange
from picexchange.errors import (
    ConflictError,
    MessageError,
    MessageTooLarge,
    ParseError,
    PicExchangeError,
    StoreError,
)
from picexchange.models.base import XmlModel
from picexchange.models.envelope import Envelope, Error, Receipt
from picexchange.store import InboundMessage, OutboundMessage, OutboundState, Store
from picexchange.trust import Identity, TrustStore

__all__ = ["Gateway", "create_app"]

log = logging.getLogger("picexchange.gateway")

XML = "application/xml"
_XML_TYPES = ("application/xml", "text/xml")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Metrics:
    """Counters for ``/metrics`` (Prometheus text format); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: Counter[tuple[str, str]] = Counter()
        self.rejected: Counter[str] = Counter()
        self.submitted: Counter[str] = Counter()
        self.seconds = 0.0
        self.requests = 0

    def accepted(self, message_type: str, outcome: str, seconds: float) -> None:
        """Count an accepted message (``new`` or ``duplicate``)."""
        with self._lock:
            self.received[(message_type, outcome)] += 1
            self.seconds += seconds
            self.requests += 1

    def queued(self, message_type: str) -> None:
        """Count a document queued by the back office."""
        with self._lock:
            self.submitted[message_type] += 1

    def refused(self, code: str, seconds: float) -> None:
        """Count a refused message by error code."""
        with self._lock:
            self.rejected[code] += 1
            self.seconds += seconds
            self.requests += 1


class Gateway:
    """The gateway's parts, wired: our identity, the registry, the store, the clock and the limits.

    Attributes:
        me: our signing identity.
        trust: the partner registry.
        store: the message store (already migrated).
        policy: what inbound messages must satisfy.
        max_body_bytes: largest body read.
        body_timeout: seconds within which the whole body must arrive.
        backoffice_token: bearer token for the back-office API, or None.
        clock: the time source (aware datetimes).
        wake: called after a document is queued, to wake the outbox worker.

    """

    def __init__(
        self,
        *,
        me: Identity,
        trust: TrustStore,
        store: Store,
        policy: exchange.AcceptPolicy = exchange.DEFAULT_ACCEPT_POLICY,
        max_body_bytes: int = 8 * 1024 * 1024,
        body_timeout: float = 30.0,
        backoffice_token: str | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.me = me
        self.trust = trust
        self.store = store
        self.policy = policy
        self.max_body_bytes = min(max_body_bytes, policy.limits.max_bytes)
        self.body_timeout = body_timeout
        self.backoffice_token = backoffice_token
        self.clock = clock
        self.wake = wake
        self.metrics = Metrics()

    # -------------------------------------------------------------------------------------- partner endpoint

    def receive(self, raw: bytes, now: dt.datetime) -> tuple[int, bytes]:
        """Accept, receipt and store one message; return the HTTP status and the signed reply."""
        inbound = exchange.accept(raw, me=self.me, trust=self.trust, now=now, policy=self.policy)
        header = inbound.envelope.header
        receipt = exchange.receipt_for(inbound, me=self.me, now=now)
        recorded = self.store.record_inbound(
            InboundMessage(
                sender=header.sender,
                receiver=header.receiver,
                message_id=str(header.message_id),
                conversation_id=header.conversation_id,
                message_type=header.message_type.value,
                utility_block=header.utility_block.value,
                created=header.created,
                received_at=now,
                data=raw,
                ref_to_message_id=str(header.ref_to_message_id) if header.ref_to_message_id else None,
            ),
            receipt.raw,
        )
        outcome = "duplicate" if recorded.duplicate else "new"
        log.info(
            "message accepted",
            extra={
                "message_id": str(header.message_id),
                "sender": header.sender,
                "message_type": header.message_type.value,
                "outcome": outcome,
                "digest": inbound.digest,
            },
        )
        self.metrics.accepted(header.message_type.value, outcome, (self.clock() - now).total_seconds())
        return 200, recorded.receipt

    def refuse(self, error: MessageError, raw: bytes | None, now: dt.datetime) -> tuple[int, bytes]:
        """Audit a refused message and return its signed Error reply (nothing of the message is stored)."""
        body = raw if raw is not None and error.code not in ("too-large", "parse") else None
        reply = exchange.error_for(error, raw=body, me=self.me, now=now, limits=self.policy.limits)
        document = reply.envelope.document
        assert isinstance(document, Error)
        sender = reply.receiver if reply.receiver != exchange.UNKNOWN_PARTICIPANT else None
        message_id = str(document.ref_to_message_id) if document.ref_to_message_id else None
        try:
            self.store.audit(at=now, sender=sender, message_id=message_id, code=error.code, text=error.text[:1000])
        except StoreError:
            log.exception("audit line not written", extra={"message_id": message_id, "code": error.code})
        log.warning(
            "message refused",
            extra={
                "message_id": message_id,
                "sender": sender,
                "code": error.code,
                "path": error.path,
                "text": error.text[:300],
            },
        )
        self.metrics.refused(error.code, (self.clock() - now).total_seconds())
        return error.http_status, reply.raw

    def handle(self, raw: bytes, now: dt.datetime) -> tuple[int, bytes, dict[str, str]]:
        """Run :meth:`receive`, turning every failure into a signed Error; never raises."""
        try:
            status, body = self.receive(raw, now)
            return status, body, {}
        except MessageError as exc:
            status, body = self.refuse(exc, raw, now)
            return status, body, {}
        except StoreError as exc:
            # Nothing was acknowledged: the sender must retry the same bytes.
            log.error("store failed; message not accepted", extra={"error": str(exc)})
            internal = MessageError("the gateway cannot store messages right now; retry later")
            internal.http_status = 503
            status, body = self.refuse(internal, raw, now)
            return status, body, {"Retry-After": "5"}
        except Exception:
            log.exception("internal error while receiving a message")
            internal = MessageError("internal error; the message was not accepted")
            internal.http_status = 500
            status, body = self.refuse(internal, raw, now)
            return status, body, {}

    # -------------------------------------------------------------------------------------- back office

    def submit(self, submission: Submission, now: dt.datetime) -> exchange.Sealed:
        """Wrap, sign and queue a business document for a partner, in one store transaction."""
        partner = self.trust.partner(submission.receiver)
        if partner is None:
            raise LookupError(f"unknown partner {submission.receiver}")
        document = codec.from_json(json.dumps(submission.document).encode("utf-8"))
        if isinstance(document, Envelope | Receipt | Error):
            raise TypeError("submit a business document, not an envelope or a transport reply")
        sealed = exchange.seal(
            document,  # type: ignore[arg-type]
            me=self.me,
            to=partner.id,
            now=now,
            conversation_id=submission.conversation_id,
            ref_to=submission.ref_to_message_id,
            test=submission.test,
        )
        header = sealed.envelope.header
        self.store.enqueue(
            OutboundMessage(
                message_id=str(header.message_id),
                receiver=partner.id,
                endpoint=partner.id,
                conversation_id=header.conversation_id,
                message_type=header.message_type.value,
                created=header.created,
                data=sealed.raw,
            ),
            at=now,
        )
        self.metrics.queued(header.message_type.value)
        log.info(
            "document queued",
            extra={
                "message_id": str(header.message_id),
                "receiver": partner.id,
                "message_type": header.message_type.value,
            },
        )
        self.wake()
        return sealed


# ------------------------------------------------------------------------------------------ API schemas


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Submission(_Api):
    """A business document for a partner, as JSON (the form ``picexchange convert --to json`` writes)."""

    receiver: str = Field(description="Participant id of the partner, e.g. MY:DOE.", examples=["MY:DOE"])
    document: dict[str, Any] = Field(
        description='One business document keyed by its name, e.g. {"Notification": {...}}.'
    )
    conversation_id: str | None = Field(None, description="Notification number; by default the document's own.")
    ref_to_message_id: UUID | None = Field(None, description="The message this one answers.")
    test: bool = Field(False, description="Mark as an integration test message, never acted on.")


class Queued(_Api):
    """A document accepted into the outbox."""

    message_id: UUID
    status: str
    digest: str = Field(description="Base64 SHA-256 of the signed envelope; the partner's receipt must quote it.")


class Problem(_Api):
    """Why a back-office request was refused."""

    code: str
    text: str
    issues: list[dict[str, Any]] = []


class OutboundView(_Api):
    """Where a message we send stands (queued, sending, receipted, failed)."""

    message_id: str
    state: str
    final: bool
    attempts: int
    last_error: str | None
    enqueued_at: dt.datetime
    updated_at: dt.datetime
    next_attempt_at: dt.datetime | None
    receipted_at: dt.datetime | None
    receipt_xml: str | None = Field(description="The partner's signed receipt, once receipted.")


class InboundView(_Api):
    """One received message from the inbox log."""

    sequence: int
    sender: str
    receiver: str
    message_id: str
    conversation_id: str
    message_type: str
    utility_block: str
    ref_to_message_id: str | None
    created: dt.datetime
    received_at: dt.datetime
    digest: str
    document: dict[str, Any] = Field(description="The envelope as JSON (picexchange JSON form).")
    xml: str = Field(description="The exact signed bytes received, as text (UTF-8).")


class InboxPageView(_Api):
    """A page of the inbox log; pass ``next`` as ``since`` for the following page."""

    messages: list[InboundView]
    next: int
    has_more: bool


class Acknowledgement(_Api):
    """Inbox sequence numbers the back office has taken over."""

    sequences: list[int] = Field(min_length=1)


class InboundStatusView(_Api):
    """Where a received message stands (received, delivered, acknowledged)."""

    sender: str
    message_id: str
    state: str
    digest: str
    received_at: dt.datetime
    delivered_at: dt.datetime | None
    acknowledged_at: dt.datetime | None


# ------------------------------------------------------------------------------------------ the app


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MessageTooLarge(f"message of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0

    async def collect() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise MessageTooLarge(f"message exceeds the limit of {limit} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        error = ParseError(f"the message body did not arrive within {timeout:g} seconds")
        error.http_status = 408
        raise error from None
    return b"".join(chunks)


def _problem(status: int, *, code: str, text: str, issues: list[dict[str, Any]] | None = None) -> JSONResponse:
    """Return a back-office refusal as JSON (the Problem schema) with its HTTP status."""
    return JSONResponse(Problem(code=code, text=text, issues=issues or []).model_dump(), status_code=status)


def _view(envelope: XmlModel) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(codec.to_json(envelope, indent=None))
    return value


def create_app(
    gateway: Gateway, *, title: str = "picexchange gateway", lifespan: Callable[[FastAPI], Any] | None = None
) -> FastAPI:
    """Return the FastAPI app of ``gateway`` (partner endpoint, back-office API, /healthz, /metrics).

    Args:
        gateway: the wired parts.
        title: the OpenAPI title.
        lifespan: an async context manager factory run around the app (starts and stops the outbox worker).

    """
    app = FastAPI(
        lifespan=lifespan,
        title=title,
        version="1.0",
        description=(
            f"Reference gateway of {gateway.me.participant}. Partners POST signed envelopes to "
            "`/ub/v1/messages` and get a signed Receipt or Error back. The back office submits documents, "
            "pulls its inbox and reads message status under `/api/v1`."
        ),
    )

    def backoffice(authorization: Annotated[str | None, Header()] = None) -> None:
        token = gateway.backoffice_token
        if token is not None and authorization != f"Bearer {token}":
            raise HTTPException(status_code=401, detail="a valid bearer token is required")

    secured = [Depends(backoffice)]

    @app.post(
        "/ub/v1/messages",
        tags=["partner"],
        summary="Receive a signed envelope from a partner",
        response_class=Response,
        responses={
            200: {"content": {XML: {}}, "description": "Signed Receipt (the original one for a redelivery)."},
            400: {"content": {XML: {}}, "description": "Signed Error: parse or schema."},
            403: {"content": {XML: {}}, "description": "Signed Error: signature or trust."},
            409: {"content": {XML: {}}, "description": "Signed Error: same message id, other bytes."},
            413: {"content": {XML: {}}, "description": "Signed Error: too large."},
            415: {"content": {XML: {}}, "description": "Signed Error: not application/xml."},
            422: {"content": {XML: {}}, "description": "Signed Error: business rules."},
        },
    )
    async def receive(request: Request) -> Response:
        now = gateway.clock()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw: bytes | None = None
        try:
            if content_type not in _XML_TYPES:
                error = ParseError(f"Content-Type must be application/xml, not {content_type or 'missing'}")
                error.http_status = 415
                raise error
            raw = await _read_body(request, gateway.max_body_bytes, gateway.body_timeout)
        except MessageError as exc:
            status, body = await run_in_threadpool(gateway.refuse, exc, None, now)
            return Response(body, status_code=status, media_type=XML)
        status, body, headers = await run_in_threadpool(gateway.handle, raw, now)
        return Response(body, status_code=status, media_type=XML, headers=headers)

    @app.post(
        "/api/v1/outbox",
        tags=["back office"],
        status_code=202,
        dependencies=secured,
        response_model=Queued,
        responses={422: {"model": Problem}, 404: {"model": Problem}},
    )
    def submit(submission: Submission) -> Any:
        """Wrap, sign and queue a business document for a partner; delivery is retried until receipted."""
        try:
            sealed = gateway.submit(submission, gateway.clock())
        except LookupError as exc:
            return _problem(404, code="unknown-partner", text=str(exc))
        except (TypeError, ValueError) as exc:
            return _problem(422, code="not-a-document", text=str(exc))
        except MessageError as exc:
            issues = [
                {"path": i.path, "line": i.line, "text": i.text, "rule_id": i.rule_id}
                for i in getattr(exc, "issues", ()) or ()
            ]
            return _problem(422, code=exc.code, text=exc.text, issues=issues)
        except ConflictError as exc:  # pragma: no cover - fresh ids do not collide
            return _problem(409, code="conflict", text=str(exc))
        return Queued(message_id=sealed.message_id, status=OutboundState.QUEUED.value, digest=sealed.digest)

    @app.get(
        "/api/v1/outbox/{message_id}",
        tags=["back office"],
        dependencies=secured,
        response_model=OutboundView,
        responses={404: {"model": Problem}},
    )
    def outbound_status(message_id: UUID) -> Any:
        """Return where a message we send stands: queued, sending, receipted (final) or failed (final)."""
        status = gateway.store.outbound_status(str(message_id))
        if status is None:
            return _problem(404, code="not-found", text=f"no outbound message {message_id}")
        return OutboundView(
            message_id=str(message_id),
            state=status.state.value,
            final=status.state in (OutboundState.RECEIPTED, OutboundState.FAILED),
            attempts=status.attempts,
            last_error=status.last_error,
            enqueued_at=status.enqueued_at,
            updated_at=status.updated_at,
            next_attempt_at=status.next_attempt_at,
            receipted_at=status.receipted_at,
            receipt_xml=status.receipt.decode("utf-8") if status.receipt else None,
        )

    @app.get("/api/v1/inbox", tags=["back office"], dependencies=secured)
    def inbox(
        since: Annotated[int, Query(ge=0, description="`next` of the previous page; 0 for the start.")] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> InboxPageView:
        """Return received messages after the cursor (an append-only log), marking them delivered."""
        page = gateway.store.inbox(since=since, limit=limit, at=gateway.clock())
        views = []
        for entry in page.messages:
            message = entry.message
            envelope = codec.from_xml(message.data, Envelope, limits=gateway.policy.limits)
            views.append(
                InboundView(
                    sequence=entry.sequence,
                    sender=message.sender,
                    receiver=message.receiver,
                    message_id=message.message_id,
                    conversation_id=message.conversation_id,
                    message_type=message.message_type,
                    utility_block=message.utility_block,
                    ref_to_message_id=message.ref_to_message_id,
                    created=message.created,
                    received_at=message.received_at,
                    digest=entry.digest,
                    document=_view(envelope),
                    xml=message.data.decode("utf-8", errors="replace"),
                )
            )
        return InboxPageView(messages=views, next=page.next, has_more=page.has_more)

    @app.post(
        "/api/v1/inbox/ack",
        tags=["back office"],
        status_code=204,
        dependencies=secured,
        responses={409: {"model": Problem}},
    )
    def acknowledge(ack: Acknowledgement) -> Response:
        """Acknowledge inbox entries the back office has taken over (all or none)."""
        try:
            gateway.store.acknowledge_inbound(ack.sequences, at=gateway.clock())
        except StoreError as exc:
            return _problem(409, code="not-acknowledged", text=str(exc))
        return Response(status_code=204)

    @app.get(
        "/api/v1/inbox/{sender}/{message_id}",
        tags=["back office"],
        dependencies=secured,
        response_model=InboundStatusView,
        responses={404: {"model": Problem}},
    )
    def inbound_status(sender: str, message_id: UUID) -> Any:
        """Return where a received message stands: received, delivered or acknowledged (final)."""
        status = gateway.store.inbound_status(sender, str(message_id))
        if status is None:
            return _problem(404, code="not-found", text=f"no message {message_id} from {sender}")
        return InboundStatusView(
            sender=sender,
            message_id=str(message_id),
            state=status.state.value,
            digest=status.digest,
            received_at=status.received_at,
            delivered_at=status.delivered_at,
            acknowledged_at=status.acknowledged_at,
        )

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Any:
        """Report whether the gateway can reach its store."""
        try:
            gateway.store.counts()
        except PicExchangeError as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return {"status": "ok", "participant": gateway.me.participant}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics() -> str:
        """Prometheus text exposition of message counters and store states."""
        return _prometheus(gateway)

    return app


def _prometheus(gateway: Gateway) -> str:
    m = gateway.metrics
    lines = [
        "# HELP picexchange_received_total Messages accepted from partners.",
        "# TYPE picexchange_received_total counter",
    ]
    with m._lock:
        received = dict(m.received)
        rejected = dict(m.rejected)
        submitted = dict(m.submitted)
        seconds, requests = m.seconds, m.requests
    for (message_type, outcome), count in sorted(received.items()):
        lines.append(f'picexchange_received_total{{message_type="{message_type}",outcome="{outcome}"}} {count}')
    lines += [
        "# HELP picexchange_rejected_total Messages refused with a signed Error.",
        "# TYPE picexchange_rejected_total counter",
    ]
    for code, count in sorted(rejected.items()):
        lines.append(f'picexchange_rejected_total{{code="{code}"}} {count}')
    lines += [
        "# HELP picexchange_submitted_total Documents queued by the back office.",
        "# TYPE picexchange_submitted_total counter",
    ]
    for message_type, count in sorted(submitted.items()):
        lines.append(f'picexchange_submitted_total{{message_type="{message_type}"}} {count}')
    lines += [
        "# HELP picexchange_receive_seconds Time spent on partner messages.",
        "# TYPE picexchange_receive_seconds summary",
        f"picexchange_receive_seconds_sum {seconds:.6f}",
        f"picexchange_receive_seconds_count {requests}",
    ]
    counts = gateway.store.counts()
    lines += [
        "# HELP picexchange_inbound_messages Stored inbound messages by state.",
        "# TYPE picexchange_inbound_messages gauge",
    ]
    lines += [f'picexchange_inbound_messages{{state="{s.value}"}} {n}' for s, n in counts.inbound.items()]
    lines += [
        "# HELP picexchange_outbound_messages Outbox messages by state.",
        "# TYPE picexchange_outbound_messages gauge",
    ]
    lines += [f'picexchange_outbound_messages{{state="{s.value}"}} {n}' for s, n in counts.outbound.items()]
    lines += [
        "# HELP picexchange_audit_lines Audit lines of refused messages.",
        "# TYPE picexchange_audit_lines gauge",
        f"picexchange_audit_lines {counts.rejected}",
    ]
    return "\n".join(lines) + "\n"
