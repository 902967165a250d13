"""The gateway's PIC cases: a bounded cache of case folds, per-case locks, and the case row each write carries.

The pure engine :mod:`picexchange.cases` decides; this module keeps its state between messages. For each
message of a case the gateway

1. takes the case's lock (one writer per case inside the process; other cases go on in parallel);
2. reads the case's stored version (one row) and uses the cached :class:`~picexchange.cases.CaseFold` if it
   was folded at that version; if another process wrote the case since, the cached fold catches up with the
   messages stored after the ones it holds; with no cached fold, the case is folded again from the stored
   bytes of its messages (:meth:`~picexchange.store.Store.case_messages`, decoded with :mod:`picexchange.codec`
   without verifying the signatures again: they were verified when the messages were accepted);
3. asks the fold (who may send it, the clearance decision, what a submitted document would break), applies
   the message, and writes the message with a :class:`~picexchange.store.CaseUpdate` built on that version;
4. on :class:`~picexchange.errors.CaseConflict` (another process wrote the case meanwhile) drops the fold and
   starts again from 2, a few times.

The case row's summary is computed without a pass over the case, so a message costs the same whatever the
case's history: ``blocked`` says whether a new shipment would be stopped on the day of the write
(:meth:`~picexchange.cases.CaseFold.blocked_on`: no Notification yet, a State's decision, a consent not valid
that day, a day outside the departures, a cancellation); ``violations`` and ``warnings`` count what each
message broke when it was applied. The full, current findings come from
:meth:`~picexchange.cases.CaseFold.case` (the case view of the back office).

``blocked`` can change with no new message (a withdrawal or a cancellation taking effect, a transit State deemed
to consent, a consent's validity beginning or ending), so each row carries the first day it may differ,
``review_on`` (:meth:`~picexchange.cases.CaseFold.next_change`). Before a case list is answered the keeper
reviews the rows due that day (:meth:`CaseKeeper.review_due`): for each, under the case's lock, the case is
loaded, its summary computed again as of now and written guarded by its version
(:meth:`~picexchange.store.Store.refresh_case`); a conflict means a message wrote it fresh meanwhile, and it is
skipped. At most :data:`REVIEW_BATCH` rows are reviewed per list, the longest overdue first.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from picexchange import codec
from picexchange.cases import Agency, CaseEvent, CaseFinding, CaseFold, CasePolicy, Direction, check_sender
from picexchange.cases.rules import ALLOWED_SENDERS, SenderRole, finding
from picexchange.errors import CaseConflict, ParseError, SchemaError, StoreError
from picexchange.models.common import Role
from picexchange.models.envelope import Envelope
from picexchange.store import CaseDirection, CaseMessage, CaseSummary, CaseUpdate, Store, StoredCaseMessage
from picexchange.trust import ParticipantRole, TrustStore

__all__ = ["ATTEMPTS", "REVIEW_BATCH", "CaseKeeper", "LoadedCase"]

log = logging.getLogger("picexchange.gateway")

ATTEMPTS = 5
"""How often one message is tried against a case that other processes keep changing before the gateway gives
up with a retryable error (the sender retries the same bytes; a back office its submission)."""

REVIEW_BATCH = 50
"""The most case rows one case list (back office, console) reviews before it answers, the longest overdue first:
a day's due rows are few (the cases with a dated step that day), and a larger backlog (after the upgrade that
added review days, every older row is due once) is worked off by the lists that follow. A review costs one
row read and write, and folding the case's stored messages again when its fold is not cached."""

_STRIPES = 64
"""Per-case locks are this many stripes, chosen by the notification number's CRC: bounded memory, and two
messages of one case always meet the same lock."""


@dataclass(slots=True)
class LoadedCase:
    """A case as the gateway holds it while it handles one message.

    Attributes:
        fold: the running fold; applying a message changes it (dropped again if the write fails).
        version: the stored version the fold is at (0: the case is not stored yet).
        summary: the stored row (None: not stored yet), whose counts the next row continues.
        held: the stored messages the fold holds (the row's message count).

    """

    fold: CaseFold
    version: int
    summary: CaseSummary | None
    held: int = 0


def _seen(summary: CaseSummary) -> tuple[object, ...]:
    """Return what a reader of a case row sees of it: every summary column but the review day."""
    return dataclasses.astuple(
        dataclasses.replace(summary, review_on=None, message_count=0, updated_at=None, version=0, sequence=0)
    )


