"""The outbox worker: deliver queued messages until each has a verified receipt or is given up.

Each round claims due messages with a lease (so a crashed worker's claims are taken over), as many as there
are free delivery slots, and hands them to the pool without waiting for the deliveries in flight — a partner
that hangs holds only the slots of its own messages, never the others — and records the outcome: receipted,
queued again after a back-off (network errors, 5xx, 429, and answers that are no genuine reply: a receipt
that does not verify, is signed by someone else or quotes other bytes or another message id, garbage with
HTTP 200), or failed (a signed Error from the partner, or too many attempts, with the last reason). The
bytes sent are always the stored signed bytes: one message id across all retries. :class:`DeliveryCounters`
counts every attempt for ``/metrics``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType

import prometheus_client

from picexchange import codec
from picexchange.client import Client
from picexchange.errors import (
    ConfigurationError,
    DeliveryError,
    MessageError,
    RemoteError,
    StoreError,
    UnverifiedReplyError,
)
from picexchange.exchange import Sealed, digest_of
from picexchange.gateway.config import OutboxConfig
from picexchange.models.envelope import Envelope
from picexchange.store import OutboundMessage, Store

__all__ = ["DeliveryCounters", "DeliveryCounts", "DeliveryOutcome", "OutboxWorker"]

log = logging.getLogger("picexchange.outbox")


class DeliveryOutcome(enum.StrEnum):
    """How one delivery attempt ended (the ``outcome`` label of ``picexchange_delivery_attempts_total``)."""

    RECEIPTED = "receipted"
    """The partner's receipt verified: signed by it, for our message id and the digest of our bytes."""
    REFUSED = "refused"
    """The partner refused the message with a signed Error; final."""
    UNREACHABLE = "unreachable"
    """No answer: connection error or timeout; retried."""
    HTTP_ERROR = "http-error"
    """HTTP 5xx or 429; retried."""
    UNVERIFIED_REPLY = "unverified-reply"
    """An answer that is no genuine reply (forged, wrong signer, other digest or message id, garbage); retried."""
    INTERNAL = "internal"
    """Our own problem: configuration, a stored message that does not decode, a bug."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryCounts:
    """A consistent copy of the counters at one moment.

    Attributes:
        attempts: delivery attempts by outcome.
        unverified_replies: answers that were no genuine reply, by :attr:`UnverifiedReplyError.reason`.
        failed: messages given up, by cause (``refused``, ``attempts``, ``internal``).

    """

    attempts: Mapping[DeliveryOutcome, int]
    unverified_replies: Mapping[str, int]
    failed: Mapping[str, int]


class DeliveryCounters:
    """Counters of the outbox's delivery attempts, safe to update from the delivery threads.

    For the gateway's ``/metrics``, :meth:`exposition` writes them in the Prometheus text format:

    ``picexchange_delivery_attempts_total{outcome="..."}``
        Every delivery attempt, by :class:`DeliveryOutcome`.
    ``picexchange_delivery_unverified_replies_total{reason="..."}``
        Answers that were no genuine reply, by reason (``signature``, ``trust``, ``other-digest``,
        ``other-message``, ``parse``, ``schema``, ``too-large``, ``encoding``, ``status``). A rise in
        ``signature`` or ``trust`` means someone answers in a partner's name.
    ``picexchange_deliveries_failed_total{cause="..."}``
        Messages given up: ``refused`` (a signed Error), ``attempts`` (``max_attempts`` reached, whatever
        the last reason) or ``internal``.

    Args:
        registry: the Prometheus registry to count in (the gateway's, so ``/metrics`` shows them); by default
            one of these counters alone.

    """

    def __init__(self, *, registry: prometheus_client.CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        # Held while counting and while reading, so that a snapshot is one moment of all three counters.
        self._lock = threading.Lock()
        self._attempts = prometheus_client.Counter(
            "picexchange_delivery_attempts",
            "Outbox delivery attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in DeliveryOutcome:
            self._attempts.labels(outcome=outcome.value)  # every outcome is listed, zero included
        self._unverified = prometheus_client.Counter(
            "picexchange_delivery_unverified_replies",
            "Partner answers that were no genuine reply.",
            ["reason"],
            registry=self.registry,
        )
        self._failed = prometheus_client.Counter(
            "picexchange_deliveries_failed", "Outbox messages given up, by cause.", ["cause"], registry=self.registry
        )

    def attempt(self, outcome: DeliveryOutcome, *, reason: str | None = None) -> None:
        """Count one attempt; ``reason`` classifies an unverified reply."""
        with self._lock:
            self._attempts.labels(outcome=outcome.value).inc()
            if reason is not None:
                self._unverified.labels(reason=reason).inc()

    def failure(self, cause: str) -> None:
        """Count a message given up."""
        with self._lock:
            self._failed.labels(cause=cause).inc()

    def snapshot(self) -> DeliveryCounts:
        """Return the counts at this moment (every outcome present, zero included)."""
        with self._lock:
            attempts = _totals(self._attempts, "outcome")
            return DeliveryCounts(
                attempts=MappingProxyType({outcome: attempts.get(outcome.value, 0) for outcome in DeliveryOutcome}),
                unverified_replies=MappingProxyType(_totals(self._unverified, "reason")),
                failed=MappingProxyType(_totals(self._failed, "cause")),
            )

    def exposition(self) -> list[str]:
        """Return the counters as lines of the Prometheus text format, as ``/metrics`` shows them."""
        return prometheus_client.generate_latest(self.registry).decode("utf-8").splitlines()


def _totals(counter: prometheus_client.Counter, label: str) -> dict[str, int]:
    """Return the ``_total`` value of each child of ``counter`` by its ``label`` (the public way to read them)."""
    return {
        sample.labels[label]: int(sample.value)
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutboxWorker:
    """Delivers the outbox of one gateway; several workers (processes) may share one PostgreSQL store."""

    def __init__(
        self,
        *,
        store: Store,
        client: Client,
        config: OutboxConfig | None = None,
        name: str | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        draw: Callable[[], float] = random.random,
        registry: prometheus_client.CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.config = config or OutboxConfig()
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._draw = draw
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix=self.name)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._by_receiver: Counter[str] = Counter()
        self.counters = DeliveryCounters(registry=registry)
        """Delivery attempts and outcomes of this worker, for ``/metrics``."""

    def run_once(self) -> int:
        """Claim the due messages and deliver them, waiting for every outcome; return how many were claimed."""
        claimed = self.store.claim_due(
            now=self._clock(), lease=self.config.lease, limit=self.config.batch, worker=self.name
        )
        if claimed:
            list(self._pool.map(self._deliver, claimed))
        return len(claimed)

    def _deliver(self, message: OutboundMessage) -> None:
        """Make one delivery attempt and record its outcome; nothing escapes into the pool or the caller.

        A bug anywhere here must not kill the worker (``run_once`` would raise to its caller; a background
        delivery would die unseen in its future) nor lose the message: it stays claimed, and when the lease
        lapses it is claimed and delivered again (the partner deduplicates a second copy).
        """
        try:
            self._attempt(message)
        except Exception:
            log.exception(
                "delivery outcome not recorded; the message comes back when its lease lapses",
                extra={"message_id": message.message_id, "worker": self.name},
            )

    def _attempt(self, message: OutboundMessage) -> None:
        try:
            sealed = Sealed(
                envelope=codec.from_xml(message.data, Envelope), raw=message.data, digest=digest_of(message.data)
            )
            receipted = self.client.deliver(sealed)
        except DeliveryError as exc:
            self._retry(message, exc)
            return
        except RemoteError as exc:
            self.counters.attempt(DeliveryOutcome.REFUSED)
            self._fail(message, f"{exc.code}: {exc}", cause="refused")
            return
        except (ConfigurationError, MessageError) as exc:
            self.counters.attempt(DeliveryOutcome.INTERNAL)
            self._fail(message, f"{getattr(exc, 'code', type(exc).__name__)}: {exc}", cause="internal")
            return
        except Exception as exc:  # a bug must not kill the worker nor lose the message: it is tried again
            log.exception("unexpected error while delivering", extra={"message_id": message.message_id})
            self.counters.attempt(DeliveryOutcome.INTERNAL)
            attempts = message.attempts + 1
            if attempts >= self.config.max_attempts:
                # Like any other failure, a bug that recurs on every attempt ends at max_attempts, visibly
                # (failed, with the reason), instead of coming back every lease forever.
                self._fail(message, f"gave up after {attempts} attempts: internal: {exc}", cause="attempts")
                return
            now = self._clock()
            self._record(
                self.store.mark_retry,
                message,
                worker=self.name,
                error=f"internal: {exc}",
                next_attempt_at=now + dt.timedelta(seconds=self.config.lease_seconds),
                at=now,
            )
            return
        self.counters.attempt(DeliveryOutcome.RECEIPTED)
        self._record(self.store.mark_receipted, message, receipt=receipted.raw, at=self._clock())
        log.info("receipted", extra={"message_id": message.message_id, "receiver": message.receiver})

    def _retry(self, message: OutboundMessage, exc: DeliveryError) -> None:
        """Queue the message again after a back-off, or give it up after ``max_attempts``."""
        reason = exc.reason if isinstance(exc, UnverifiedReplyError) else None
        if reason is not None:
            # Anyone on the path can forge an answer: only the partner's verified receipt ends a delivery.
            self.counters.attempt(DeliveryOutcome.UNVERIFIED_REPLY, reason=reason)
        else:
            self.counters.attempt(DeliveryOutcome.UNREACHABLE if exc.status is None else DeliveryOutcome.HTTP_ERROR)
        attempts = message.attempts + 1
        if attempts >= self.config.max_attempts:
            self._fail(message, f"gave up after {attempts} attempts: {exc}", cause="attempts")
            return
        now = self._clock()
        wait = self.config.retry.backoff(attempts, draw=self._draw(), retry_after=exc.retry_after)
        self._record(
            self.store.mark_retry,
            message,
            worker=self.name,
            error=str(exc),
            next_attempt_at=now + dt.timedelta(seconds=wait),
            at=now,
        )
        details = {
            "message_id": message.message_id,
            "receiver": message.receiver,
            "attempt": attempts,
            "wait": round(wait, 3),
            "error": str(exc),
        }
        if reason is not None:
            log.warning("reply did not verify, delivery will be retried", extra={**details, "reason": reason})
        else:
            log.info("delivery will be retried", extra=details)

    def _fail(self, message: OutboundMessage, error: str, *, cause: str) -> None:
        self.counters.failure(cause)
        self._record(self.store.mark_failed, message, worker=self.name, error=error, at=self._clock())
        log.warning(
            "delivery failed", extra={"message_id": message.message_id, "receiver": message.receiver, "error": error}
        )

    def _record(self, mark: Callable[..., bool], message: OutboundMessage, **kwargs: object) -> None:
        try:
            if "receipt" in kwargs:
                recorded = mark(message.message_id, kwargs.pop("receipt"), **kwargs)
            else:
                recorded = mark(message.message_id, **kwargs)
            if not recorded:
                # Our lease lapsed and another worker (or a receipt) moved the message on: our outcome is stale.
                log.info("stale outcome ignored", extra={"message_id": message.message_id, "worker": self.name})
        except StoreError:
            # The claim lapses and the message is delivered again; the partner deduplicates it.
            log.exception("outcome not recorded", extra={"message_id": message.message_id})

    # ------------------------------------------------------------------------------------- background loop

    def wake(self) -> None:
        """Ask the loop to look for due messages now (after a submission)."""
        self._wake.set()

    def start(self) -> None:
        """Run the loop in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _dispatch(self) -> bool:
        """Claim as many due messages as there are free slots and start them; return whether all slots filled.

        Deliveries in flight are not waited for, and no partner gets more than ``per_partner`` of the slots: a
        partner that hangs until the read timeout holds only its own share, and a slot freed by any delivery
        wakes the loop again. Claims go one at a time so the per-partner share is exact.
        """
        with self._lock:
            free = min(self.config.batch, self.config.concurrency - self._in_flight)
        started = 0
        while started < free:
            with self._lock:
                full = {receiver for receiver, n in self._by_receiver.items() if n >= self.config.per_partner}
            claimed = self.store.claim_due(
                now=self._clock(), lease=self.config.lease, limit=1, worker=self.name, skip_receivers=full
            )
            if not claimed:
                break
            for message in claimed:
                with self._lock:
                    self._in_flight += 1
                    self._by_receiver[message.receiver] += 1
                future = self._pool.submit(self._deliver, message)
                future.add_done_callback(functools.partial(self._done, message.receiver))
                started += 1
        return free > 0 and started == free

    def _done(self, receiver: str, _: object) -> None:
        with self._lock:
            self._in_flight -= 1
            self._by_receiver[receiver] -= 1
            if not self._by_receiver[receiver]:
                del self._by_receiver[receiver]
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Clear before looking, so a wake-up that comes while we look is not lost.
            self._wake.clear()
            try:
                busy = self._dispatch()
            except Exception:  # a store outage, or a bug: the loop must outlive both, or nothing is sent again
                log.exception("outbox round failed")
                busy = False
            if not busy:
                self._wake.wait(self.config.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop, letting deliveries in flight finish."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._pool.shutdown(wait=True)
