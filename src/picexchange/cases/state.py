"""Transition tables of a PIC case: the notification, each State concerned, each request and each movement.

Every lifecycle is data, ``{(state, event): next_state}`` over Enums, as the store's message lifecycles are;
a pair not in a table is illegal and :func:`transition` raises. The case fold (:mod:`picexchange.cases.fold`)
replays each track's events through its table; ``docs/cases.md`` draws every table and a test holds the
document to this module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from picexchange.errors import PicExchangeError

__all__ = [
    "ACKNOWLEDGEMENT_LIFECYCLE",
    "DECISION_LIFECYCLE",
    "INFORMATION_LIFECYCLE",
    "LIFECYCLES",
    "MOVEMENT_LIFECYCLE",
    "NOTIFICATION_LIFECYCLE",
    "AcknowledgementEvent",
    "AcknowledgementState",
    "CaseTransitionError",
    "DecisionEvent",
    "DecisionState",
    "InformationEvent",
    "InformationState",
    "MovementEvent",
    "MovementState",
    "NotificationEvent",
    "NotificationState",
    "transition",
]


class CaseTransitionError(PicExchangeError):
    """A message does not fit the state its case track is in (a pair missing from a transition table).

    The fold never lets it escape: it keeps the message pending, and reports a finding if it stays so.
    """


# ------------------------------------------------------------------------------------------------ notification


class NotificationState(enum.StrEnum):
    """Where the notification of a case stands."""

    AWAITED = "awaited"
    """Messages of the case arrived, but not yet its Notification."""
    NOTIFIED = "notified"
    """The State of export has notified the States concerned (Art. 6(1))."""
    CANCELLED = "cancelled"
    """The notifier cancelled the notification; no new shipment may start (final)."""


class NotificationEvent(enum.StrEnum):
    """What happens to a notification."""

    NOTIFY = "notify"
    """A Notification."""
    CANCEL = "cancel"
    """A NotificationCancellation."""


NOTIFICATION_LIFECYCLE: Mapping[tuple[NotificationState, NotificationEvent], NotificationState] = MappingProxyType(
    {
        (NotificationState.AWAITED, NotificationEvent.NOTIFY): NotificationState.NOTIFIED,
        (NotificationState.NOTIFIED, NotificationEvent.CANCEL): NotificationState.CANCELLED,
    }
)
"""Notification lifecycle; a second Notification under one number, or a cancellation of nothing, is illegal."""


# ---------------------------------------------------------------------------------- per State: acknowledgement


class AcknowledgementState(enum.StrEnum):
    """Whether a State of import or transit has acknowledged the notification (V-A 19)."""

    AWAITED = "awaited"
    """No acknowledgement yet."""
    INCOMPLETE = "incomplete"
    """Acknowledged, but the notification is not duly completed (Art. 6(2))."""
    COMPLETE = "complete"
    """Acknowledged as duly completed; the tacit-consent period of a transit State runs from here (Art. 6(4))."""


class AcknowledgementEvent(enum.StrEnum):
    """An Acknowledgement, by its Complete flag."""

    ACKNOWLEDGE_INCOMPLETE = "acknowledge-incomplete"
    """An Acknowledgement with Complete false."""
    ACKNOWLEDGE_COMPLETE = "acknowledge-complete"
    """An Acknowledgement with Complete true."""


ACKNOWLEDGEMENT_LIFECYCLE: Mapping[tuple[AcknowledgementState, AcknowledgementEvent], AcknowledgementState] = (
    MappingProxyType(
        {
            (
                AcknowledgementState.AWAITED,
                AcknowledgementEvent.ACKNOWLEDGE_INCOMPLETE,
            ): AcknowledgementState.INCOMPLETE,
            (AcknowledgementState.AWAITED, AcknowledgementEvent.ACKNOWLEDGE_COMPLETE): AcknowledgementState.COMPLETE,
            # The notifier completes the notification; the authority acknowledges again.
            (AcknowledgementState.INCOMPLETE, AcknowledgementEvent.ACKNOWLEDGE_INCOMPLETE): (
                AcknowledgementState.INCOMPLETE
            ),
            (AcknowledgementState.INCOMPLETE, AcknowledgementEvent.ACKNOWLEDGE_COMPLETE): AcknowledgementState.COMPLETE,
            (AcknowledgementState.COMPLETE, AcknowledgementEvent.ACKNOWLEDGE_COMPLETE): AcknowledgementState.COMPLETE,
        }
    )
)
"""Acknowledgement lifecycle; a notification acknowledged complete cannot become incomplete again."""


# ------------------------------------------------------------------------------------------ per request: information


class InformationState(enum.StrEnum):
    """Where one request for further information stands (Art. 6(2))."""

    UNASKED = "unasked"
    """No InformationRequest with this id (yet)."""
    REQUESTED = "requested"
    """Requested, not yet answered."""
    ANSWERED = "answered"
    """The notifier answered."""


class InformationEvent(enum.StrEnum):
    """A request for information or its answer."""

    REQUEST = "request"
    """An InformationRequest."""
    ANSWER = "answer"
    """An InformationResponse with the request's id."""