class CaseKeeper:
    """The cases of one gateway: folds cached by notification number, locks, rows, and who is what.

    Args:
        store: the store the cases are read from (and written with the messages, by the gateway).
        trust: the partner registry: a participant's role (competent authority or Customs) is its entry's.
        policy: the Basel allowances and deadlines the cases use.
        capacity: the most folds kept in memory (least recently used dropped first).
        limits: the parser's bounds, for decoding stored messages again.

    """

    def __init__(
        self,
        *,
        store: Store,
        trust: TrustStore,
        policy: CasePolicy | None = None,
        capacity: int = 256,
        limits: codec.Limits = codec.DEFAULT_LIMITS,
    ) -> None:
        self.store = store
        self.trust = trust
        self.policy = policy if policy is not None else CasePolicy()
        self.capacity = max(1, capacity)
        self.limits = limits
        # notification number -> (fold, stored version, messages it holds): exactly the stored case at that version.
        self._folds: collections.OrderedDict[str, tuple[CaseFold, int, int]] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._locks = tuple(threading.Lock() for _ in range(_STRIPES))

    # ---------------------------------------------------------------------------------------- who is what

    def agency_of(self, participant: str) -> Agency:
        """Return whether ``participant`` is a competent authority or Customs, from its registry entry.

        A participant the registry does not list (our own, when ``partners.toml`` names it only as ``[me]``)
        counts as a competent authority; list it as a ``[[partner]]`` with ``role = "customs"`` to act as Customs.
        """
        partner = self.trust.partner(participant)
        if partner is not None and partner.role is ParticipantRole.CUSTOMS:
            return Agency.CUSTOMS
        return Agency.COMPETENT_AUTHORITY

    def event_of(self, envelope: Envelope, direction: Direction) -> CaseEvent | None:
        """Return the case event of an envelope, or None for a transport reply or an integration-test message."""
        if envelope.header.test_indicator:
            return None  # "never acted on": a test message belongs to no case
        try:
            return CaseEvent.from_envelope(
                envelope, direction=direction, sender_agency=self.agency_of(envelope.header.sender)
            )
        except TypeError:
            return None  # Receipt, Error

    # ---------------------------------------------------------------------------------------- cache, locks

    @contextmanager
    def locked(self, notification_number: str) -> Iterator[None]:
        """Hold the lock of one case while a message of it is decided and written (one per process)."""
        with self._locks[zlib.crc32(notification_number.encode("utf-8")) % _STRIPES]:
            yield

    def load(self, notification_number: str) -> LoadedCase:
        """Return the case at its stored version: the cached fold, caught up if the case changed, or folded anew.

        The fold and the version always match: messages after the ones the fold holds are read and applied
        until the case row names exactly as many messages as the fold holds (a write that lands meanwhile is
        read too), and that row's version is the fold's. Catching up costs the new messages only, so a case
        another process keeps writing is never folded again from its start while its fold stays cached.

        Raises:
            StoreError: the store cannot be read, or a stored message cannot be decoded.

        """
        summary = self.store.case_summary(notification_number)
        with self._cache_lock:
            cached = self._folds.pop(notification_number, None)  # taken out: back in only once it matches
        version = 0 if summary is None else summary.version
        if cached is not None and cached[1] == version:
            self.remember(notification_number, cached[0], version, cached[2])
            return LoadedCase(fold=cached[0], version=version, summary=summary, held=cached[2])
        if cached is not None and summary is not None and cached[2] <= summary.message_count:
            fold, held = cached[0], cached[2]
        else:
            fold, held = CaseFold(notification_number, policy=self.policy), 0
        while summary is not None and held < summary.message_count:
            fresh = self.store.case_messages(notification_number, after=held)
            if not fresh:  # pragma: no cover - rows are never deleted
                raise StoreError(f"case {notification_number} lists {summary.message_count} messages; {held} found")
            for stored in fresh:
                event = self._stored_event(stored)
                if event is not None:
                    fold.apply(event)
                held = max(held, stored.position)
            summary = self.store.case_summary(notification_number)
        version = 0 if summary is None else summary.version
        return LoadedCase(fold=fold, version=version, summary=summary, held=held)

    def remember(self, notification_number: str, fold: CaseFold, version: int, held: int) -> None:
        """Keep ``fold`` as the case at stored ``version`` holding ``held`` messages; drop the least recently used."""
        with self._cache_lock:
            self._folds[notification_number] = (fold, version, held)
            self._folds.move_to_end(notification_number)
            while len(self._folds) > self.capacity:
                self._folds.popitem(last=False)

    def forget(self, notification_number: str) -> None:
        """Drop the cached fold of a case (after a failed or conflicting write: it may hold an unstored message)."""
        with self._cache_lock:
            self._folds.pop(notification_number, None)

    def _stored_event(self, stored: StoredCaseMessage) -> CaseEvent | None:
        try:
            envelope = codec.from_xml(stored.data, Envelope, limits=self.limits)
        except (ParseError, SchemaError) as exc:  # pragma: no cover - the store holds only accepted messages
            raise StoreError(
                f"case message {stored.message.message_id} cannot be decoded again: {exc}", retryable=False
            ) from exc
        direction = Direction.INBOUND if stored.message.direction is CaseDirection.INBOUND else Direction.OUTBOUND
        return self.event_of(envelope, direction)

    # ------------------------------------------------------------------------------------------ decisions

    def sender_refusal(self, fold: CaseFold, event: CaseEvent) -> CaseFinding | None:
        """Return the ``case.sender.role`` finding if the sender may not send this message, else None.

        With the Notification known (or being the message), the sender's role in the case decides
        (:func:`~picexchange.cases.check_sender`). Before it, only what kind of body the sender is can be
        judged: Customs sends only what a Customs role may send, a competent authority only what an authority
        role may send.
        """
        notification = fold.notification
        if notification is None and event.message_type.value == "Notification":
            notification = event.document  # type: ignore[assignment]
        if notification is not None:
            return check_sender(event, notification)
        allowed = ALLOWED_SENDERS[event.message_type]
        customs = {SenderRole.CUSTOMS_EXPORT, SenderRole.CUSTOMS_IMPORT}
        agencies = {Agency.CUSTOMS if role in customs else Agency.COMPETENT_AUTHORITY for role in allowed}
        if event.sender_agency in agencies:
            return None
        return finding(
            "case.sender.role",
            field=f"/{event.message_type.value}",
            expected=" or ".join(sorted(allowed)),
            found=f"{event.sender} ({event.sender_agency.value})",
            text=f"{event.message_type.value} may be sent only by {' or '.join(sorted(allowed))}; {event.sender} is "
            f"a {event.sender_agency.value.replace('-', ' ')}",
            message_id=event.message_id,
        )

    def update(
        self,
        loaded: LoadedCase,
        messages: tuple[CaseMessage, ...],
        raised: list[CaseFinding],
        *,
        now: dt.datetime,
    ) -> CaseUpdate:
        """Return the case row after the messages were applied to ``loaded.fold``, built on its version.

        Args:
            loaded: the case, its fold already holding the messages.
            messages: what to list under the case, in order.
            raised: the findings the messages raised when they were applied (counted into the row).
            now: the day a new shipment is judged on (``blocked``), and after which ``review_on`` is read.

        """
        return CaseUpdate(
            summary=self.summary_of(loaded.fold, loaded.summary, raised, now=now),
            messages=messages,
            expected_version=loaded.version,
        )

    def summary_of(
        self, fold: CaseFold, before: CaseSummary | None, raised: list[CaseFinding], *, now: dt.datetime
    ) -> CaseSummary:
        """Return the case row of ``fold`` as of ``now``: ``before``'s counts plus what ``raised`` adds.

        ``blocked`` is :meth:`~picexchange.cases.CaseFold.blocked_on` the day of ``now`` and ``review_on`` the
        :meth:`~picexchange.cases.CaseFold.next_change` after it; neither passes over the shipments.
        """
        notification = fold.notification
        export_country = import_country = None
        for concerned in notification.state_concerned if notification is not None else ():
            if concerned.role is Role.EXPORT:
                export_country = concerned.country
            elif concerned.role is Role.IMPORT:
                import_country = concerned.country
        day = now.date()
        cancelled = fold.cancelled_on
        state = "cancelled" if cancelled is not None else "notified" if notification is not None else "awaited"
        return CaseSummary(
            notification_number=fold.notification_number,
            state=state,
            export_country=export_country,
            import_country=import_country,
            blocked=fold.blocked_on(day),
            violations=(before.violations if before else 0) + sum(1 for item in raised if item.blocks),
            warnings=(before.warnings if before else 0) + sum(1 for item in raised if not item.blocks),
            shipments_used=fold.shipments_used,
            shipments_notified=notification.intended_shipments if notification is not None else None,
            review_on=fold.next_change(day),
        )

    # -------------------------------------------------------------------------------------------- review

    @staticmethod
    def holds_on(summary: CaseSummary, day: dt.date) -> bool:
        """Return whether a stored row's ``blocked`` is still the case's on ``day``.

        It was computed on the day of its ``updated_at`` and holds until its ``review_on`` (always, without one).
        """
        if summary.updated_at is not None and summary.updated_at.astimezone(dt.UTC).date() > day:
            return False
        return summary.review_on is None or day < summary.review_on

    def current(self, summary: CaseSummary, *, now: dt.datetime) -> CaseSummary:
        """Return the row as of ``now`` without writing: ``summary`` while it holds, else computed again.

        For a reader of the store that does not write (``picexchange case list``): the counts are the stored
        row's, ``blocked`` and ``review_on`` the case's on the day of ``now``.

        Raises:
            StoreError: the case's messages cannot be read or decoded.

        """
        if self.holds_on(summary, now.date()):
            return summary
        number = summary.notification_number
        with self.locked(number):
            loaded = self.load(number)
            self.remember(number, loaded.fold, loaded.version, loaded.held)
        stored = loaded.summary or summary
        fresh = self.summary_of(loaded.fold, stored, [], now=now)
        return dataclasses.replace(stored, blocked=fresh.blocked, review_on=fresh.review_on)

    def review_loaded(self, loaded: LoadedCase, *, now: dt.datetime) -> CaseSummary | None:
        """Rewrite a loaded case's row as of ``now`` if it is due (call with the case's lock held); return the row.

        Returns the row as it is after the call: the loaded one when it still holds, the refreshed one, or
        None when it was not stored yet. A refresh that conflicts (a message wrote the row meanwhile, from a
        fold that saw the same day) is skipped and the row read again.

        Raises:
            StoreError: the store cannot be written or read.

        """
        summary = loaded.summary
        if summary is None or self.holds_on(summary, now.date()):
            return summary
        number = summary.notification_number
        fresh = self.summary_of(loaded.fold, summary, [], now=now)
        # Only the review day moved (nothing a reader of the row sees): the row's updated_at stays, so a client
        # polling ?updated_since= is not sent a case that did not change.
        seen_changed = _seen(fresh) != _seen(summary)
        try:
            written = self.store.refresh_case(fresh, expected_version=loaded.version, at=now if seen_changed else None)
        except CaseConflict:
            self.forget(number)
            return self.store.case_summary(number)
        self.remember(number, loaded.fold, written.version, loaded.held)
        return written

    def review(self, notification_number: str, *, now: dt.datetime) -> CaseSummary | None:
        """Take the case's lock, load it and rewrite its row as of ``now`` if it is due; return the row.

        Raises:
            StoreError: the store cannot be read or written, or a stored message cannot be decoded.

        """
        with self.locked(notification_number):
            loaded = self.load(notification_number)
            if loaded.summary is not None:  # kept cached whether or not the row is rewritten
                self.remember(notification_number, loaded.fold, loaded.version, loaded.held)
            return self.review_loaded(loaded, now=now)

    def review_due(self, *, now: dt.datetime, limit: int = REVIEW_BATCH) -> int:
        """Rewrite the rows due for review on the day of ``now``, at most ``limit``; return how many were looked at.

        A case that cannot be reviewed (its messages cannot be read now) is logged and its review put off to the
        next day, so that rows which fail every time cannot hold the batch and starve the others; the list is still
        answered, with that row as it was stored.

        Raises:
            StoreError: the due rows cannot be listed.

        """
        due = self.store.cases_due(now.date(), limit=limit)
        for number in due:
            try:
                self.review(number, now=now)
            except StoreError as exc:
                log.warning("case %s was not reviewed: %s", number, exc)
                self._put_off(number, now=now)
        return len(due)

    def _put_off(self, notification_number: str, *, now: dt.datetime) -> None:
        """Move a case row's review to the day after ``now`` (row otherwise unchanged); best effort, logged."""
        try:
            with self.locked(notification_number):
                summary = self.store.case_summary(notification_number)
                if summary is None:
                    return
                tomorrow = now.date() + dt.timedelta(days=1)
                self.store.refresh_case(
                    dataclasses.replace(summary, review_on=tomorrow), expected_version=summary.version, at=None
                )
                self.forget(notification_number)
        except StoreError as exc:  # a CaseConflict too: a message rewrote the row, with its own review day
            log.warning("case %s: its review could not be put off: %s", notification_number, exc)
