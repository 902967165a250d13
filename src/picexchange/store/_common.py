"""What both store backends share: argument checks, the column lists they select and the row converters.

Private to ``picexchange.store``: the backends differ in SQL dialect and concurrency control, not in what a
row means, so the meaning lives here once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from picexchange.errors import StoreError
from picexchange.store.base import (
    OUTBOUND_LIFECYCLE,
    ActionEntry,
    BackofficeAction,
    Idempotency,
    InboundMessage,
    InboundState,
    InboundStatus,
    InboxEntry,
    OutboundEvent,
    OutboundMessage,
    OutboundState,
    OutboundStatus,
    sources_of,
    transition,
)

ToDatetime = Callable[[Any], dt.datetime]
"""How a backend turns a stored timestamp back into an aware datetime."""

INT64_MAX = 2**63 - 1
"""The largest integer both databases store: a bigger cursor or sequence number is refused before the driver
(SQLite raises OverflowError, PostgreSQL a data error)."""


def refused(text: str) -> StoreError:
    """Return the StoreError for arguments the store refuses: retrying the same call cannot help."""
    return StoreError(text, retryable=False)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema's history, applied in one transaction and recorded in ``schema_version``."""

    version: int
    """Schema version after this step; steps are applied in increasing order."""
    description: str
    """What the step does, stored beside the version."""
    statements: tuple[str, ...]
    """The DDL, in order."""


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Raise if the steps are not numbered 1, 2, 3, ... (a programming error, caught at import)."""
    if [step.version for step in migrations] != list(range(1, len(migrations) + 1)):
        raise refused("migration steps must be numbered 1, 2, 3, ... in order")


def aware(value: dt.datetime, name: str) -> dt.datetime:
    """Return ``value`` in UTC; raise if it carries no time zone (a naive time is ambiguous when stored)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise refused(f"{name} must be an aware datetime, got {value!r}")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # dt.datetime.max in a zone east of UTC
        raise refused(f"{name} is out of range: {value!r}") from exc


def positive(value: int, name: str) -> int:
    """Return ``value`` if it is at least 1 and, plus one, still fits 64 bits (pages read ``limit + 1`` rows)."""
    if not 1 <= value < INT64_MAX:
        raise refused(f"{name} must be at least 1 and below 2**63 - 1, got {value}")
    return value


def cursor(value: int) -> int:
    """Return the cursor ``value`` if it is 0 or a sequence number a log can hand out (64 bits)."""
    if not 0 <= value <= INT64_MAX:
        raise refused(f"since must be 0 or a cursor the log returned, got {value}")
    return value


def lease_end(now: dt.datetime, lease: dt.timedelta) -> dt.datetime:
    """Return when a claim taken at ``now`` for ``lease`` expires."""
    if lease <= dt.timedelta(0):
        raise refused(f"lease must be positive, got {lease}")
    try:
        return now + lease
    except OverflowError as exc:
        raise refused(f"lease {lease} from {now} ends beyond the year 9999") from exc


def chunks(values: Iterable[int], size: int = 500) -> list[list[int]]:
    """Split sequence numbers (deduplicated, sorted) into lists of at most ``size``, to bound query parameters.

    Raises:
        StoreError: a number is not a sequence number a log can hand out (below 1 or beyond 64 bits).

    """
    ordered = sorted(set(values))
    out_of_range = [value for value in ordered if not 1 <= value <= INT64_MAX]
    if out_of_range:
        raise refused(f"no inbox entries with sequence numbers {out_of_range[:10]}")
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def no_nul(**texts: str | None) -> None:
    """Raise if a text argument holds a NUL character.

    PostgreSQL cannot store one in ``text`` (psycopg raises ValueError) and SQLite would store it; both refuse
    it here, alike, before any SQL runs. Identifiers from a parsed message never hold one (XML forbids it).
    """
    for name, value in texts.items():
        if value is not None and "\x00" in value:
            raise refused(f"{name} must not contain a NUL character")


def bounded(value: str | None, name: str, *, most: int, required: bool = True) -> str | None:
    """Return ``value`` if it is present when ``required``, non-empty, at most ``most`` characters and NUL-free."""
    if value is None:
        if required:
            raise refused(f"{name} is required")
        return None
    if not value or len(value) > most:
        raise refused(f"{name} must be 1 to {most} characters, got {len(value)}")
    no_nul(**{name: value})
    return value


def idempotency_values(idempotency: Idempotency) -> tuple[str, str, str]:
    """Return ``(client, key, fingerprint)`` after checking them (the gateway validated the key's syntax)."""
    return (
        str(bounded(idempotency.client, "idempotency client", most=200)),
        str(bounded(idempotency.key, "idempotency key", most=200)),
        str(bounded(idempotency.fingerprint, "idempotency fingerprint", most=128)),
    )


