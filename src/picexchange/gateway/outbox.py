"""The outbox worker: deliver queued messages until each has a verified receipt or is given up.

Each round claims due messages with a lease (so a crashed worker's claims are taken over), as many as there
are free delivery slots, and hands them to the pool without waiting for the deliveries in flight — a partner
that hangs holds only the slots of its own messages, never the others — and records the outcome: receipted,
queued again after a back-off (network errors, 5xx, 429), or failed (a signed Error from the partner, or
too many attempts). The bytes sent are always the stored signed bytes: one message id across all retries.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from picexchange import codec
from picexchange.client import Client
from picexchange.errors import ConfigurationError, DeliveryError, MessageError, RemoteError, StoreError
from picexchange.exchange import Sealed, digest_of
from picexchange.gateway.config import OutboxConfig
from picexchange.models.envelope import Envelope
from picexchange.store import OutboundMessage, Store

__all__ = ["OutboxWorker"]

log = logging.getLogger("picexchange.outbox")


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

    def run_once(self) -> int:
        """Claim the due messages and deliver them, waiting for every outcome; return how many were claimed."""
        claimed = self.store.claim_due(
            now=self._clock(), lease=self.config.lease, limit=self.config.batch, worker=self.name
        )
        if claimed:
            list(self._pool.map(self._deliver, claimed))
        return len(claimed)

    def _deliver(self, message: OutboundMessage) -> None:
        try:
            sealed = Sealed(
                envelope=codec.from_xml(message.data, Envelope), raw=message.data, digest=digest_of(message.data)
            )
            receipted = self.client.deliver(sealed)
        except DeliveryError as exc:
            attempts = message.attempts + 1
            now = self._clock()
            if attempts >= self.config.max_attempts:
                self._record(
                    self.store.mark_failed,
                    message,
                    worker=self.name,
                    error=f"gave up after {attempts} attempts: {exc}",
                    at=now,
                )
                return
            wait = self.config.retry.backoff(attempts, draw=self._draw(), retry_after=exc.retry_after)
            self._record(
                self.store.mark_retry,
                message,
                worker=self.name,
                error=str(exc),
                next_attempt_at=now + dt.timedelta(seconds=wait),
                at=now,
            )
            log.info(
                "delivery will be retried",
                extra={
                    "message_id": message.message_id,
                    "receiver": message.receiver,
                    "attempt": attempts,
                    "wait": round(wait, 3),
                    "error": str(exc),
                },
            )
            return
        except (RemoteError, ConfigurationError, MessageError) as exc:
            code = getattr(exc, "code", type(exc).__name__)
            self._record(self.store.mark_failed, message, worker=self.name, error=f"{code}: {exc}", at=self._clock())
            log.warning(
                "delivery failed",
                extra={"message_id": message.message_id, "receiver": message.receiver, "error": str(exc)},
            )
            return
        except Exception as exc:  # a bug must not kill the worker; the lease brings the message back
            log.exception("unexpected error while delivering", extra={"message_id": message.message_id})
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
        self._record(self.store.mark_receipted, message, receipt=receipted.raw, at=self._clock())
        log.info("receipted", extra={"message_id": message.message_id, "receiver": message.receiver})

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
            except StoreError:
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
