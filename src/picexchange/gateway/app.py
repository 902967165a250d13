"""The gateway's wired parts, shared by its two listeners: identity, registry, store, limits and metrics.

:class:`Gateway` does the work a route hands it: accept a partner's message (:meth:`Gateway.handle`), refuse
one with a signed Error (:meth:`Gateway.refuse`), seal and queue a back-office document
(:meth:`Gateway.submit`). Everything the protocol decides is decided in :mod:`picexchange.exchange`; the
routes live in :mod:`~picexchange.gateway.partner` and :mod:`~picexchange.gateway.backoffice`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from picexchange import codec, exchange
from picexchange.errors import (
    Busy,
    InternalError,
    MessageError,
    NotADocument,
    ParseError,
    StoreError,
    Unavailable,
    UnknownPartner,
)
from picexchange.gateway.problems import RETRY_AFTER_SECONDS
from picexchange.models.envelope import Envelope, Error, Receipt
from picexchange.store import Enqueued, Idempotency, InboundMessage, OutboundMessage, Store
from picexchange.trust import Identity, TrustStore

__all__ = ["Gateway", "Submission", "VerificationPool"]

_T = TypeVar("_T")

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
        clock: the time source (aware datetimes).
        wake: called after a document is queued, to wake the outbox worker.
        pool: where partner messages are parsed and verified (bounded).
        hosted: the participant ids this gateway acts for; back-office clients act only for these. Today
            the one ``[me]`` identity; a gateway hosting several agencies widens this set.

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
        clock: Callable[[], dt.datetime] = _utcnow,
        wake: Callable[[], None] = lambda: None,
        pool: VerificationPool | None = None,
    ) -> None:
        self.me = me
        self.trust = trust
        self.store = store
        self.policy = policy
        self.max_body_bytes = min(max_body_bytes, policy.limits.max_bytes)
        self.body_timeout = body_timeout
        self.clock = clock
        self.wake = wake
        self.pool = pool or VerificationPool()
        self.hosted: frozenset[str] = frozenset({me.participant})
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
        """Audit a refused message and return its signed Error reply (nothing of the message is stored).

        Args:
            error: why it was refused.
            raw: the message's bytes, read (unverified) only to address the reply; None when they were not
                read, or must not be parsed (too large, not well-formed, or the gateway is busy).
            now: when it arrived.

        """
        body = raw if raw is not None and error.code not in ("too-large", "parse", "busy") else None
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
            outage = Unavailable("the gateway cannot store messages right now; retry the same message later")
            status, body = self.refuse(outage, raw, now)
            return status, body, {"Retry-After": str(RETRY_AFTER_SECONDS)}
        except Exception:
            log.exception("internal error while receiving a message")
            status, body = self.refuse(InternalError("internal error; the message was not accepted"), raw, now)
            return status, body, {}

    # -------------------------------------------------------------------------------------- back office

    def submit(
        self, submission: Submission, now: dt.datetime, *, idempotency: Idempotency | None = None
    ) -> Enqueued:
        """Wrap, sign and queue a business document for a partner, in one store transaction.

        With ``idempotency``, a key the client used before queues nothing and returns the original message
        (compare :attr:`Enqueued.fingerprint` to tell a retry from another request under the same key).

        Raises:
            UnknownPartner: the receiver is not in the partner registry.
            NotADocument: the JSON is not one business document.
            SchemaError: the document is not valid.
            StoreError: the store cannot queue it now.

        """
        partner = self.trust.partner(submission.receiver)
        if partner is None:
            raise UnknownPartner(f"unknown partner {submission.receiver}", path="body.receiver")
        if set(submission.document) & {"Envelope", "Receipt", "Error"}:
            raise NotADocument("submit a business document, not an envelope or a transport reply", path="body.document")
        try:
            document = codec.from_json(json.dumps(submission.document).encode("utf-8"))
        except (TypeError, ValueError, ParseError) as exc:
            raise NotADocument(str(exc), path="body.document") from exc
        if isinstance(document, Envelope | Receipt | Error):  # pragma: no cover - refused by name above
            raise NotADocument("submit a business document, not an envelope or a transport reply", path="body.document")
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
        enqueued = self.store.enqueue(
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
            idempotency=idempotency,
        )
        if enqueued.replayed:
            return enqueued
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
        return enqueued


class Submission(BaseModel):
    """A business document for a partner, as JSON (the form ``picexchange convert --to json`` writes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receiver: str = Field(description="Participant id of the partner, e.g. MY:DOE.", examples=["MY:DOE"])
    document: dict[str, Any] = Field(
        description='One business document keyed by its name, e.g. {"Notification": {...}}.'
    )
    sender: str | None = Field(
        None, description="The hosted participant to send as; by default the one this client may act for."
    )
    conversation_id: str | None = Field(None, description="Notification number; by default the document's own.")
    ref_to_message_id: UUID | None = Field(None, description="The message this one answers.")
    test: bool = Field(False, description="Mark as an integration test message, never acted on.")


class VerificationPool:
    """Threads where partner messages are parsed and verified, and how many may wait for them.

    Verification is the expensive stage (XML, signatures) and an unauthenticated sender chooses its input:
    bounding it keeps the event loop, ``/healthz`` and the back office responsive, and a full queue answers
    ``busy`` at once instead of queueing without bound (issue 7).

    Args:
        workers: messages verified at once (default: the CPU count).
        queue: messages that may wait for a worker; one more is refused with :class:`Busy`.

    """

    def __init__(self, *, workers: int | None = None, queue: int = 32) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.slots = self.workers + queue
        self.taken = 0  # touched only on the event loop's thread
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="picexchange-verify")
        # Refusals made before verification (busy, too large, ...) are signed here, not in the threads the
        # back office and /healthz share: a flood of refusals must not starve those either.
        self._refusals = ThreadPoolExecutor(max_workers=2, thread_name_prefix="picexchange-refuse")

    async def run(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work(*args)`` on a worker, waiting for one if the queue has room.

        Raises:
            Busy: every worker is taken and the queue is full.

        """
        if self.taken >= self.slots:
            raise Busy(f"all {self.workers} verification slots and {self.slots - self.workers} queue places are taken")
        self.taken += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(work, *args))
        finally:
            self.taken -= 1

    async def refuse(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work(*args)`` (signing a refusal) on the refusal threads, never refused itself."""
        return await asyncio.get_running_loop().run_in_executor(self._refusals, functools.partial(work, *args))

    def close(self) -> None:
        """Stop the workers once the running ones finish; drop waiting work."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._refusals.shutdown(wait=False, cancel_futures=True)


def prometheus(gateway: Gateway) -> str:
    """Return the Prometheus text exposition of the gateway's counters and store states."""
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
