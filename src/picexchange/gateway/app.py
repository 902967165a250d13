"""The gateway's wired parts, shared by its two listeners: identity, registry, store, cases, limits and metrics.

:class:`Gateway` does the work a route hands it: accept a partner's message (:meth:`Gateway.handle`), refuse
one with a signed Error (:meth:`Gateway.refuse`), seal and queue a back-office document
(:meth:`Gateway.submit`). Everything the protocol decides is decided in :mod:`picexchange.exchange`, and
everything a PIC case decides in :mod:`picexchange.cases`; :mod:`~picexchange.gateway.casework` keeps the
case folds between messages. Every message of a case is stored with its case update in one transaction
(docs/gateway.md, "PIC cases"). The routes live in :mod:`~picexchange.gateway.partner` and
:mod:`~picexchange.gateway.backoffice`.
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
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import prometheus_client
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field

from picexchange import codec, exchange
from picexchange.cases import (
    Agency,
    Case,
    CaseEvent,
    CaseFinding,
    CasePolicy,
    ClearanceDecision,
    Direction,
    clearance,
)
from picexchange.errors import (
    Busy,
    CaseConflict,
    CaseViolation,
    InternalError,
    InvalidRequest,
    Issue,
    MessageError,
    NotADocument,
    ParseError,
    SenderNotAllowed,
    StoreError,
    Unavailable,
    UnknownPartner,
)
from picexchange.gateway.casework import ATTEMPTS, CaseKeeper, LoadedCase
from picexchange.gateway.problems import RETRY_AFTER_SECONDS
from picexchange.models.envelope import Envelope, Error, Receipt
from picexchange.models.export import ClearanceStatus, ExportData
from picexchange.store import (
    CaseDirection,
    CaseMessage,
    CaseSummary,
    Enqueued,
    Idempotency,
    InboundMessage,
    OutboundMessage,
    Recorded,
    Store,
    StoredCaseMessage,
)
from picexchange.trust import Hosted, Identity, TrustStore

__all__ = ["Gateway", "Submission", "Submitted", "VerificationPool", "sender_refused"]

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
        # The counter of each (message type, outcome), looked up once: labels() takes a lock and checks the names.
        self._received_by: dict[tuple[str, str], prometheus_client.Counter] = {}

    def accepted(self, message_type: str, outcome: str, seconds: float) -> None:
        """Count an accepted message (``new`` or ``duplicate``)."""
        counter = self._received_by.get((message_type, outcome))
        if counter is None:
            counter = self._received_by[(message_type, outcome)] = self._received.labels(
                message_type=message_type, outcome=outcome
            )
        counter.inc()
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
        cases: the case folds, locks and rows (:class:`~picexchange.gateway.casework.CaseKeeper`).
        hold_automatically: answer an inbound ExportData to a hosted Customs participant that breaks a case
            rule with an automatic signed ClearanceResult "held" (``[cases] hold_automatically``).
        customs_office: the office a ClearanceResult names when the notification names no office of entry
            (``[cases] customs_office``).

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
        hold_automatically: bool = True,
        customs_office: str | None = None,
        case_cache: int = 256,
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
        self.cases = CaseKeeper(
            store=store, trust=trust, policy=self.case_policy, capacity=case_cache, limits=policy.limits
        )
        self.hold_automatically = hold_automatically
        self.customs_office = customs_office

    def case_detail(
        self, notification_number: str, now: dt.datetime
    ) -> tuple[CaseSummary, Case, tuple[StoredCaseMessage, ...]] | None:
        """Return a case's row, the case as of ``now`` and its messages in order; None for an unknown case.

        A row due for review is rewritten as of ``now`` first (:meth:`CaseKeeper.review_loaded`), so the row
        and the case agree on ``blocked``; if that write fails the stored row is returned (and logged).
        """
        with self.cases.locked(notification_number):
            loaded = self.cases.load(notification_number)
            if loaded.summary is None:
                return None
            self.cases.remember(notification_number, loaded.fold, loaded.version, loaded.held)
            summary = loaded.summary
            try:
                summary = self.cases.review_loaded(loaded, now=now) or summary
            except StoreError as exc:
                log.warning("case %s was not reviewed: %s", notification_number, exc)
            folded = loaded.fold.case(now=now)
        return summary, folded, self.store.case_messages(notification_number)

    def review_cases(self, now: dt.datetime) -> int:
        """Rewrite the case rows whose ``blocked`` may have changed by ``now`` (a bounded batch); see CaseKeeper.

        The back office and the console call it before they list cases, so that the ``blocked`` filter and column
        are the cases' on the day of ``now``, not on the day of their last message.
        """
        return self.cases.review_due(now=now)

    def identity_for(self, participant: str | None) -> Identity:
        """Return the identity that signs for ``participant``: its own when hosted, else the first hosted one."""
        return self.identities.identity(participant or "") or self.me

    # -------------------------------------------------------------------------------------- partner endpoint

    def receive(self, raw: bytes, now: dt.datetime) -> tuple[int, bytes]:
        """Accept, receipt and store one message with its case update; return the HTTP status and the signed reply.

        Raises:
            SenderNotAllowed: the sender's role in the case may not send this message type (nothing stored).

        """
        # One routing decision for the set of hosted participants: hosting several only widens ``hosted``.
        inbound = exchange.accept_for(raw, hosted=self.hosted, trust=self.trust, now=now, policy=self.policy)
        header = inbound.envelope.header
        # Signed by the participant the message was addressed to (accept_for checked it is hosted).
        receipt = exchange.receipt_for(inbound, me=self.identity_for(header.receiver), now=now)
        message = InboundMessage(
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
        )
        event = self.cases.event_of(inbound.envelope, Direction.INBOUND)
        if event is None:
            recorded = self.store.record_inbound(message, receipt.raw)
        else:
            recorded = self._record_with_case(message, receipt.raw, event, now)
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

    def _record_with_case(
        self, message: InboundMessage, receipt: bytes, event: CaseEvent, now: dt.datetime
    ) -> Recorded:
        """Store a received message of a case with its case update (and an automatic hold) in one transaction."""
        number = event.conversation_id
        conflict: CaseConflict | None = None  # made only when the store reports one, not for every message
        with self.cases.locked(number):
            for _ in range(ATTEMPTS):
                loaded = self.cases.load(number)
                fold = loaded.fold
                refusal = self.cases.sender_refusal(fold, event)
                if refusal is not None:
                    raise SenderNotAllowed(
                        refusal.text,
                        message_id=event.message_id,
                        path=refusal.field,
                        rule_id=refusal.rule_id,
                        issues=[_issue(refusal)],
                    )
                if fold.has(event.message_id):
                    # Already in the case: a duplicate (the store answers the original receipt) or the same id
                    # with other bytes (the store refuses it).
                    return self.store.record_inbound(message, receipt)
                listed = [_listed(event, CaseDirection.INBOUND, now)]
                replies: list[OutboundMessage] = []
                decision = self._clearance_of(event, loaded, now)
                raised = list(decision.findings) if decision is not None else fold.findings_for(event)
                fold.apply(event)
                if decision is not None and decision.status is ClearanceStatus.HELD:
                    reply, reply_event = self._held(decision, event, loaded, now)
                    fold.apply(reply_event)
                    listed.append(_listed(reply_event, CaseDirection.OUTBOUND, now))
                    replies.append(reply)
                update = self.cases.update(loaded, tuple(listed), raised, now=now)
                try:
                    recorded = self.store.record_inbound(message, receipt, case=update, replies=replies)
                except CaseConflict as exc:
                    self.cases.forget(number)  # another process wrote the case: read it again and retry
                    conflict = exc
                    continue
                except BaseException:
                    self.cases.forget(number)  # the fold holds a message the store did not take
                    raise
                if recorded.duplicate:
                    self.cases.forget(number)
                else:
                    self.cases.remember(number, fold, loaded.version + 1, loaded.held + len(listed))
                    if replies:
                        log.info(
                            "shipment held automatically",
                            extra={"message_id": event.message_id, "reply": replies[0].message_id},
                        )
                        self.wake()
                return recorded
        # Still changing after ATTEMPTS tries: retryable, the caller tries again later.
        raise conflict if conflict is not None else CaseConflict(number, expected=0, found=0)

    def _clearance_of(self, event: CaseEvent, loaded: LoadedCase, now: dt.datetime) -> ClearanceDecision | None:
        """Return the clearance decision on an ExportData that a hosted Customs participant receives, else None."""
        if (
            not self.hold_automatically
            or not isinstance(event.document, ExportData)
            or event.receiver not in self.hosted
            or self.cases.agency_of(event.receiver) is not Agency.CUSTOMS
        ):
            return None
        return clearance(loaded.fold, event, now=now)

    def _held(
        self, decision: ClearanceDecision, event: CaseEvent, loaded: LoadedCase, now: dt.datetime
    ) -> tuple[OutboundMessage, CaseEvent]:
        """Return the automatic ClearanceResult "held" from the receiving Customs participant, signed, and its event."""
        notification = loaded.fold.notification
        offices = notification.customs_offices if notification is not None else None
        office = (offices.entry_office if offices is not None else None) or self.customs_office
        if office is None:
            office = event.receiver.split(":", 1)[0] + "000"  # the country's national office reference
        sealed = exchange.seal(
            decision.result(
                customs_office=office,
                remarks="held automatically by the Single Window: a Basel rule of the case is broken; "
                "an officer decides on release",
            ),
            me=self.identity_for(event.receiver),
            to=event.sender,
            now=now,
            conversation_id=event.conversation_id,
            ref_to=uuid_of(event.message_id),
        )
        header = sealed.envelope.header
        reply = OutboundMessage(
            message_id=str(header.message_id),
            receiver=event.sender,
            endpoint=event.sender,
            conversation_id=header.conversation_id,
            message_type=header.message_type.value,
            created=header.created,
            data=sealed.raw,
        )
        reply_event = CaseEvent.from_envelope(
            sealed.envelope, direction=Direction.OUTBOUND, sender_agency=Agency.CUSTOMS
        )
        return reply, reply_event

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
    ) -> Submitted:
        """Wrap, sign and queue a business document for a partner, with its case update, in one store transaction.

        The document is sent as, and signed by, ``sender`` (else ``submission.sender``; else the one hosted
        participant). It is checked against its PIC case first: a finding that blocks (a violation) refuses it
        and queues nothing; warnings are returned with the queued message. With ``idempotency``, a key the
        client used before queues nothing and returns the original message (compare
        :attr:`Enqueued.fingerprint` to tell a retry from another request under the same key).

        Raises:
            InvalidRequest: the sender is not hosted, or not named while several are (path ``body.sender``).
            UnknownPartner: the receiver is not in the partner registry.
            NotADocument: the JSON is not one business document.
            SchemaError: the document is not valid.
            CaseViolation: the document would break a Basel rule of its case (its findings are the issues).
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
        if idempotency is not None:
            claimed = self.store.claimed_key(idempotency)
            if claimed is not None:  # a retry: its message was queued (and its case updated) the first time
                return Submitted(**_fields_of(claimed))
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
        message = OutboundMessage(
            message_id=str(header.message_id),
            receiver=partner.id,
            endpoint=partner.id,
            conversation_id=header.conversation_id,
            message_type=header.message_type.value,
            created=header.created,
            data=sealed.raw,
        )
        event = self.cases.event_of(sealed.envelope, Direction.OUTBOUND)
        if event is None:
            submitted = Submitted(**_fields_of(self.store.enqueue(message, at=now, idempotency=idempotency)))
        else:
            submitted = self._enqueue_with_case(message, event, now, idempotency)
        if submitted.replayed:
            return submitted
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
        return submitted

    def _enqueue_with_case(
        self, message: OutboundMessage, event: CaseEvent, now: dt.datetime, idempotency: Idempotency | None
    ) -> Submitted:
        """Check a submitted document against its case and queue it with its case update, in one transaction."""
        number = event.conversation_id
        conflict = CaseConflict(number, expected=0, found=0)
        with self.cases.locked(number):
            for _ in range(ATTEMPTS):
                loaded = self.cases.load(number)
                found = loaded.fold.findings_for(event)
                violations = [item for item in found if item.blocks]
                if violations:
                    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
                    raise CaseViolation(
                        f"{event.message_type.value} breaks a Basel rule of case {number}: {violations[0].text}{more}",
                        path="body.document",
                        issues=tuple(_issue(item) for item in violations),
                    )
                loaded.fold.apply(event)
                update = self.cases.update(loaded, (_listed(event, CaseDirection.OUTBOUND, now),), found, now=now)
                try:
                    enqueued = self.store.enqueue(message, at=now, idempotency=idempotency, case=update)
                except CaseConflict as exc:
                    self.cases.forget(number)
                    conflict = exc
                    continue
                except BaseException:
                    self.cases.forget(number)
                    raise
                if enqueued.replayed:
                    self.cases.forget(number)
                else:
                    self.cases.remember(number, loaded.fold, loaded.version + 1, loaded.held + 1)
                return Submitted(**_fields_of(enqueued), warnings=tuple(found))
        raise conflict  # still changing after ATTEMPTS tries: retryable, the caller tries again later


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted(Enqueued):
    """The outcome of :meth:`Gateway.submit`: the queued message, and the case's warnings about it."""

    warnings: tuple[CaseFinding, ...] = ()
    """Findings that do not block (the document was queued); empty for a replay."""


def _fields_of(enqueued: Enqueued) -> dict[str, Any]:
    return {
        "message_id": enqueued.message_id,
        "digest": enqueued.digest,
        "replayed": enqueued.replayed,
        "fingerprint": enqueued.fingerprint,
    }


def _issue(item: CaseFinding) -> Issue:
    """Return a case finding as an error's issue: rule id, field, expected, found and the sentence."""
    return Issue(text=item.text, path=item.field, rule_id=item.rule_id, expected=item.expected, found=item.found)


def _listed(event: CaseEvent, direction: CaseDirection, at: dt.datetime) -> CaseMessage:
    return CaseMessage(
        direction=direction,
        sender=event.sender,
        receiver=event.receiver,
        message_id=event.message_id,
        message_type=event.message_type.value,
        at=at,
    )


def uuid_of(message_id: str) -> UUID:
    """Return a header message id (a UUID as text) as a UUID."""
    return UUID(message_id)


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