INFORMATION_LIFECYCLE: Mapping[tuple[InformationState, InformationEvent], InformationState] = MappingProxyType(
    {
        (InformationState.UNASKED, InformationEvent.REQUEST): InformationState.REQUESTED,
        (InformationState.REQUESTED, InformationEvent.ANSWER): InformationState.ANSWERED,
        # The notifier may complete an answer with a further one.
        (InformationState.ANSWERED, InformationEvent.ANSWER): InformationState.ANSWERED,
    }
)
"""Information lifecycle per request id; an answer to a request never made is illegal."""


# ----------------------------------------------------------------------------------------- per State: decision


class DecisionState(enum.StrEnum):
    """The decision of a State of import or transit on the notification (V-A 20-21; Art. 6(2), 6(4))."""

    UNDECIDED = "undecided"
    """No decision yet."""
    CONSENTED = "consented"
    """Written consent."""
    CONSENTED_WITH_CONDITIONS = "consented-with-conditions"
    """Written consent with specific conditions (V-A 21)."""
    DEEMED_CONSENTED = "deemed-consented"
    """A transit Party that waived written consent did not object within the period (Art. 6(4))."""
    OBJECTED = "objected"
    """Objection: no shipment may start."""
    WITHDRAWN = "withdrawn"
    """The consent was withdrawn; no shipment may start from its effective date."""


class DecisionEvent(enum.StrEnum):
    """A decision, its withdrawal, or the end of the tacit-consent period."""

    CONSENT = "consent"
    """A ConsentDecision: consent."""
    CONSENT_WITH_CONDITIONS = "consent-with-conditions"
    """A ConsentDecision: consent with conditions."""
    OBJECT = "object"
    """A ConsentDecision: objection."""
    WITHDRAW = "withdraw"
    """A ConsentWithdrawal."""
    DEEM = "deem"
    """The tacit-consent period of a transit State that waived written consent ran out without a decision."""


_DECIDES = {
    DecisionEvent.CONSENT: DecisionState.CONSENTED,
    DecisionEvent.CONSENT_WITH_CONDITIONS: DecisionState.CONSENTED_WITH_CONDITIONS,
    DecisionEvent.OBJECT: DecisionState.OBJECTED,
}

DECISION_LIFECYCLE: Mapping[tuple[DecisionState, DecisionEvent], DecisionState] = MappingProxyType(
    {
        # A written decision may be taken at any time and replaces the previous one: an authority may revise
        # its decision or decide anew after a withdrawal; the later decision governs from its date.
        **{(state, event): decided for state in DecisionState for event, decided in _DECIDES.items()},
        # Art. 6(4): only a State that has not decided is deemed to consent.
        (DecisionState.UNDECIDED, DecisionEvent.DEEM): DecisionState.DEEMED_CONSENTED,
        # Only a consent (written or tacit) can be withdrawn.
        (DecisionState.CONSENTED, DecisionEvent.WITHDRAW): DecisionState.WITHDRAWN,
        (DecisionState.CONSENTED_WITH_CONDITIONS, DecisionEvent.WITHDRAW): DecisionState.WITHDRAWN,
        (DecisionState.DEEMED_CONSENTED, DecisionEvent.WITHDRAW): DecisionState.WITHDRAWN,
    }
)
"""Decision lifecycle per State; withdrawing what was never consented is illegal (kept pending)."""


# ------------------------------------------------------------------------------------------------- per movement


class MovementState(enum.StrEnum):
    """Where one shipment (by its serial, V-B 2) stands."""

    PLANNED = "planned"
    """Nothing received for this serial yet."""
    ANNOUNCED = "announced"
    """A MovementAnnouncement gave prior notice of the shipment."""
    EXPORTED = "exported"
    """Export Customs sent the ExportData: the export declaration was accepted."""
    HELD = "held"
    """Import Customs holds the shipment (ClearanceResult held)."""
    CLEARED = "cleared"
    """Import Customs released the shipment (ClearanceResult released)."""
    REFUSED = "refused"
    """Import Customs rejected or returned the shipment (final)."""
    RECEIVED = "received"
    """The facility received and accepted the shipment (V-B 18)."""
    REJECTED = "rejected"
    """The facility rejected the shipment (V-B 18; final)."""
    DISPOSED = "disposed"
    """Disposal or recovery certified complete (V-B 19; final)."""