# States from which claiming is legal, as SQL literals: constants of the lifecycle table, never input.
CLAIMABLE_SQL = ", ".join(f"'{state.value}'" for state in sorted(sources_of(OUTBOUND_LIFECYCLE, OutboundEvent.CLAIM)))

INBOUND_COLUMNS = (
    "sender, receiver, message_id, conversation_id, ref_to_message_id, message_type, utility_block, created, "
    "received_at, data"
)
ENTRY_COLUMNS = "sequence, digest, state, " + INBOUND_COLUMNS
INBOUND_STATUS_COLUMNS = "state, digest, received_at, delivered_at, acknowledged_at"
OUTBOUND_COLUMNS = "message_id, receiver, endpoint, conversation_id, message_type, created, data, attempts"
CLAIM_COLUMNS = "id, state, " + OUTBOUND_COLUMNS
OUTBOUND_STATUS_COLUMNS = "state, attempts, last_error, enqueued_at, updated_at, due_at, worker, receipted_at, receipt"


ACTION_COLUMNS = "sequence, at, client, action, target, outcome, participant"


def action_values(action: BackofficeAction) -> tuple[Any, ...]:
    """Return the values of :data:`ACTION_COLUMNS` minus ``sequence``, checked against the agreed bounds."""
    return (
        aware(action.at, "at"),
        bounded(action.client, "client", most=200),
        bounded(action.action, "action", most=64),
        bounded(action.target, "target", most=500, required=False),
        bounded(action.outcome, "outcome", most=64),
        bounded(action.participant, "participant", most=200, required=False),
    )


def action_from(row: Sequence[Any], to_datetime: ToDatetime) -> ActionEntry:
    """Return the audit log entry in a row selected with :data:`ACTION_COLUMNS`."""
    sequence, at, client, action, target, outcome, participant = row
    return ActionEntry(
        sequence=sequence,
        action=BackofficeAction(
            at=to_datetime(at), client=client, action=action, target=target, outcome=outcome, participant=participant
        ),
    )


def inbound_values(message: InboundMessage) -> tuple[Any, ...]:
    """Return the values of :data:`INBOUND_COLUMNS` for ``message``, times in UTC (bytes as given)."""
    no_nul(
        sender=message.sender,
        receiver=message.receiver,
        message_id=message.message_id,
        conversation_id=message.conversation_id,
        ref_to_message_id=message.ref_to_message_id,
        message_type=message.message_type,
        utility_block=message.utility_block,
    )
    return (
        message.sender,
        message.receiver,
        message.message_id,
        message.conversation_id,
        message.ref_to_message_id,
        message.message_type,
        message.utility_block,
        aware(message.created, "created"),
        aware(message.received_at, "received_at"),
        message.data,
    )


def outbound_values(message: OutboundMessage) -> tuple[Any, ...]:
    """Return the values of :data:`OUTBOUND_COLUMNS` minus ``attempts`` for ``message``."""
    no_nul(
        message_id=message.message_id,
        receiver=message.receiver,
        endpoint=message.endpoint,
        conversation_id=message.conversation_id,
        message_type=message.message_type,
    )
    return (
        message.message_id,
        message.receiver,
        message.endpoint,
        message.conversation_id,
        message.message_type,
        aware(message.created, "created"),
        message.data,
    )


def entry_from(row: Sequence[Any], to_datetime: ToDatetime) -> tuple[InboundState, InboxEntry]:
    """Return the state and the inbox entry of a row selected with :data:`ENTRY_COLUMNS`."""
    (sequence, digest, state, sender, receiver, message_id, conversation_id, ref, message_type, block) = row[:10]
    created, received_at, data = row[10:]
    message = InboundMessage(
        sender=sender,
        receiver=receiver,
        message_id=message_id,
        conversation_id=conversation_id,
        ref_to_message_id=ref,
        message_type=message_type,
        utility_block=block,
        created=to_datetime(created),
        received_at=to_datetime(received_at),
        data=bytes(data),
    )
    return InboundState(state), InboxEntry(sequence=sequence, digest=digest, message=message)


def inbound_status_from(row: Sequence[Any], to_datetime: ToDatetime) -> InboundStatus:
    """Return the status in a row selected with :data:`INBOUND_STATUS_COLUMNS`."""
    state, digest, received_at, delivered_at, acknowledged_at = row
    return InboundStatus(
        state=InboundState(state),
        digest=digest,
        received_at=to_datetime(received_at),
        delivered_at=None if delivered_at is None else to_datetime(delivered_at),
        acknowledged_at=None if acknowledged_at is None else to_datetime(acknowledged_at),
    )


