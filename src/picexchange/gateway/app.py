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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import prometheus_client
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field

from picexchange import codec, exchange
from picexchange.cases import CasePolicy
from picexchange.errors import (
    Busy,
    InternalError,
    InvalidRequest,
    Issue,
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
from picexchange.trust import Hosted, Identity, TrustStore

__all__ = ["Gateway", "Submission", "VerificationPool", "sender_refused"]

_T = TypeVar("_T")

log = logging.getLogger("picexchange.gateway")

XML = "application/xml"
_XML_TYPES = ("application/xml", "text/xml")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Metrics:
    """The gateway's counters for ``/metrics``, kept in its own Prometheus registry.

    One :class:`~prometheus_client.CollectorRegistry` per gateway, never the process-global one: two gateways
    in one process (tests, the demo) each count their own messages. The store's states are read when
    ``/metrics`` is scraped (:class:`_StoreStates`), so every process on a shared store reports the same
    totals, while the counters are per process (docs/gateway.md, "Metrics").

    Args:
        registry: where the counters are registered; the outbox worker's counters go in the same one.
        store: the store whose message states are reported.

    """

    def __init__(self, registry: prometheus_client.CollectorRegistry, store: Store) -> None:
        self.registry = registry
        self._received = prometheus_client.Counter(
            "picexchange_received",
            "Messages accepted from partners.",
            ["message_type", "outcome"],
            registry=registry,
        )
        self._rejected = prometheus_client.Counter(
            "picexchange_rejected", "Messages refused with a signed Error.", ["code"], registry=registry
        )
        self._submitted = prometheus_client.Counter(
            "picexchange_submitted", "Documents queued by the back office.", ["message_type"], registry=registry
        )
        self._seconds = prometheus_client.Summary(
            "picexchange_receive_seconds", "Time spent on partner messages.", registry=registry
        )
        registry.register(_StoreStates(store))

    def accepted(self, message_type: str, outcome: str, seconds: float) -> None:
        """Count an accepted message (``new`` or ``duplicate``)."""
        self._received.labels(message_type=message_type, outcome=outcome).inc()
        self._seconds.observe(seconds)

    def queued(self, message_type: str) -> None:
        """Count a document queued by the back office."""
        self._submitted.labels(message_type=message_type).inc()

    def refused(self, code: str, seconds: float) -> None:
        """Count a refused message by error code."""
        self._rejected.labels(code=code).inc()
        self._seconds.observe(seconds)


class _StoreStates(Collector):
    """The store's message states as gauges, read from the store at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("picexchange_inbound_messages", "Stored inbound messages by state.", labels=["state"]),
            GaugeMetricFamily("picexchange_outbound_messages", "Outbox messages by state.", labels=["state"]),
            GaugeMetricFamily("picexchange_audit_lines", "Audit lines of refused messages."),
        )

    def describe(self) -> Iterable[Metric]:
        """Name the gauges without reading the store (the registry checks names when it registers them)."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Read the counts from the store; a StoreError reaches the route, which answers 503."""
        counts = self.store.counts()
        inbound, outbound, audit = self._families()
        for inbound_state, count in counts.inbound.items():
            inbound.add_metric([inbound_state.value], count)
        for outbound_state, count in counts.outbound.items():
            outbound.add_metric([outbound_state.value], count)
        audit.add_metric([], counts.rejected)
        return (inbound, outbound, audit)


class Gateway:
    """The gateway's parts, wired: the hosted identities, the registry, the store, the clock and the limits.

    A gateway is a national Single Window: it hosts one or several participants of one country (its competent
    authority and its Customs), each signing with its own key, all sharing one store. Who signs what
    (:meth:`identity_for`): a Receipt by the participant the message was addressed to; an Error by the
    addressed participant when it is hosted, else by the first hosted one; a submitted document by the
    participant it is sent as.

    Attributes:
        identities: the hosted participants with their signing identities (registry order).
        me: the first hosted identity (what ``/healthz`` and the titles name).
        trust: the partner registry.
        store: the message store (already migrated).
        policy: what inbound messages must satisfy.
        max_body_bytes: largest body read.
        body_timeout: seconds within which the whole body must arrive.
        clock: the time source (aware datetimes).
        wake: called after a document is queued, to wake the outbox worker.
        pool: where partner messages are parsed and verified (bounded).
        registry: the Prometheus registry ``/metrics`` shows; by default a new one of this gateway alone
            (:func:`~picexchange.gateway.server.build` shares it with the outbox worker).
        hosted: the participant ids this gateway receives and acts for; back-office clients act only for these.
        case_policy: the policy the gateway's PIC cases are checked with (from the registry).

    """

    def __init__(
        self,
        *,
        me: Identity | Hosted,
        trust: TrustStore,
        store: Store,
        policy: exchange.AcceptPolicy = exchange.DEFAULT_ACCEPT_POLICY,
        max_body_bytes: int = 8 * 1024 * 1024,
        body_timeout: float = 30.0,
        clock: Callable[[], dt.datetime] = _utcnow,
        wake: Callable[[], None] = lambda: None,
        pool: VerificationPool | None = None,
        registry: prometheus_client.CollectorRegistry | None = None,
        case_policy: CasePolicy | None = None,
    ) -> None:
        self.identities = Hosted.of(me)
        self.me = self.identities.first
        self.trust = trust
        self.store = store
        self.policy = policy
        self.max_body_bytes = min(max_body_bytes, policy.limits.max_bytes)
        self.body_timeout = body_timeout
        self.clock = clock
        self.wake = wake
        self.pool = pool or VerificationPool()
        self.hosted: frozenset[str] = self.identities.participants
        self.case_policy = case_policy if case_policy is not None else CasePolicy()
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self.metrics = Metrics(self.registry, store)

    def identity_for(self, participant: str | None) -> Identity:
        """Return the identity that signs for ``participant``: its own when hosted, else the first hosted one."""
        return self.identities.identity(participant or "") or self.me

    # -------------------------------------------------------------------------------------- partner endpoint

    def receive(self, raw: bytes, now: dt.datetime) -> tuple[int, bytes]:
        """Accept, receipt and store one message; return the HTTP status and the signed reply."""
        # One routing decision for the set of hosted participants: hosting several only widens ``hosted``.
        inbound = exchange.accept_for(raw, hosted=self.hosted, trust=self.trust, now=now, policy=self.policy)
        header = inbound.envelope.header
        # Signed by the participant the message was addressed to (accept_for checked it is hosted).
        receipt = exchange.receipt_for(inbound, me=self.identity_for(header.receiver), now=now)
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
        # Signed by the addressed participant when it is hosted, else by the first hosted one.
        reply = exchange.error_for(error, raw=body, me=self.identities, now=now, limits=self.policy.limits)
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

    def sender_of(self, submission: Submission, sender: str | None = None) -> Identity:
        """Return the hosted identity a submission is sent as and signed by.

        Args:
            submission: the submission; its ``sender`` when ``sender`` is not given.
            sender: the participant the back office decided the client acts as.

        Raises:
            InvalidRequest: (path ``body.sender``) the sender is not hosted here, or none is named while the
                gateway hosts several.

        """
        wanted = sender or submission.sender
        if wanted is None:
            if len(self.identities) > 1:
                hosted = ", ".join(item.participant for item in self.identities)
                raise sender_refused(f"this gateway hosts {hosted}: name one as sender")
            return self.me
        if wanted not in self.hosted:
            raise sender_refused(f"{wanted} is not hosted by this gateway (it hosts {', '.join(sorted(self.hosted))})")
        return self.identity_for(wanted)

    def submit(
        self,
        submission: Submission,
        now: dt.datetime,
        *,
        sender: str | None = None,
        idempotency: Idempotency | None = None,
    ) -> Enqueued:
        """Wrap, sign and queue a business document for a partner, in one store transaction.

        The document is sent as, and signed by, ``sender`` (else ``submission.sender``; else the one hosted
        participant). With ``idempotency``, a key the client used before queues nothing and returns the original
        message (compare :attr:`Enqueued.fingerprint` to tell a retry from another request under the same key).

        Raises:
            InvalidRequest: the sender is not hosted, or not named while several are (path ``body.sender``).
            UnknownPartner: the receiver is not in the partner registry.
            NotADocument: the JSON is not one business document.
            SchemaError: the document is not valid.
            StoreError: the store cannot queue it now.

        """
        identity = self.sender_of(submission, sender)
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
            me=identity,
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
                "sender": identity.participant,
                "receiver": partner.id,
                "message_type": header.message_type.value,
            },
        )
        self.wake()
        return enqueued


def sender_refused(text: str) -> InvalidRequest:
    """Return the 422 refusal of a submission's sender: its problem lists one issue at ``body.sender``."""
    return InvalidRequest(text, path="body.sender", issues=(Issue(text=text, path="body.sender"),))


class Submission(BaseModel):
    """A business document for a partner, as JSON (the form ``picexchange convert --to json`` writes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receiver: str = Field(description="Participant id of the partner, e.g. MY:DOE.", examples=["MY:DOE"])
    document: dict[str, Any] = Field(
        description='One business document keyed by its name, e.g. {"Notification": {...}}.'
    )
    sender: str | None = Field(
        None,
        description=(
            "The hosted participant to send as, which signs the message; required when the gateway hosts several "
            "and the client may act for more than one; by default the one participant this client acts for."
        ),
        examples=["AU:ABF"],
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


def prometheus(gateway: Gateway) -> bytes:
    """Return the Prometheus text exposition of the gateway's registry (its counters, the outbox's, the store's)."""
    return prometheus_client.generate_latest(gateway.registry)