class MovementEvent(enum.StrEnum):
    """A message about one shipment."""

    ANNOUNCE = "announce"
    """A MovementAnnouncement."""
    EXPORT = "export"
    """An ExportData."""
    HOLD = "hold"
    """A ClearanceResult held."""
    RELEASE = "release"
    """A ClearanceResult released."""
    REFUSE = "refuse"
    """A ClearanceResult rejected or returned."""
    RECEIVE = "receive"
    """A ShipmentReceipt accepted."""
    REJECT = "reject"
    """A ShipmentReceipt rejected."""
    CERTIFY = "certify"
    """A DisposalCertificate."""


MOVEMENT_LIFECYCLE: Mapping[tuple[MovementState, MovementEvent], MovementState] = MappingProxyType(
    {
        (MovementState.PLANNED, MovementEvent.ANNOUNCE): MovementState.ANNOUNCED,
        # A revised announcement replaces the first.
        (MovementState.ANNOUNCED, MovementEvent.ANNOUNCE): MovementState.ANNOUNCED,
        (MovementState.ANNOUNCED, MovementEvent.EXPORT): MovementState.EXPORTED,
        # The announcement is the competent authority's message; Customs may get the export data without it.
        (MovementState.PLANNED, MovementEvent.EXPORT): MovementState.EXPORTED,
        (MovementState.EXPORTED, MovementEvent.HOLD): MovementState.HELD,
        (MovementState.EXPORTED, MovementEvent.RELEASE): MovementState.CLEARED,
        (MovementState.EXPORTED, MovementEvent.REFUSE): MovementState.REFUSED,
        (MovementState.HELD, MovementEvent.HOLD): MovementState.HELD,
        (MovementState.HELD, MovementEvent.RELEASE): MovementState.CLEARED,
        (MovementState.HELD, MovementEvent.REFUSE): MovementState.REFUSED,
        # Not every import Customs answers with a ClearanceResult: the facility may receive an exported shipment.
        (MovementState.EXPORTED, MovementEvent.RECEIVE): MovementState.RECEIVED,
        (MovementState.EXPORTED, MovementEvent.REJECT): MovementState.REJECTED,
        (MovementState.CLEARED, MovementEvent.RECEIVE): MovementState.RECEIVED,
        # A shipment held for inspection may go on to the facility under the authority's control, which then
        # accepts or rejects it (the AU -> MY sample flow: held, then rejected at the facility).
        (MovementState.HELD, MovementEvent.RECEIVE): MovementState.RECEIVED,
        (MovementState.HELD, MovementEvent.REJECT): MovementState.REJECTED,
        (MovementState.CLEARED, MovementEvent.REJECT): MovementState.REJECTED,
        (MovementState.RECEIVED, MovementEvent.CERTIFY): MovementState.DISPOSED,
    }
)
"""Movement lifecycle per shipment serial; a second ExportData for one serial, or a receipt of a shipment never
exported, is illegal."""


#: Every lifecycle, by the name ``docs/cases.md`` gives its table.
LIFECYCLES: Mapping[str, Mapping[tuple[enum.StrEnum, enum.StrEnum], enum.StrEnum]] = MappingProxyType(
    {
        "notification": NOTIFICATION_LIFECYCLE,  # type: ignore[dict-item]
        "acknowledgement": ACKNOWLEDGEMENT_LIFECYCLE,  # type: ignore[dict-item]
        "information": INFORMATION_LIFECYCLE,  # type: ignore[dict-item]
        "decision": DECISION_LIFECYCLE,  # type: ignore[dict-item]
        "movement": MOVEMENT_LIFECYCLE,  # type: ignore[dict-item]
    }
)

_S = TypeVar("_S", bound=enum.StrEnum)
_E = TypeVar("_E", bound=enum.StrEnum)


def transition(lifecycle: Mapping[tuple[_S, _E], _S], state: _S, event: _E, *, what: str) -> _S:
    """Return the state ``event`` leads to from ``state``, or raise if the table has no such step.

    Args:
        lifecycle: one of the tables of this module.
        state: the current state.
        event: what happened.
        what: the track concerned, for the error text (``shipment 3``, ``decision of MY``).

    Raises:
        CaseTransitionError: ``(state, event)`` is not in the table.

    """
    try:
        return lifecycle[(state, event)]
    except KeyError:
        raise CaseTransitionError(f"{what}: cannot {event.value} when {state.value}") from None