def outbound_from(row: Sequence[Any], to_datetime: ToDatetime) -> OutboundMessage:
    """Return the message in a row selected with :data:`OUTBOUND_COLUMNS`."""
    message_id, receiver, endpoint, conversation_id, message_type, created, data, attempts = row
    return OutboundMessage(
        message_id=message_id,
        receiver=receiver,
        endpoint=endpoint,
        conversation_id=conversation_id,
        message_type=message_type,
        created=to_datetime(created),
        data=bytes(data),
        attempts=attempts,
    )


def outbound_status_from(row: Sequence[Any], to_datetime: ToDatetime) -> OutboundStatus:
    """Return the status in a row selected with :data:`OUTBOUND_STATUS_COLUMNS`."""
    state_value, attempts, last_error, enqueued_at, updated_at, due_at, worker, receipted_at, receipt = row
    state = OutboundState(state_value)
    due = None if due_at is None else to_datetime(due_at)
    return OutboundStatus(
        state=state,
        attempts=attempts,
        last_error=last_error,
        enqueued_at=to_datetime(enqueued_at),
        updated_at=to_datetime(updated_at),
        next_attempt_at=due if state is OutboundState.QUEUED else None,
        lease_expires_at=due if state is OutboundState.SENDING else None,
        worker=worker,
        receipted_at=None if receipted_at is None else to_datetime(receipted_at),
        receipt=None if receipt is None else bytes(receipt),
    )


def conflict_text(kind: str, key: str) -> str:
    """Return the text of a ConflictError for message ``key`` already stored with other bytes."""
    return f"{kind} message {key} was already stored with other bytes"


def outcome_state(
    state: OutboundState, holder: str | None, event: OutboundEvent, *, worker: str | None, message_id: str
) -> OutboundState | None:
    """Return the state ``event`` moves an outbound message to, or None if the outcome changes nothing.

    With ``worker``, the outcome counts only while that worker holds the claim: a worker whose lease lapsed
    and whose message another worker took over (or a receipt settled) reports a stale outcome.

    Raises:
        StoreError: the lifecycle has no such step.

    """
    if worker is not None and (state is not OutboundState.SENDING or holder != worker):
        return None
    new = transition(OUTBOUND_LIFECYCLE, state, event, what=f"outbound message {message_id}")
    return None if new is state else new  # a repeated outcome (a second receipt) changes nothing


class OutcomeMethods:
    """``mark_receipted``, ``mark_retry`` and ``mark_failed``, written once over a backend's ``_outcome``.

    A backend sets ``_P`` (its SQL placeholder), ``_stamp`` (how it stores a timestamp) and ``_outcome`` (one
    transaction: read the state, apply :func:`outcome_state`, update the row).
    """

    _P: ClassVar[str]

    def _stamp(self, value: dt.datetime, name: str) -> object:
        raise NotImplementedError

    def _outcome(
        self,
        message_id: str,
        event: OutboundEvent,
        assignments: str,
        values: tuple[object, ...],
        *,
        worker: str | None = None,
    ) -> bool:
        raise NotImplementedError

    def mark_receipted(self, message_id: str, receipt: bytes, *, at: dt.datetime) -> bool:
        """Record the partner's receipt; see the protocol."""
        no_nul(message_id=message_id)
        when, p = self._stamp(at, "at"), self._P
        return self._outcome(
            message_id,
            OutboundEvent.RECEIPT,
            f"receipt = {p}, receipted_at = {p}, due_at = NULL, updated_at = {p}",
            (receipt, when, when),
        )

    def mark_retry(
        self, message_id: str, *, worker: str, error: str, next_attempt_at: dt.datetime, at: dt.datetime
    ) -> bool:
        """Record a failed attempt and requeue the message; see the protocol."""
        no_nul(message_id=message_id, worker=worker, error=error)
        when, due, p = self._stamp(at, "at"), self._stamp(next_attempt_at, "next_attempt_at"), self._P
        return self._outcome(
            message_id,
            OutboundEvent.RETRY,
            f"last_error = {p}, due_at = {p}, updated_at = {p}",
            (error, due, when),
            worker=worker,
        )

    def mark_failed(self, message_id: str, *, worker: str, error: str, at: dt.datetime) -> bool:
        """Record a failed attempt and give the message up; see the protocol."""
        no_nul(message_id=message_id, worker=worker, error=error)
        when, p = self._stamp(at, "at"), self._P
        return self._outcome(
            message_id,
            OutboundEvent.FAIL,
            f"last_error = {p}, due_at = NULL, updated_at = {p}",
            (error, when),
            worker=worker,
        )
