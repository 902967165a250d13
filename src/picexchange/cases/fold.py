"""Fold a PIC case from its messages: events in, a frozen :class:`Case` and findings out.

The fold keeps one *track* per lifecycle instance: the notification, each State's acknowledgement and
decision, each information request, each shipment serial. A track holds its events sorted by a canonical key
(the lifecycle's order of events first, then the document's own date, the header's created time and the message
id) and its state is its table replayed over them. So the case depends on the *set* of messages, never on the
order they arrived in: a ConsentDecision that arrives before its Notification, or a ShipmentReceipt before the
ExportData, is kept and takes its place when what it depends on arrives. A message that comes last in its
track (the usual case) costs one table step; running totals (shipments used, quantity used per unit) make
checking one more ExportData independent of how many shipments the case already has.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from picexchange.cases.checks import (
    StateStanding,
    add_months,
    check_sender,
    match_findings,
    notification_findings,
    standing_findings,
)
from picexchange.cases.events import CaseEvent, country_of
from picexchange.cases.rules import CaseFinding, CasePolicy, Severity, finding
from picexchange.cases.state import (
    ACKNOWLEDGEMENT_LIFECYCLE,
    DECISION_LIFECYCLE,
    INFORMATION_LIFECYCLE,
    MOVEMENT_LIFECYCLE,
    NOTIFICATION_LIFECYCLE,
    AcknowledgementEvent,
    AcknowledgementState,
    CaseTransitionError,
    DecisionEvent,
    DecisionState,
    InformationEvent,
    InformationState,
    MovementEvent,
    MovementState,
    NotificationEvent,
    NotificationState,
    transition,
)
from picexchange.models.common import FormQuantity, Role
from picexchange.models.envelope import MessageType
from picexchange.models.export import ClearanceResult, ClearanceStatus, DisposalCertificate, ExportData, ShipmentReceipt
from picexchange.models.pic import (
    Acknowledgement,
    ConsentDecision,
    ConsentWithdrawal,
    Decision,
    InformationRequest,
    InformationResponse,
    MovementAnnouncement,
    Notification,
    NotificationCancellation,
)

__all__ = ["Case", "CaseFold", "Pending", "Shipment", "finding_order", "fold_case"]

# --------------------------------------------------------------------------------------------------- tracks

_S = TypeVar("_S", bound=enum.StrEnum)
_E = TypeVar("_E", bound=enum.StrEnum)
_Key = tuple[object, ...]


@dataclass(slots=True)
class _Entry(Generic[_E]):
    key: _Key
    step: _E
    event: CaseEvent
    applied: bool = False


@dataclass(slots=True)
class _Track(Generic[_S, _E]):
    """Events of one lifecycle instance in canonical order, and the state its table gives them."""

    table: Mapping[tuple[_S, _E], _S]
    initial: _S
    what: str
    entries: list[_Entry[_E]] = field(default_factory=list)
    state: _S | None = None

    def current(self) -> _S:
        return self.initial if self.state is None else self.state

    def add(self, key: _Key, step: _E, event: CaseEvent) -> None:
        entry = _Entry(key=key, step=step, event=event)
        if not self.entries or key > self.entries[-1].key:
            # The usual case: the newest message of its track takes one step.
            self.entries.append(entry)
            self._step(entry)
            return
        bisect.insort(self.entries, entry, key=lambda e: e.key)
        self.replay()

    def replay(self) -> None:
        self.state = None
        for entry in self.entries:
            self._step(entry)

    def _step(self, entry: _Entry[_E]) -> None:
        try:
            self.state = transition(self.table, self.current(), entry.step, what=self.what)
            entry.applied = True
        except CaseTransitionError:
            entry.applied = False

    def applied(self) -> list[_Entry[_E]]:
        return [entry for entry in self.entries if entry.applied]

    def waiting(self) -> list[_Entry[_E]]:
        return [entry for entry in self.entries if not entry.applied]


def _key(rank: int, event: CaseEvent, *before: object) -> _Key:
    return (*before, rank, event.created, event.message_id)


_MOVEMENT_RANK = {
    MovementEvent.ANNOUNCE: 0,
    MovementEvent.EXPORT: 1,
    MovementEvent.HOLD: 2,
    MovementEvent.RELEASE: 3,
    MovementEvent.REFUSE: 3,
    MovementEvent.RECEIVE: 4,
    MovementEvent.REJECT: 4,
    MovementEvent.CERTIFY: 5,
}

_SHIPMENT_DOCUMENTS = (MovementAnnouncement, ExportData, ClearanceResult, ShipmentReceipt, DisposalCertificate)

_MOVEMENT_STEP: Mapping[type, MovementEvent] = {
    MovementAnnouncement: MovementEvent.ANNOUNCE,
    ExportData: MovementEvent.EXPORT,
    DisposalCertificate: MovementEvent.CERTIFY,
}

_CLEARANCE_EVENT = {
    ClearanceStatus.HELD: MovementEvent.HOLD,
    ClearanceStatus.RELEASED: MovementEvent.RELEASE,
    ClearanceStatus.REJECTED: MovementEvent.REFUSE,
    ClearanceStatus.RETURNED: MovementEvent.REFUSE,
}

_DECISION_EVENT = {
    Decision.CONSENT: DecisionEvent.CONSENT,
    Decision.CONSENT_WITH_CONDITIONS: DecisionEvent.CONSENT_WITH_CONDITIONS,
    Decision.OBJECTION: DecisionEvent.OBJECT,
}

# Why a message that does not fit its track waits: the rule its finding reports while it waits.
_WAITING_RULE: Mapping[enum.StrEnum, str] = {
    MovementEvent.EXPORT: "export.serial.repeated",
    MovementEvent.HOLD: "export.clearance.not-exported",
    MovementEvent.RELEASE: "export.clearance.not-exported",
    MovementEvent.REFUSE: "export.clearance.not-exported",
    MovementEvent.RECEIVE: "export.receipt.not-exported",
    MovementEvent.REJECT: "export.receipt.not-exported",
    MovementEvent.CERTIFY: "export.disposal.not-received",
    InformationEvent.ANSWER: "pic.information.unrequested",
    DecisionEvent.WITHDRAW: "pic.withdrawal.without-consent",
    NotificationEvent.NOTIFY: "case.notification.repeated",
    NotificationEvent.CANCEL: "case.notification.missing",
}


def _waiting_rule(track: _Track[Any, Any], step: enum.StrEnum) -> str:
    """Return the rule a message that does not fit its track breaks.

    A receipt waits for an export only while the shipment has none; once it has, a message that still does not
    fit (a rejection after a certified disposal, say) is out of sequence, not early.
    """
    rule = _WAITING_RULE.get(step, "case.sequence")
    steps = {entry.step for entry in track.entries if entry.applied}
    if rule.endswith(".not-exported") and MovementEvent.EXPORT in steps:
        return "case.sequence"
    if rule == "export.disposal.not-received" and MovementEvent.RECEIVE in steps:
        return "case.sequence"
    return rule


# ---------------------------------------------------------------------------------------------- the fold


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """A message kept until what it depends on arrives.

    Attributes:
        message_id: the message.
        message_type: its type.
        waiting_for: what it waits for, in words.

    """

    message_id: str
    message_type: MessageType
    waiting_for: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipment:
    """One shipment of the case, by its serial (V-B 2).

    Attributes:
        serial: the shipment serial.
        state: where the movement stands.
        declaration_id: the export declaration, once the ExportData arrived.
        shipped_on: the actual shipment date (V-B 6).
        quantity: the actual quantity (``"19.84 TNE"``).
        expected_arrival: the expected arrival, from the ExportData or else the MovementAnnouncement; None when
            neither gives one (the overdue rule then counts the policy's ``expected_transit_days``).
        received_on: the date of reception (V-B 18).
        completed_on: the date disposal or recovery was completed (V-B 19).
        message_ids: every message about the shipment, in the movement's order.

    """

    serial: int
    state: MovementState
    declaration_id: str | None
    shipped_on: dt.date | None
    quantity: str | None
    expected_arrival: dt.date | None
    received_on: dt.date | None
    completed_on: dt.date | None
    message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A PIC case as of a date: every State's standing, every shipment, what is used and left, and findings.

    Attributes:
        notification_number: the notification number (the conversation id).
        notification: the Notification, once it arrived.
        state: awaited, notified or cancelled.
        cancelled_on: the date of the cancellation.
        as_of: the date the case is seen on.
        states: the States concerned, in route order (from the notification).
        shipments: every shipment, by serial.
        shipments_used: shipments exported.
        shipments_left: notified (or fewer consented) shipments not yet used.
        quantity_used: quantity exported, per unit.
        quantity_left: notified (or less consented) quantity not yet used, in the notified unit.
        findings: every finding, violations first.
        pending: messages kept until what they depend on arrives.
        message_ids: every message of the case, in the order of the procedure.
        test: whether this is the test case of the notification number, folded from its test messages only.

    """

    notification_number: str
    notification: Notification | None
    state: NotificationState
    cancelled_on: dt.date | None
    as_of: dt.date
    states: tuple[StateStanding, ...]
    shipments: tuple[Shipment, ...]
    shipments_used: int
    shipments_left: int | None
    quantity_used: Mapping[str, Decimal]
    quantity_left: Decimal | None
    findings: tuple[CaseFinding, ...]
    pending: tuple[Pending, ...]
    message_ids: tuple[str, ...]
    test: bool = False

    @property
    def blocked(self) -> bool:
        """Return whether a violation stops a new shipment under this case."""
        return any(item.blocks for item in self.findings)


@dataclass(slots=True)
class _Movement:
    track: _Track[MovementState, MovementEvent]
    contribution: tuple[tuple[str, Decimal], ...] | None = None


class CaseFold:
    """The running fold of one case: apply messages one by one, read a :class:`Case` at any date.

    It is the only mutable object of the package and holds nothing but messages and running totals; the
    gateway keeps one per case while it applies a message, and :meth:`case` returns a frozen snapshot.
    """

    def __init__(self, notification_number: str, *, policy: CasePolicy | None = None, test: bool = False) -> None:
        """Start an empty case for ``notification_number`` under ``policy`` (Basel defaults when None).

        A live fold (``test`` false) hands every test message (header TestIndicator true) to its own test fold, so
        test messages never use a live case's serials or quantities nor change its decisions; the test case is read
        with :meth:`test_case`.
        """
        self.notification_number = notification_number
        self.policy = policy if policy is not None else CasePolicy()
        self.test = test
        self._test_fold: CaseFold | None = None
        self._events: dict[str, CaseEvent] = {}
        self._notification: _Track[NotificationState, NotificationEvent] = _Track(
            NOTIFICATION_LIFECYCLE, NotificationState.AWAITED, "notification"
        )
        self._acknowledgements: dict[str, _Track[AcknowledgementState, AcknowledgementEvent]] = {}
        self._decisions: dict[str, _Track[DecisionState, DecisionEvent]] = {}
        self._requests: dict[str, _Track[InformationState, InformationEvent]] = {}
        self._movements: dict[int, _Movement] = {}
        self._quantity_used: dict[str, Decimal] = {}
        self._shipments_used = 0
        # Standings read on a date, kept until the next message changes the case: the case view asks for the
        # same State on the same shipment date many times.
        self._standings: dict[tuple[Role, str, str, dt.date], StateStanding] = {}

    # ------------------------------------------------------------------------------------------ applying

    def apply(self, event: CaseEvent) -> bool:
        """Apply one message; return False if it was already applied (same message id, nothing changes).

        Raises:
            ValueError: the message belongs to another case.

        """
        if event.conversation_id != self.notification_number:
            raise ValueError(
                f"message {event.message_id} belongs to case {event.conversation_id}, not {self.notification_number}"
            )
        if event.test and not self.test:
            return self._tests().apply(event)
        if self.test and not event.test:
            raise ValueError(f"message {event.message_id} is live; a test case takes test messages only")
        if event.message_id in self._events:
            return False
        self._events[event.message_id] = event
        self._standings.clear()
        track, key, step = self._place(event, register=True)
        track.add(key, step, event)
        if isinstance(event.document, _SHIPMENT_DOCUMENTS):
            self._count(event.document.shipment_serial)
        return True

    def _place(self, event: CaseEvent, *, register: bool) -> tuple[_Track[Any, Any], _Key, enum.StrEnum]:
        """Return the track an event belongs to, its canonical key there and its step.

        With ``register`` false a track the case does not hold yet is made but not kept (to try a message out).
        """
        doc = event.document
        match doc:
            case Notification():
                return self._notification, _key(0, event), NotificationEvent.NOTIFY
            case NotificationCancellation():
                return self._notification, _key(1, event), NotificationEvent.CANCEL
            case Acknowledgement():
                step = (
                    AcknowledgementEvent.ACKNOWLEDGE_COMPLETE
                    if doc.complete
                    else AcknowledgementEvent.ACKNOWLEDGE_INCOMPLETE
                )
                track: _Track[Any, Any] = self._track_of(
                    self._acknowledgements,
                    doc.country,
                    ACKNOWLEDGEMENT_LIFECYCLE,
                    AcknowledgementState.AWAITED,
                    "acknowledgement",
                    register=register,
                )
                return track, _key(int(doc.complete), event, doc.acknowledged_on), step
            case InformationRequest() | InformationResponse():
                track = self._track_of(
                    self._requests,
                    doc.request_id,
                    INFORMATION_LIFECYCLE,
                    InformationState.UNASKED,
                    "information request",
                    register=register,
                )
                if isinstance(doc, InformationRequest):
                    return track, _key(0, event), InformationEvent.REQUEST
                return track, _key(1, event), InformationEvent.ANSWER
            case ConsentDecision() | ConsentWithdrawal():
                track = self._track_of(
                    self._decisions,
                    doc.country,
                    DECISION_LIFECYCLE,
                    DecisionState.UNDECIDED,
                    "decision",
                    register=register,
                )
                if isinstance(doc, ConsentDecision):
                    return track, _key(0, event, doc.decided_on), _DECISION_EVENT[doc.decision]
                # A withdrawal takes effect from its effective date, so it sorts there among the decisions.
                return track, _key(1, event, doc.effective_from), DecisionEvent.WITHDRAW
        movement = self._movements.get(doc.shipment_serial)
        if movement is None:
            movement = _Movement(_Track(MOVEMENT_LIFECYCLE, MovementState.PLANNED, f"shipment {doc.shipment_serial}"))
            if register:
                self._movements[doc.shipment_serial] = movement
        match doc:
            case ClearanceResult():
                move = _CLEARANCE_EVENT[doc.status]
            case ShipmentReceipt():
                move = MovementEvent.RECEIVE if doc.accepted else MovementEvent.REJECT
            case _:
                move = _MOVEMENT_STEP[type(doc)]
        return movement.track, _key(_MOVEMENT_RANK[move], event), move

    def _track_of(
        self,
        tracks: dict[str, _Track[_S, _E]],
        name: str,
        table: Mapping[tuple[_S, _E], _S],
        initial: _S,
        what: str,
        *,
        register: bool,
    ) -> _Track[_S, _E]:
        track = tracks.get(name)
        if track is None:
            track = _Track(table, initial, f"{what} of {name}")
            if register:
                tracks[name] = track
        return track

    def _count(self, serial: int) -> None:
        """Keep the running totals after a shipment's track changed: only the ExportData it applied counts."""
        movement = self._movements[serial]
        before = movement.contribution
        export = _applied_export(movement.track)
        after = tuple(export.actual_quantity.by_unit().items()) if export is not None else None
        if before != after:
            if before is not None:
                for unit, amount in before:
                    self._quantity_used[unit] -= amount
                    if not self._quantity_used[unit]:
                        # A unit no shipment uses any more is no unit of the case: the same set of messages
                        # gives the same totals, whichever ExportData of a serial came first.
                        del self._quantity_used[unit]
                self._shipments_used -= 1
            if after is not None:
                for unit, amount in after:
                    self._quantity_used[unit] = self._quantity_used.get(unit, Decimal(0)) + amount
                self._shipments_used += 1
            movement.contribution = after

    def _tests(self) -> CaseFold:
        if self._test_fold is None:
            self._test_fold = CaseFold(self.notification_number, policy=self.policy, test=True)
        return self._test_fold

    # ------------------------------------------------------------------------------------------- reading

    @property
    def has_messages(self) -> bool:
        """Return whether any message was applied to this fold itself (its test case aside)."""
        return bool(self._events)

    def test_case(self, *, now: dt.datetime) -> Case | None:
        """Return the test case folded from the test messages of this notification number, None if there are none."""
        return self._test_fold.case(now=now) if self._test_fold is not None else None

    @property
    def notification(self) -> Notification | None:
        """Return the case's Notification (the first, in canonical order), once it arrived."""
        for entry in self._notification.applied():
            if isinstance(entry.event.document, Notification):
                return entry.event.document
        return None

    def has(self, message_id: str) -> bool:
        """Return whether the message ``message_id`` was applied to the case already."""
        return message_id in self._events

    @property
    def shipments_used(self) -> int:
        """Return the number of shipments exported so far (a running total: no pass over the case)."""
        return self._shipments_used

    @property
    def cancelled_on(self) -> dt.date | None:
        """Return the date the notification was cancelled, if it was."""
        for entry in self._notification.applied():
            if isinstance(entry.event.document, NotificationCancellation):
                return entry.event.document.cancelled_on
        return None

    def standing(self, state_country: str, day: dt.date) -> StateStanding | None:
        """Return where a State concerned stands on ``day``, or None if the notification does not name it."""
        notification = self.notification
        if notification is None:
            return None
        for state in notification.state_concerned:
            if state.country == state_country:
                return self._standing(state.role, state.country, state.competent_authority, day)
        return None

    def blocked_on(self, day: dt.date) -> bool:
        """Return whether a new shipment under this case would be stopped on ``day``, whatever its documents.

        True when the case has messages but no Notification yet (nothing may start before it is known); the
        notification was cancelled by ``day``; ``day`` is outside the notified departures; or a State of import
        or transit has not consented (nor is deemed to), objected, withdrew its consent with effect by ``day``,
        or has a written consent that is not valid on ``day`` (expired, or not yet valid). These are the
        blocking findings of :meth:`case` about the case as a whole, read on ``day``; the gateway's case row
        (``blocked``) is this. It reads each State's decisions, never the shipments, so it costs the same
        whatever the case's history.
        """
        notification = self.notification
        if notification is None:
            return self.has_messages
        cancelled = self.cancelled_on
        if cancelled is not None and cancelled <= day:
            return True
        if not notification.first_departure <= day <= notification.last_departure:
            return True
        for index, state in enumerate(notification.state_concerned, start=1):
            standing = self._standing(state.role, state.country, state.competent_authority, day)
            if any(item.blocks for item in standing_findings(standing, index, self.policy)):
                return True
            if any(item.blocks for item in self._validity_today(standing, day)):
                return True
        return False

    def next_change(self, day: dt.date) -> dt.date | None:
        """Return the first date after ``day`` on which :meth:`blocked_on` may differ without a new message.

        Every dated step the fold holds counts: each decision's DecidedOn, each withdrawal's EffectiveFrom, the
        day a transit State is deemed to consent (Art. 6(4)), the cancellation's CancelledOn, each consent's
        ValidFrom and the day after its ValidUntil, the first departure and the day after the last. None when
        nothing is dated after ``day``: the case stays as it is until its next message. Overdue receipts and
        disposals (warnings, not blocking) are not steps here; the case view reads them on its own date.
        """
        found: set[dt.date] = set()

        def after(date: dt.date | None, days: int = 0) -> None:
            if date is not None and date <= dt.date.max - dt.timedelta(days=days):
                found.add(date + dt.timedelta(days=days))

        notification = self.notification
        if notification is None:
            return None  # nothing of the case counts before its Notification
        after(notification.first_departure)
        after(notification.last_departure, 1)
        after(self.cancelled_on)
        for track in self._decisions.values():
            for entry in track.entries:
                doc = entry.event.document
                if isinstance(doc, ConsentDecision):
                    after(doc.decided_on)
                    after(doc.valid_from)
                    after(doc.valid_until, 1)
                elif isinstance(doc, ConsentWithdrawal):
                    after(doc.effective_from)
        for state in notification.state_concerned:
            after(self._deemed_on(state.role, state.country, state.competent_authority))
        later = [date for date in found if date > day]
        return min(later) if later else None

    def _deemed_on(self, role: Role, country: str, authority: str) -> dt.date | None:
        """Return the day a transit State that waived written consent is deemed to consent, if it may be (Art. 6(4)).

        The period of ``CasePolicy.waived_written_consent`` after its first complete acknowledgement; None for a
        State that did not waive, is not of transit, or has not acknowledged the notification as complete.
        """
        period = self.policy.waived_written_consent.get(authority)
        track = self._acknowledgements.get(country)
        if role is not Role.TRANSIT or period is None or track is None:
            return None
        for entry in track.applied():
            doc = entry.event.document
            if isinstance(doc, Acknowledgement) and doc.complete:
                return doc.acknowledged_on + dt.timedelta(days=period)
        return None

    def _standing(self, role: Role, country: str, authority: str, day: dt.date) -> StateStanding:
        key = (role, country, authority, day)
        standing = self._standings.get(key)
        if standing is None:
            standing = self._standings[key] = self._read_standing(role, country, authority, day)
        return standing

    def _read_standing(self, role: Role, country: str, authority: str, day: dt.date) -> StateStanding:
        ack_track = self._acknowledgements.get(country)
        ack_state = AcknowledgementState.AWAITED
        acknowledged_on: dt.date | None = None
        if ack_track is not None:
            ack_state = ack_track.current()
            for entry in ack_track.applied():
                doc = entry.event.document
                assert isinstance(doc, Acknowledgement)  # noqa: S101 - the track holds only acknowledgements
                acknowledged_on = doc.acknowledged_on
        requested, answered = [], []
        for request_id, track in self._requests.items():
            first = track.entries[0].event.document
            if isinstance(first, InformationRequest) and country_of(first.requested_by) == country:
                if track.current() is InformationState.ANSWERED:
                    answered.append(request_id)
                elif track.current() is InformationState.REQUESTED:
                    requested.append(request_id)
        decision = DecisionState.UNDECIDED
        decided_on: dt.date | None = None
        consent: ConsentDecision | None = None
        withdrawn_from: dt.date | None = None
        # Art. 6(4): a transit Party that waived written consent and did not decide within the period after
        # its (complete) acknowledgement is deemed to consent from the end of the period.
        deem_on = self._deemed_on(role, country, authority)
        decisions = self._decisions.get(country)
        steps: list[tuple[dt.date, DecisionEvent, ConsentDecision | ConsentWithdrawal | None]] = []
        for step in decisions.entries if decisions is not None else ():
            written_doc = step.event.document
            if isinstance(written_doc, ConsentDecision) and written_doc.decided_on <= day:
                steps.append((written_doc.decided_on, step.step, written_doc))
            elif isinstance(written_doc, ConsentWithdrawal) and written_doc.effective_from <= day:
                steps.append((written_doc.effective_from, step.step, written_doc))
        if deem_on is not None and deem_on <= day and not any(on < deem_on for on, _, _ in steps):
            steps.insert(0, (deem_on, DecisionEvent.DEEM, None))
        for on, decision_step, decision_doc in steps:
            if (
                isinstance(decision_doc, ConsentWithdrawal)
                and consent is not None
                and consent.decision_id != decision_doc.decision_id
            ):
                # It withdraws another decision than the written one in force, which stands. A deemed consent
                # (no written decision) is withdrawn by any withdrawal of that State.
                continue
            try:
                decision = transition(DECISION_LIFECYCLE, decision, decision_step, what=f"decision of {country}")
            except CaseTransitionError:
                continue
            if isinstance(decision_doc, ConsentWithdrawal):
                withdrawn_from = on
            else:
                decided_on, consent, withdrawn_from = on, decision_doc, None
        if role is Role.EXPORT:
            decision = DecisionState.CONSENTED  # the State of export notifies; it does not decide on itself
        written = consent if consent is not None and decision is not DecisionState.OBJECTED else None
        return StateStanding(
            role=role,
            country=country,
            competent_authority=authority,
            acknowledgement=ack_state,
            acknowledged_on=acknowledged_on,
            information_requested=tuple(sorted(requested)),
            information_answered=tuple(sorted(answered)),
            decision=decision,
            decided_on=decided_on,
            valid_from=written.valid_from if written else None,
            valid_until=written.valid_until if written else None,
            conditions=written.condition if written else (),
            max_shipments=written.max_shipments if written else None,
            max_quantity=(
                f"{written.max_quantity.value} {written.max_quantity.unit}"
                if written and written.max_quantity
                else None
            ),
            withdrawn_from=withdrawn_from,
        )

    def case(self, *, now: dt.datetime) -> Case:
        """Return the case as of ``now``: standings, shipments, totals, findings and pending messages."""
        day = now.date()
        notification = self.notification
        standings = (
            tuple(self._standing(s.role, s.country, s.competent_authority, day) for s in notification.state_concerned)
            if notification is not None
            else ()
        )
        findings: list[CaseFinding] = []
        pending: list[Pending] = []
        order: list[str] = []
        if notification is not None:
            findings += notification_findings(notification)
        for entry in self._notification.entries:
            order.append(entry.event.message_id)
        # Every message waits for the Notification; then for what its track needs.
        tracks: list[_Track[Any, Any]] = [
            self._notification,
            # Sorted by name, never by arrival, so that the case is the same whatever order messages came in.
            *(self._acknowledgements[name] for name in sorted(self._acknowledgements)),
            *(self._requests[name] for name in sorted(self._requests)),
            *(self._decisions[name] for name in sorted(self._decisions)),
            *(self._movements[serial].track for serial in sorted(self._movements)),
        ]
        for track in tracks:
            for entry in track.entries:
                if track is not self._notification:
                    order.append(entry.event.message_id)
                event = entry.event
                if notification is None and not isinstance(event.document, Notification):
                    pending.append(_pending(event, "the Notification"))
                    findings.append(
                        finding(
                            "export.case.unknown"
                            if isinstance(event.document, ExportData)
                            else "case.notification.missing",
                            field=f"/{event.message_type.value}/NotificationNumber",
                            expected="a notified case",
                            found=self.notification_number,
                            text=f"{event.message_type.value} {event.message_id} is kept until the Notification "
                            f"{self.notification_number} arrives",
                            message_id=event.message_id,
                        )
                    )
                    continue
                if not entry.applied and not _copy_of(event, notification):
                    rule = _waiting_rule(track, entry.step)
                    if rule != "export.serial.repeated" and rule != "case.notification.repeated":
                        pending.append(_pending(event, f"a message before it in the {track.what}"))
                    findings.append(
                        finding(
                            rule,
                            field=f"/{event.message_type.value}",
                            expected=f"a message that fits the {track.what} ({track.current().value})",
                            found=f"{entry.step.value} ({event.message_id})",
                            text=f"{event.message_type.value} {event.message_id} does not fit the {track.what}, "
                            f"which is {track.current().value}",
                            message_id=event.message_id,
                        )
                    )
                if notification is not None:
                    sender = check_sender(event, notification)
                    if sender is not None:
                        findings.append(sender)
        if notification is not None:
            findings += self._state_findings(notification, standings, day)
            findings += self._decision_findings(notification)
            findings += self._withdrawal_findings(notification)
        shipments = []
        running: dict[str, Decimal] = {}
        for serial in sorted(self._movements):
            movement = self._movements[serial]
            shipment = _shipment(serial, movement.track)
            shipments.append(shipment)
            export_entry = _applied_export_entry(movement.track)
            if export_entry is not None and notification is not None:
                export = export_entry.event.document
                assert isinstance(export, ExportData)  # noqa: S101 - an EXPORT step carries an ExportData
                findings += self._export_findings(export, export_entry.event, running_before=running, repeated_by=None)
                for unit, amount in export.actual_quantity.by_unit().items():
                    running[unit] = running.get(unit, Decimal(0)) + amount
            findings += self._overdue(shipment, movement.track, day)
            findings += _receipt_findings(movement.track)
        limit_shipments, limit_quantity = self._limits(day)
        notified_unit = _primary_unit(notification.intended_quantity) if notification is not None else None
        findings.sort(key=finding_order)
        return Case(
            notification_number=self.notification_number,
            notification=notification,
            state=self._notification.current(),
            cancelled_on=self.cancelled_on,
            as_of=day,
            states=standings,
            shipments=tuple(shipments),
            shipments_used=self._shipments_used,
            shipments_left=None if limit_shipments is None else max(limit_shipments - self._shipments_used, 0),
            quantity_used=dict(self._quantity_used),
            quantity_left=(
                None
                if limit_quantity is None or notified_unit is None
                else max(limit_quantity - self._quantity_used.get(notified_unit, Decimal(0)), Decimal(0))
            ),
            findings=tuple(findings),
            pending=tuple(pending),
            message_ids=tuple(order),
            test=self.test,
        )

    # --------------------------------------------------------------------------------------------- rules

    def _limits(self, day: dt.date) -> tuple[int | None, Decimal | None]:
        """Return the shipments and quantity allowed: the notified ones, or fewer where a consent says so."""
        notification = self.notification
        if notification is None:
            return None, None
        shipments: int = notification.intended_shipments
        unit = _primary_unit(notification.intended_quantity)
        quantity = notification.intended_quantity.by_unit()[unit]
        for state in notification.state_concerned:
            if state.role is Role.EXPORT:
                continue
            standing = self._standing(state.role, state.country, state.competent_authority, day)
            if standing.max_shipments is not None:
                shipments = min(shipments, standing.max_shipments)
            consent = self._consent_in_force(state.country, day)
            if consent is not None and consent.max_quantity is not None:
                if consent.max_quantity.unit == unit:
                    quantity = min(quantity, consent.max_quantity.value)
        return shipments, quantity

    def _consent_in_force(self, country: str, day: dt.date) -> ConsentDecision | None:
        track = self._decisions.get(country)
        found = None
        for entry in track.entries if track is not None else ():
            doc = entry.event.document
            if isinstance(doc, ConsentDecision) and doc.decided_on <= day:
                found = doc
        return found

    def _state_findings(
        self, notification: Notification, standings: tuple[StateStanding, ...], day: dt.date
    ) -> list[CaseFinding]:
        """Return the findings that stop or inform a new shipment today (Art. 6(3), 6(4))."""
        found: list[CaseFinding] = []
        cancelled = self.cancelled_on
        if cancelled is not None and cancelled <= day:
            found.append(
                finding(
                    "pic.notification.cancelled",
                    field="/NotificationCancellation/CancelledOn",
                    expected="a notification in force",
                    found=f"cancelled on {cancelled}",
                    text=f"notification {notification.notification_number} was cancelled on {cancelled}",
                )
            )
        for index, standing in enumerate(standings, start=1):
            found += standing_findings(standing, index, self.policy)
            found += self._validity_today(standing, day)
        if not notification.first_departure <= day <= notification.last_departure:
            late = day > notification.last_departure
            found.append(
                finding(
                    "export.departure.window",
                    field="/Notification/LastDeparture" if late else "/Notification/FirstDeparture",
                    expected=f"{notification.first_departure} to {notification.last_departure}",
                    found=day,
                    text=f"{day} is outside the notified departures; no shipment may start on it",
                )
            )
        known = {state.country for state in notification.state_concerned}
        for country, tracks in (("acknowledgement", self._acknowledgements), ("decision", self._decisions)):
            for name, track in tracks.items():
                if name not in known:
                    for entry in track.entries:
                        found.append(
                            finding(
                                "case.state.unknown",
                                field=f"/{entry.event.message_type.value}/Country",
                                expected=" ".join(sorted(known)),
                                found=name,
                                text=f"a {country} from {name}, which the notification does not name as a State "
                                "concerned",
                                message_id=entry.event.message_id,
                            )
                        )
        return found

    def _validity_today(self, standing: StateStanding, day: dt.date) -> list[CaseFinding]:
        """Return a finding when a State's written consent is not valid on ``day``: no shipment may start on it.

        The same rule as for an ExportData's shipment date (V-A 20, Art. 6(8)), asked of the case's own date, so
        that a case whose consent expired is blocked, not only its next export data.
        """
        if (
            standing.decision not in (DecisionState.CONSENTED, DecisionState.CONSENTED_WITH_CONDITIONS)
            or standing.valid_from is None
            or standing.valid_until is None
            or standing.valid_from <= day <= standing.valid_until
        ):
            return []
        consent = self._consent_in_force(standing.country, day)
        track = self._decisions.get(standing.country)
        entries = track.entries if track is not None else []
        message_id = next((e.event.message_id for e in entries if e.event.document is consent), None)
        who = f"{standing.country} ({standing.role.value})"
        return [
            finding(
                "export.consent.validity",
                field="/ConsentDecision/ValidUntil" if day > standing.valid_until else "/ConsentDecision/ValidFrom",
                expected=f"{standing.valid_from} to {standing.valid_until}",
                found=day,
                text=f"the consent of {who} is not valid on {day}; no shipment may start on it",
                message_id=message_id,
            )
        ]

    def _decision_findings(self, notification: Notification) -> list[CaseFinding]:
        """Return a warning for each consent valid longer than the policy allows (Art. 6(8))."""
        months = (
            self.policy.max_preconsented_consent_months
            if notification.preconsented_facility
            else self.policy.max_consent_months
        )
        found = []
        for track in self._decisions.values():
            for entry in track.entries:
                doc = entry.event.document
                if (
                    isinstance(doc, ConsentDecision)
                    and doc.valid_from is not None
                    and doc.valid_until is not None
                    and doc.valid_until >= add_months(doc.valid_from, months)
                ):
                    found.append(
                        finding(
                            "pic.consent.validity-too-long",
                            field="/ConsentDecision/ValidUntil",
                            expected=f"before {add_months(doc.valid_from, months)} ({months} months)",
                            found=str(doc.valid_until),
                            text=f"the consent of {doc.country} is valid from {doc.valid_from} to {doc.valid_until}, "
                            f"longer than {months} months",
                            message_id=entry.event.message_id,
                        )
                    )
        return found

    def _withdrawal_findings(self, notification: Notification) -> list[CaseFinding]:
        """Return a warning for a withdrawal whose role or decision is not its State's (V-A 20).

        A withdrawal counts only against the consent it names (its DecisionId) while that consent is in force; the
        role it states must be the State's role on the notified route (import or transit).
        """
        roles = {state.country: state.role.value for state in notification.state_concerned}
        found = []
        for country, track in self._decisions.items():
            given = {
                entry.event.document.decision_id
                for entry in track.entries
                if isinstance(entry.event.document, ConsentDecision)
                and entry.event.document.decision is not Decision.OBJECTION
            }
            for entry in track.entries:
                doc = entry.event.document
                if not isinstance(doc, ConsentWithdrawal):
                    continue
                mid = entry.event.message_id
                if country in roles and doc.role.value != roles[country]:
                    found.append(
                        finding(
                            "pic.withdrawal.mismatch",
                            field="/ConsentWithdrawal/Role",
                            expected=roles[country],
                            found=doc.role.value,
                            text=f"{country} is a State of {roles[country]} on the route, not of {doc.role.value}",
                            message_id=mid,
                        )
                    )
                if given and doc.decision_id not in given:
                    found.append(
                        finding(
                            "pic.withdrawal.mismatch",
                            field="/ConsentWithdrawal/DecisionId",
                            expected=" ".join(sorted(given)),
                            found=doc.decision_id,
                            text=f"{country} gave no consent {doc.decision_id}; the withdrawal changes nothing",
                            message_id=mid,
                        )
                    )
        return found

    def findings_for(self, event: CaseEvent) -> list[CaseFinding]:
        """Return what applying ``event`` would report about it, without applying it.

        The gateway calls it before it accepts a message or queues one a back office submits: who may send it,
        whether its case is known, whether what it depends on is there; for a MovementAnnouncement whether the
        shipment may start on its planned departure; for an ExportData every export rule.
        It costs what one step of the message's track costs, whatever the case's history.
        """
        if event.test and not self.test:
            return self._tests().findings_for(event)
        if isinstance(event.document, ExportData):
            return self.export_findings(event)
        notification = event.document if isinstance(event.document, Notification) else self.notification
        name = event.message_type.value
        if notification is None:
            return [
                finding(
                    "case.notification.missing",
                    field=f"/{name}/NotificationNumber",
                    expected="a notified case",
                    found=event.conversation_id,
                    text=f"no Notification {event.conversation_id} is known",
                    message_id=event.message_id,
                )
            ]
        found = []
        sender = check_sender(event, notification)
        if sender is not None:
            found.append(sender)
        announcement = event.document
        if isinstance(announcement, MovementAnnouncement) and self.notification is not None:
            found += self._start_findings(
                root="MovementAnnouncement",
                date_field="PlannedDeparture",
                day=announcement.planned_departure,
                serial=announcement.shipment_serial,
                mid=event.message_id,
            )
        if event.message_id in self._events:
            return found
        track, key, step = self._place(event, register=False)
        # Try it on a copy of its track (a handful of messages), never on the case itself.
        trial = _Track(
            track.table,
            track.initial,
            track.what,
            [_Entry(e.key, e.step, e.event, e.applied) for e in track.entries],
            track.state,
        )
        trial.add(key, step, event)
        entry = next(e for e in trial.entries if e.event is event)
        if not entry.applied and not _copy_of(event, self.notification):
            found.append(
                finding(
                    _waiting_rule(trial, step),
                    field=f"/{name}",
                    expected=f"a message that fits the {track.what} ({track.current().value})",
                    found=f"{step.value} ({event.message_id})",
                    text=f"{name} {event.message_id} does not fit the {track.what}, which is {track.current().value}",
                    message_id=event.message_id,
                )
            )
        return found

    def export_findings(self, event: CaseEvent) -> list[CaseFinding]:
        """Return the findings of one ExportData against the case as it stands, before applying it.

        Running totals make this independent of how many shipments the case has.
        """
        if event.test and not self.test:
            return self._tests().export_findings(event)
        export = event.document
        if not isinstance(export, ExportData):
            raise TypeError(f"{event.message_type.value} is not ExportData")
        running = dict(self._quantity_used)
        repeated_by = None
        movement = self._movements.get(export.shipment_serial)
        if movement is not None:
            entry = _applied_export_entry(movement.track)
            if entry is not None:
                if entry.event.message_id == event.message_id:
                    # The same message again: it is already counted.
                    for unit, amount in export.actual_quantity.by_unit().items():
                        running[unit] -= amount
                else:
                    repeated_by = entry.event
        notification = self.notification
        if notification is None:
            return [
                finding(
                    "export.case.unknown",
                    field="/ExportData/NotificationNumber",
                    expected="a notified case",
                    found=export.notification_number,
                    text=f"no Notification {export.notification_number} is known",
                    message_id=event.message_id,
                )
            ]
        found = []
        sender = check_sender(event, notification)
        if sender is not None:
            found.append(sender)
        return found + self._export_findings(export, event, running_before=running, repeated_by=repeated_by)

    def _start_findings(self, *, root: str, date_field: str, day: dt.date, serial: int, mid: str) -> list[CaseFinding]:
        """Return why a shipment may not start on ``day`` under serial ``serial`` (Art. 6(3), 6(4), 6(8)).

        An ExportData (root ``ExportData``, its actual shipment date) and a MovementAnnouncement (its planned
        departure) are both held to it: an objection, a withdrawal or a cancellation stops new shipments.
        """
        notification = self.notification
        assert notification is not None  # callers check
        found: list[CaseFinding] = []

        def add(rule: str, path: str, expected: object, actual: object, text: str) -> None:
            found.append(
                finding(rule, field=f"/{root}/{path}", expected=expected, found=actual, text=text, message_id=mid)
            )

        cancelled = self.cancelled_on
        if cancelled is not None and cancelled <= day:
            add(
                "pic.notification.cancelled",
                date_field,
                f"before {cancelled}",
                day,
                f"the notification was cancelled on {cancelled}; no shipment may start from then",
            )
        for state in notification.state_concerned:
            if state.role is Role.EXPORT:
                continue
            standing = self._standing(state.role, state.country, state.competent_authority, day)
            who = f"{state.country} ({state.role.value})"
            match standing.decision:
                case DecisionState.UNDECIDED:
                    rule = "pic.consent.missing" if state.role is Role.IMPORT else "pic.transit.missing"
                    add(
                        rule,
                        "NotificationNumber",
                        f"consent of {who} by {day}",
                        "no decision",
                        f"{who} has not consented by the shipment date {day}",
                    )
                case DecisionState.OBJECTED:
                    add(
                        "pic.consent.objected",
                        "NotificationNumber",
                        f"consent of {who}",
                        f"objection of {standing.decided_on}",
                        f"{who} objected on {standing.decided_on}",
                    )
                case DecisionState.WITHDRAWN:
                    add(
                        "pic.consent.withdrawn",
                        date_field,
                        f"before {standing.withdrawn_from}",
                        day,
                        f"{who} withdrew its consent from {standing.withdrawn_from}",
                    )
                case DecisionState.DEEMED_CONSENTED:
                    add(
                        "pic.transit.deemed",
                        "NotificationNumber",
                        f"written consent of {who}",
                        f"deemed consent from {standing.decided_on}",
                        f"{who} waived written consent and is deemed to consent (Art. 6(4))",
                    )
                case _:
                    if (
                        standing.valid_from is not None
                        and standing.valid_until is not None
                        and not (standing.valid_from <= day <= standing.valid_until)
                    ):
                        add(
                            "export.consent.validity",
                            date_field,
                            f"{standing.valid_from} to {standing.valid_until} ({who})",
                            day,
                            f"the shipment date {day} is outside the consent of {who}",
                        )
                    if standing.max_shipments is not None and serial > standing.max_shipments:
                        add(
                            "export.serial.beyond-consent",
                            "ShipmentSerial",
                            f"at most {standing.max_shipments}",
                            serial,
                            f"{who} consented to {standing.max_shipments} shipments",
                        )
        if not notification.first_departure <= day <= notification.last_departure:
            add(
                "export.departure.window",
                date_field,
                f"{notification.first_departure} to {notification.last_departure}",
                day,
                f"the shipment date {day} is outside the notified departures",
            )
        if serial > notification.intended_shipments:
            add(
                "export.serial.beyond-notified",
                "ShipmentSerial",
                f"at most {notification.intended_shipments}",
                serial,
                f"{notification.intended_shipments} shipments were notified",
            )
        return found

    def _export_findings(
        self,
        export: ExportData,
        event: CaseEvent,
        *,
        running_before: Mapping[str, Decimal],
        repeated_by: CaseEvent | None,
    ) -> list[CaseFinding]:
        notification = self.notification
        assert notification is not None  # callers check
        mid = event.message_id
        day = export.actual_shipment_date
        found = self._start_findings(
            root="ExportData", date_field="ActualShipmentDate", day=day, serial=export.shipment_serial, mid=mid
        )

        def add(rule: str, path: str, expected: object, actual: object, text: str) -> None:
            found.append(
                finding(rule, field=f"/ExportData/{path}", expected=expected, found=actual, text=text, message_id=mid)
            )

        amounts = export.actual_quantity.by_unit()
        before = {unit: running_before.get(unit, Decimal(0)) for unit in amounts}
        totals = {unit: before[unit] + amount for unit, amount in amounts.items()}
        for state in notification.state_concerned:
            consent = self._consent_in_force(state.country, day) if state.role is not Role.EXPORT else None
            maximum = consent.max_quantity if consent is not None else None
            if maximum is not None and maximum.unit in amounts and totals[maximum.unit] > maximum.value:
                total = totals[maximum.unit]
                add(
                    "export.quantity.beyond-consent",
                    f"ActualQuantity/{_UNIT_ELEMENT[maximum.unit]}",
                    f"at most {max(maximum.value - before[maximum.unit], Decimal(0))} {maximum.unit} "
                    f"(consented {maximum.value})",
                    f"{amounts[maximum.unit]} {maximum.unit}",
                    f"with this shipment {total} {maximum.unit} would exceed the consent of "
                    f"{state.country} ({state.role.value})",
                )
        if export.total_shipments != notification.intended_shipments:
            add(
                "export.total-shipments.mismatch",
                "TotalShipments",
                notification.intended_shipments,
                export.total_shipments,
                "the total number of shipments differs from the notification's",
            )
        if repeated_by is not None:
            add(
                "export.serial.repeated",
                "ShipmentSerial",
                "a serial not used before",
                f"{export.shipment_serial} (already used by message {repeated_by.message_id})",
                f"shipment {export.shipment_serial} already has export data",
            )
        notified = notification.intended_quantity.by_unit()
        shared = [unit for unit in amounts if unit in notified]
        if not shared:
            add(
                "export.quantity.unit",
                "ActualQuantity",
                " or ".join(notified),
                " and ".join(amounts),
                "the actual quantity is in no unit the notification states",
            )
        for unit in shared:
            if totals[unit] > notified[unit]:
                add(
                    "export.quantity.exceeded",
                    f"ActualQuantity/{_UNIT_ELEMENT[unit]}",
                    f"at most {max(notified[unit] - before[unit], Decimal(0))} {unit} (notified {notified[unit]})",
                    f"{amounts[unit]} {unit}",
                    f"with this shipment {totals[unit]} {unit} would exceed the notified total",
                )
        found += match_findings(notification, export, mid)
        return found

    def _overdue(
        self, shipment: Shipment, track: _Track[MovementState, MovementEvent], day: dt.date
    ) -> list[CaseFinding]:
        """Return the overdue items of one shipment, each about the message the missing one should follow.

        A receipt overdue is about the shipment's ExportData, a disposal overdue about its ShipmentReceipt.
        """
        policy = self.policy
        exported_by = received_by = None
        for entry in track.applied():
            if entry.step is MovementEvent.EXPORT:
                exported_by = entry.event.message_id
            elif entry.step is MovementEvent.RECEIVE:
                received_by = entry.event.message_id
        found: list[CaseFinding] = []
        shipped = shipment.state in {MovementState.EXPORTED, MovementState.HELD, MovementState.CLEARED}
        if shipped and shipment.shipped_on is not None:
            arrival = shipment.expected_arrival or shipment.shipped_on + dt.timedelta(days=policy.expected_transit_days)
            due = arrival + dt.timedelta(days=policy.receipt_days)
            if day > due:
                found.append(
                    finding(
                        "export.receipt.overdue",
                        field="/ShipmentReceipt/ReceivedOn",
                        expected=f"a receipt by {due}",
                        found="none",
                        text=f"shipment {shipment.serial} left on {shipment.shipped_on}; no receipt by {due}",
                        message_id=exported_by,
                    )
                )
        if shipment.received_on is not None and shipment.state in {MovementState.RECEIVED, MovementState.DISPOSED}:
            due = shipment.received_on + dt.timedelta(days=policy.disposal_days)
            done = shipment.completed_on
            if (done is None and day > due) or (done is not None and done > due):
                found.append(
                    finding(
                        "export.disposal.overdue",
                        field="/DisposalCertificate/CompletedOn",
                        expected=f"by {due}",
                        found=str(done) if done is not None else "none",
                        text=f"shipment {shipment.serial} was received on {shipment.received_on}; disposal or "
                        f"recovery is due by {due}",
                        message_id=received_by,
                    )
                )
        return found


_UNIT_ELEMENT = {"TNE": "Tonnes", "MTQ": "CubicMetres"}


def _primary_unit(quantity: FormQuantity) -> str:
    """Return the unit a case's quantity left is counted in: tonnes where notified, else m³."""
    return next(iter(quantity.by_unit()))


def finding_order(item: CaseFinding) -> tuple[bool, str, str, str, str, str, str]:
    """Violations first, then a total order, so that equal cases list equal findings."""
    return (
        item.severity is not Severity.VIOLATION,
        item.rule_id,
        item.message_id or "",
        item.field,
        item.expected,
        item.found,
        item.text,
    )


def _copy_of(event: CaseEvent, notification: Notification | None) -> bool:
    """Return whether ``event`` carries the case's Notification again: its copy to another State concerned.

    The notifier sends the same Notification to each State of import and transit (V-A 15); only a second
    Notification with other content under the same number is ``case.notification.repeated``.
    """
    return isinstance(event.document, Notification) and event.document == notification


def _pending(event: CaseEvent, what: str) -> Pending:
    return Pending(message_id=event.message_id, message_type=event.message_type, waiting_for=what)


def _applied_export_entry(track: _Track[MovementState, MovementEvent]) -> _Entry[MovementEvent] | None:
    for entry in track.entries:
        if entry.step is MovementEvent.EXPORT and entry.applied:
            return entry
    return None


def _applied_export(track: _Track[MovementState, MovementEvent]) -> ExportData | None:
    entry = _applied_export_entry(track)
    if entry is None:
        return None
    assert isinstance(entry.event.document, ExportData)  # noqa: S101 - an EXPORT step carries an ExportData
    return entry.event.document


def _receipt_findings(track: _Track[MovementState, MovementEvent]) -> list[CaseFinding]:
    """Return a violation for a receipt that names another export declaration than the shipment's (V-B 18)."""
    export = _applied_export(track)
    found = []
    for entry in track.applied():
        doc = entry.event.document
        if (
            isinstance(doc, ShipmentReceipt)
            and export is not None
            and doc.declaration_id is not None
            and doc.declaration_id != export.export_declaration.declaration_id
        ):
            found.append(
                finding(
                    "export.receipt.declaration-mismatch",
                    field="/ShipmentReceipt/DeclarationId",
                    expected=export.export_declaration.declaration_id,
                    found=doc.declaration_id,
                    text=f"the receipt of shipment {doc.shipment_serial} names export declaration "
                    f"{doc.declaration_id}, not the shipment's {export.export_declaration.declaration_id}",
                    message_id=entry.event.message_id,
                )
            )
    return found


def _shipment(serial: int, track: _Track[MovementState, MovementEvent]) -> Shipment:
    export = _applied_export(track)
    received_on = completed_on = announced_arrival = None
    for entry in track.applied():
        doc = entry.event.document
        if isinstance(doc, MovementAnnouncement):
            announced_arrival = doc.expected_arrival
        elif isinstance(doc, ShipmentReceipt):
            received_on = doc.received_on
        elif isinstance(doc, DisposalCertificate):
            completed_on = doc.completed_on
    return Shipment(
        serial=serial,
        state=track.current(),
        declaration_id=export.export_declaration.declaration_id if export else None,
        shipped_on=export.actual_shipment_date if export else None,
        quantity=export.actual_quantity.describe() if export else None,
        expected_arrival=(export.expected_arrival if export else None) or announced_arrival,
        received_on=received_on,
        completed_on=completed_on,
        message_ids=tuple(entry.event.message_id for entry in track.entries),
    )


def fold_case(events: Iterable[CaseEvent], *, now: dt.datetime, policy: CasePolicy | None = None) -> Mapping[str, Case]:
    """Fold messages of any number of cases, in any order, into each case as of ``now``.

    Keyed by notification number; the test case of a number (from its test messages) is keyed
    ``"<number> (test)"`` and a live case is listed only if it has live messages.
    """
    folds: dict[str, CaseFold] = {}
    for event in events:
        fold = folds.get(event.conversation_id)
        if fold is None:
            fold = folds[event.conversation_id] = CaseFold(event.conversation_id, policy=policy)
        fold.apply(event)
    cases: dict[str, Case] = {}
    for number, fold in sorted(folds.items()):
        if fold.has_messages:
            cases[number] = fold.case(now=now)
        test = fold.test_case(now=now)
        if test is not None:
            cases[f"{number} (test)"] = test
    return cases
