"""The message store seam: the :class:`Store` protocol, its value types and the two message lifecycles.

The gateway stores through this handful of methods and nothing else; ``sqlite.py`` (the default, embedded)
and ``postgres.py`` (several gateway processes on one database) implement it and pass one shared test suite.

Inbound, a message is stored once, as the exact bytes received plus its indexed header fields and the signed
receipt we answered with (docs/architecture.md). The dedup key ``UNIQUE(sender, message_id)`` is kept forever and
enforced by one atomic insert: the same id with the same bytes gets the original receipt back, the same id with
other bytes is a :class:`~picexchange.errors.ConflictError`. The back office pulls its inbox as an append-only
log with a cursor and acknowledges what it took::

    received --pull--> delivered --acknowledge--> acknowledged (final)

Outbound, the gateway enqueues signed bytes; workers claim due messages with a lease, so that a crashed
worker's claims expire and are claimed again, and report the outcome::

    queued --claim--> sending --receipt--> receipted (final)
                      sending --retry----> queued
                      sending --fail-----> failed
    failed --requeue--> queued        queued --give-up--> failed      (an operator's actions, audited)

A failed message stays failed unless an operator sends it again (``requeue``); no worker ever does.

Every state change is looked up in :data:`INBOUND_LIFECYCLE` or :data:`OUTBOUND_LIFECYCLE` first; a pair that
is not in the table raises :class:`~picexchange.errors.StoreError`. No method reads a clock: every time is
passed in by the caller.

The back office (schema version 2):

- **Idempotent submissions**: :meth:`Store.enqueue` takes an :class:`Idempotency` (client, key, fingerprint).
  Table ``idempotency`` has ``PRIMARY KEY (client, key)``: one atomic insert claims the key in the same
  transaction as the outbox insert, so of two concurrent submissions with one key exactly one message is
  queued; the other, and every later replay, gets the original message back (:class:`Enqueued` with
  ``replayed=True`` and the fingerprint stored with the key, for the caller to compare). Keys are per client
  and kept forever, like the inbound dedup key.
- **Audit of back-office actions**: :meth:`Store.record_action` appends a :class:`BackofficeAction` to the
  table ``backoffice_action``; :meth:`Store.actions` reads it as a log with a cursor, in the order recorded
  (rows are never changed or deleted).
- **Health**: :meth:`Store.check_writable` upserts the one row of table ``heartbeat`` and commits.

PIC cases (schema version 3): table ``pic_case`` holds one row per notification number, the summary the case
list filters on (:class:`CaseSummary`) and a ``version``; table ``case_message`` lists each case's messages in
order (:class:`CaseMessage`) and points to the message already stored in ``inbound`` (by sender and message id)
or ``outbound`` (by message id): the bytes are never copied. :meth:`Store.record_inbound` and
:meth:`Store.enqueue` take a :class:`CaseUpdate` and write the message, the case row and the case-message rows
(and, inbound, the automatic replies to queue) in ONE transaction. Optimistic concurrency: the update names
the version it was computed from; when the stored version differs, :class:`~picexchange.errors.CaseConflict`
(retryable) is raised and nothing is written, so two gateway processes on one database never lose an update.
A duplicate message writes no case row and queues no reply.

The case change feed (schema version 5): every write of a case row clears its ``change_number``, and
:meth:`Store.case_changes` numbers the rows committed since the last read, one reader at a time, before it
pages by that number, as the inbox log numbers its entries. Several gateway processes on one PostgreSQL commit
in any order, so a cursor over identity values or times given at write could pass a row that commits later;
a change number is given only to a committed row and is always higher than every number handed out before.

Errors: every failure leaves the store as :class:`~picexchange.errors.StoreError` (the driver's exception
chained), never a foreign exception; ``retryable`` tells an outage (True) from refused arguments (False), and
its text never names the database server, port, user or database.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Protocol, Self, TypeVar

from picexchange.errors import CaseConflict, StoreError

# One digest for the whole package: what a Receipt's ReceivedDigest quotes is defined once, in the exchange
# (issue 9). Re-exported: the store keys duplicates and answers replays with it.
from picexchange.exchange import digest_of

__all__ = [
    "INBOUND_LIFECYCLE",
    "OUTBOUND_LIFECYCLE",
    "ActionEntry",
    "ActionPage",
    "BackofficeAction",
    "CaseConflict",
    "CaseDirection",
    "CaseMessage",
    "CasePage",
    "CaseSummary",
    "CaseUpdate",
    "Enqueued",
    "Idempotency",
    "InboundEvent",
    "InboundMessage",
    "InboundState",
    "InboundStatus",
    "InboxEntry",
    "InboxPage",
    "OutboundEvent",
    "OutboundMessage",
    "OutboundState",
    "OutboundStatus",
    "OutboxEntry",
    "OutboxPage",
    "ReceivedEntry",
    "ReceivedPage",
    "Recorded",
    "StoredCaseMessage",
    "Store",
    "StoreCounts",
    "Traffic",
    "digest_of",
    "sources_of",
    "transition",
]


# ------------------------------------------------------------------------------------------------ lifecycles


class InboundState(enum.StrEnum):
    """Where a received message stands with the back office."""

    RECEIVED = "received"
    """Stored and receipted; the back office has not pulled it yet."""
    DELIVERED = "delivered"
    """Handed to the back office in an inbox page; not yet acknowledged."""
    ACKNOWLEDGED = "acknowledged"
    """The back office confirmed it took the message (final)."""


class InboundEvent(enum.StrEnum):
    """What happens to a received message."""

    PULL = "pull"
    """The message was part of an inbox page handed to the back office."""
    ACKNOWLEDGE = "acknowledge"
    """The back office acknowledged the message's sequence number."""


class OutboundState(enum.StrEnum):
    """Where a message we send stands."""

    QUEUED = "queued"
    """Waiting for its next attempt (due at ``next_attempt_at``)."""
    SENDING = "sending"
    """Claimed by a worker until its lease expires."""
    RECEIPTED = "receipted"
    """The receiver returned a valid signed receipt (final)."""
    FAILED = "failed"
    """Given up: the receiver refused it, the retry policy ran out, or an operator gave it up; no worker tries it
    again (only an operator's :attr:`OutboundEvent.REQUEUE` does)."""


class OutboundEvent(enum.StrEnum):
    """What happens to a message we send."""

    CLAIM = "claim"
    """A worker claimed the message because it is due (or its previous worker's lease expired)."""
    RECEIPT = "receipt"
    """A valid signed receipt arrived."""
    RETRY = "retry"
    """The attempt failed in a way worth retrying (network, timeout, 5xx)."""
    FAIL = "fail"
    """The attempt failed for good (signed Error from the peer, retries exhausted)."""
    REQUEUE = "requeue"
    """An operator sends a failed message again: the same bytes and id, due at once (:meth:`Store.requeue`)."""
    GIVE_UP = "give-up"
    """An operator gives up a queued message: no worker tries it again (:meth:`Store.give_up`)."""


INBOUND_LIFECYCLE: Mapping[tuple[InboundState, InboundEvent], InboundState] = MappingProxyType(
    {
        (InboundState.RECEIVED, InboundEvent.PULL): InboundState.DELIVERED,
        # The inbox is a log: reading it again from an older cursor changes nothing.
        (InboundState.DELIVERED, InboundEvent.PULL): InboundState.DELIVERED,
        (InboundState.ACKNOWLEDGED, InboundEvent.PULL): InboundState.ACKNOWLEDGED,
        (InboundState.DELIVERED, InboundEvent.ACKNOWLEDGE): InboundState.ACKNOWLEDGED,
        # The back office may repeat an acknowledgement whose answer it lost.
        (InboundState.ACKNOWLEDGED, InboundEvent.ACKNOWLEDGE): InboundState.ACKNOWLEDGED,
    }
)
"""Inbound lifecycle ``{(state, event): next_state}``; acknowledging a message never pulled is illegal."""

OUTBOUND_LIFECYCLE: Mapping[tuple[OutboundState, OutboundEvent], OutboundState] = MappingProxyType(
    {
        (OutboundState.QUEUED, OutboundEvent.CLAIM): OutboundState.SENDING,
        # A crashed worker's lease expired: another worker takes the message over.
        (OutboundState.SENDING, OutboundEvent.CLAIM): OutboundState.SENDING,
        (OutboundState.SENDING, OutboundEvent.RECEIPT): OutboundState.RECEIPTED,
        # A receipt is proof of delivery whenever it comes: a worker whose lease lapsed may get it after another
        # worker's retry put the message back in the queue.
        (OutboundState.QUEUED, OutboundEvent.RECEIPT): OutboundState.RECEIPTED,
        # A worker whose lease expired may still get the (same, deduplicated) receipt after another worker did.
        (OutboundState.RECEIPTED, OutboundEvent.RECEIPT): OutboundState.RECEIPTED,
        (OutboundState.SENDING, OutboundEvent.RETRY): OutboundState.QUEUED,
        (OutboundState.SENDING, OutboundEvent.FAIL): OutboundState.FAILED,
        # Operators only (the console, the back-office API), audited: a failed message is sent again unchanged,
        # and a queued one (waiting for its next attempt) may be given up. A message being sent is neither: its
        # worker's outcome decides first.
        (OutboundState.FAILED, OutboundEvent.REQUEUE): OutboundState.QUEUED,
        (OutboundState.QUEUED, OutboundEvent.GIVE_UP): OutboundState.FAILED,
    }
)
"""Outbound lifecycle ``{(state, event): next_state}``; a message must be claimed before its outcome counts."""

_State = TypeVar("_State", InboundState, OutboundState)
_Event = TypeVar("_Event", InboundEvent, OutboundEvent)


def transition(lifecycle: Mapping[tuple[_State, _Event], _State], state: _State, event: _Event, *, what: str) -> _State:
    """Return the state that ``event`` leads to from ``state``, or raise if the lifecycle has no such step.

    Args:
        lifecycle: :data:`INBOUND_LIFECYCLE` or :data:`OUTBOUND_LIFECYCLE`.
        state: the current state.
        event: what happened.
        what: the message concerned, for the error text (``outbound message 1b4e…``).

    Raises:
        StoreError: ``(state, event)`` is not in the table.

    """
    try:
        return lifecycle[(state, event)]
    except KeyError:
        raise StoreError(f"{what}: cannot {event.value} a message that is {state.value}", retryable=False) from None


def sources_of(lifecycle: Mapping[tuple[_State, _Event], _State], event: _Event) -> frozenset[_State]:
    """Return every state from which ``event`` is legal (for set-based updates such as claiming a batch)."""
    return frozenset(state for (state, on), _ in lifecycle.items() if on is event)


# ------------------------------------------------------------------------------------------------ value types


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A message accepted from a partner, as it is stored: the exact bytes and its indexed header fields."""

    sender: str
    """Header ``Sender``: the partner that signed the message."""
    receiver: str
    """Header ``Receiver``: us."""
    message_id: str
    """Header ``MessageId``; with ``sender`` the dedup key, kept forever."""
    conversation_id: str
    """Header ``ConversationId``: the notification number."""
    message_type: str
    """Header ``MessageType`` (``Notification``, ``ExportData``, ...)."""
    utility_block: str
    """Header ``UtilityBlock`` (``pic`` or ``export``)."""
    created: dt.datetime
    """Header ``Created``: when the sender created the message (aware)."""
    received_at: dt.datetime
    """When we received it (aware); the ``Receipt``'s ``ReceivedAt``."""
    data: bytes
    """The exact bytes received: the signed envelope."""
    ref_to_message_id: str | None = None
    """Header ``RefToMessageId``: the message this one answers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """The outcome of :meth:`Store.record_inbound`."""

    digest: str
    """Base64 SHA-256 of the stored bytes."""
    receipt: bytes
    """The signed receipt to answer with: ours, or on a duplicate the original one."""
    duplicate: bool
    """True when the message had already been stored with the same bytes (nothing new was written)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxEntry:
    """One message of the back office's inbox log."""

    sequence: int
    """Position in the inbox log; increasing, opaque; what :meth:`Store.acknowledge_inbound` takes."""
    digest: str
    """Base64 SHA-256 of ``message.data``."""
    message: InboundMessage
    """The message as stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxPage:
    """A page of the inbox log, read from a cursor."""

    messages: tuple[InboxEntry, ...]
    """The entries after the cursor, in log order."""
    next: int
    """The cursor to pass as ``since`` for the following page (unchanged when the page is empty)."""
    has_more: bool
    """True when more entries follow ``next`` already."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """A signed message waiting in the outbox, with what a worker needs to deliver it."""

    message_id: str
    """Header ``MessageId``; unique in the outbox and kept across every retry."""
    receiver: str
    """Header ``Receiver``: the partner id."""
    endpoint: str
    """Key of the partner endpoint to deliver to (looked up in the agreement when sending, not a URL)."""
    conversation_id: str
    """Header ``ConversationId``: the notification number."""
    message_type: str
    """Header ``MessageType``."""
    created: dt.datetime
    """Header ``Created`` (aware)."""
    data: bytes
    """The signed envelope, sent unchanged on every attempt (never rebuilt)."""
    attempts: int = 0
    """Delivery attempts whose outcome was recorded so far; 0 when enqueued, filled in by ``claim_due``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundStatus:
    """Where one received message stands (for integration testers and the back office)."""

    state: InboundState
    """The lifecycle state."""
    digest: str
    """Base64 SHA-256 of the bytes received."""
    received_at: dt.datetime
    """When it was received."""
    delivered_at: dt.datetime | None
    """When the back office first pulled it."""
    acknowledged_at: dt.datetime | None
    """When the back office first acknowledged it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundStatus:
    """Where one message we send stands."""

    state: OutboundState
    """The lifecycle state."""
    attempts: int
    """Delivery attempts whose outcome was recorded (receipt, retry or failure)."""
    last_error: str | None
    """Why the most recent failed attempt failed, if one did."""
    enqueued_at: dt.datetime
    """When it entered the outbox."""
    updated_at: dt.datetime
    """When its state last changed."""
    next_attempt_at: dt.datetime | None
    """When it is due again (``queued`` only)."""
    lease_expires_at: dt.datetime | None
    """When the current worker's claim expires (``sending`` only)."""
    worker: str | None
    """The worker holding or last holding the claim."""
    receipted_at: dt.datetime | None
    """When the receipt was recorded."""
    receipt: bytes | None
    """The partner's signed receipt, once receipted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedEntry:
    """One received message as an operator reads it: the message, where it stands, and our signed receipt."""

    message: InboundMessage
    """The message as stored (its exact bytes included)."""
    status: InboundStatus
    """Where it stands with the back office."""
    receipt: bytes
    """The signed Receipt we answered with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedPage:
    """A page of received messages, newest first (:meth:`Store.received`); reading it changes nothing."""

    entries: tuple[ReceivedEntry, ...]
    """The messages before the cursor, newest first."""
    next: int
    """The cursor to pass as ``before`` for the older page (unchanged when the page is empty)."""
    has_more: bool
    """True when older messages follow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    """One message we send as an operator reads it: the message (with its bytes) and where it stands."""

    message: OutboundMessage
    """The signed message as queued."""
    status: OutboundStatus
    """Where it stands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPage:
    """A page of the outbox, newest first (:meth:`Store.outbox`)."""

    entries: tuple[OutboxEntry, ...]
    """The messages before the cursor, newest first."""
    next: int
    """The cursor to pass as ``before`` for the older page (unchanged when the page is empty)."""
    has_more: bool
    """True when older messages follow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """Messages that entered the store since a moment (:meth:`Store.traffic`)."""

    inbound: int
    """Messages received (and stored) at or after it."""
    outbound: int
    """Messages queued at or after it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreCounts:
    """Messages per state, for ``/metrics``; every state is present, zero included."""

    inbound: Mapping[InboundState, int]
    """Received messages per inbound state."""
    outbound: Mapping[OutboundState, int]
    """Messages we send per outbound state."""
    rejected: int
    """Audit lines: messages rejected with an ``Error`` reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Idempotency:
    """A back-office client's idempotency key for one submission."""

    client: str
    """The named back-office client (its token's or client certificate's name); keys are per client."""
    key: str
    """The key as the client sent it (1 to 200 printable ASCII characters; the gateway validates it)."""
    fingerprint: str
    """Hex SHA-256 of the canonical submission (the gateway computes it), stored with the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueued:
    """The outcome of :meth:`Store.enqueue`."""

    message_id: str
    """The queued message: the original one when the idempotency key was seen before."""
    digest: str
    """:func:`digest_of` the queued message's bytes."""
    replayed: bool
    """True when the idempotency key was seen before: nothing new was queued."""
    fingerprint: str | None
    """The fingerprint stored with the key (compare it to detect a different request); None without a key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackofficeAction:
    """One back-office action, audited: who did what, when, and how it ended."""

    at: dt.datetime
    """When it happened (aware)."""
    client: str
    """The named back-office client (its token's or client certificate's name); at most 200 characters."""
    action: str
    """What it did: ``outbox.submit``, ``inbox.read``, ``inbox.ack``, ``auth`` (a refused sign-in), ...; at most
    64 characters."""
    target: str | None
    """What it acted on: a message id, ``since=12``, ``sequences=1,2,3``, ...; at most 500 characters."""
    outcome: str
    """``ok``, or the stable error code of the refusal (``unauthorized``, ``forbidden``, ...); at most 64
    characters."""
    participant: str | None = None
    """The hosted participant the client acted as, when there is one; at most 200 characters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSessionRecord:
    """One signed-in console browser, as the store keeps it (schema version 6): shared by every gateway process."""

    digest: str
    """Hex SHA-256 of the session cookie's value: the store never holds a cookie a reader could use."""
    client: str
    """The back-office client that signed in (at most 200 characters)."""
    participants: frozenset[str]
    """The participant ids its credential lets it act for."""
    credential: str
    """Hex SHA-256 of the credential that signed in (the grant's hash in the tokens file): each use of the
    session checks that the gateway still accepts it."""
    csrf: str
    """The token every state-changing form of the session carries."""
    opened_at: dt.datetime
    """When it signed in (aware)."""
    expires: dt.datetime
    """When it ends (aware): the session's hours, or the credential's expiry if sooner."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEntry:
    """One entry of the back-office audit log."""

    sequence: int
    """Position in the log; increasing in the order the actions were recorded."""
    action: BackofficeAction
    """The action as recorded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionPage:
    """A page of the back-office audit log, read from a cursor."""

    entries: tuple[ActionEntry, ...]
    """The entries after the cursor, in the order recorded."""
    next: int
    """The cursor to pass as ``since`` for the following page (unchanged when the page is empty)."""
    has_more: bool
    """True when more entries follow ``next`` already."""


class CaseDirection(enum.StrEnum):
    """Whether a case message was received (``inbound`` table) or sent by us (``outbound`` table)."""

    INBOUND = "in"
    OUTBOUND = "out"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseMessage:
    """One message of a case, as the ``case_message`` table lists it: a pointer to the stored message.

    A received message is found in ``inbound`` by ``(sender, message_id)``, a sent one in ``outbound`` by
    ``message_id``; the case keeps no second copy of the bytes.
    """

    direction: CaseDirection
    """Received or sent."""
    sender: str
    """Header ``Sender``."""
    receiver: str
    """Header ``Receiver``."""
    message_id: str
    """Header ``MessageId``."""
    message_type: str
    """Header ``MessageType`` (``ConsentDecision``, ``ExportData``, ...)."""
    at: dt.datetime
    """When the message entered the store (received or queued; aware)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCaseMessage:
    """A case message read back with its position and the exact stored bytes (to fold the case again)."""

    position: int
    """1, 2, 3, ... in the order the messages were stored under the case."""
    message: CaseMessage
    """Who sent what, when."""
    data: bytes
    """The signed envelope as stored in ``inbound`` or ``outbound``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseSummary:
    """The row of one case: what the case list shows and filters on, and its version."""

    notification_number: str
    """The case's key (the messages' ConversationId)."""
    state: str
    """The notification's state: ``awaited``, ``notified`` or ``cancelled``."""
    export_country: str | None
    """The State of export, once the Notification is known."""
    import_country: str | None
    """The State of import, once the Notification is known."""
    blocked: bool
    """True when a new shipment would be stopped on the day of ``updated_at`` (it holds until ``review_on``)."""
    violations: int
    """Findings that block."""
    warnings: int
    """Findings that inform."""
    shipments_used: int
    """Shipments exported."""
    shipments_notified: int | None
    """Shipments notified (V-A 4), once the Notification is known."""
    review_on: dt.date | None = None
    """The first day ``blocked`` may change without a new message (a withdrawal, a cancellation or a deemed
    consent taking effect, a consent's validity or the departures beginning or ending); None: never."""
    message_count: int = 0
    """Messages listed under the case (set by the store)."""
    updated_at: dt.datetime | None = None
    """When the case last changed (set by the store from the write's ``at``)."""
    version: int = 0
    """Increases by one with every write; 0 for a case never stored."""
    sequence: int = 0
    """The case's place in the list (order of creation); what :meth:`Store.cases` pages by."""
    change: int | None = None
    """The row's place in the change feed, what :meth:`Store.case_changes` pages by: given by the first feed
    read after the row was written; None until then (every write of the row clears it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseUpdate:
    """The case side of one store write: the new summary, the messages to list, and the version it builds on."""

    summary: CaseSummary
    """The case after the write (``message_count``, ``updated_at``, ``version``, ``sequence`` are the store's)."""
    messages: tuple[CaseMessage, ...]
    """The messages to append to the case, in order: the stored message, then any automatic reply."""
    expected_version: int
    """The version the summary was computed from (0: the case is new); another stored version is a conflict."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CasePage:
    """A page of the case list, in order of creation (:meth:`Store.cases`) or of change (:meth:`Store.case_changes`)."""

    cases: tuple[CaseSummary, ...]
    """The cases after the cursor that pass the filters."""
    next: int
    """The cursor to pass as ``since`` (``after``) for the following page (unchanged when the page is empty)."""
    has_more: bool
    """True when more matching cases follow ``next``."""


# ---------------------------------------------------------------------------------------------------- the seam


class Store(Protocol):
    """Durable storage of the messages a gateway receives and sends.

    Implementations are safe to share between the threads of one process, and several processes (PostgreSQL)
    may use one database. Every method that changes something commits before it returns. Every failure of the
    database is raised as :class:`~picexchange.errors.StoreError`. Use as a context manager or call
    :meth:`close`.
    """

    def migrate(self) -> int:
        """Create or upgrade the schema, one transaction per step; idempotent.

        Returns:
            The schema version now in force.

        """
        ...

    def record_inbound(
        self,
        message: InboundMessage,
        receipt: bytes,
        *,
        case: CaseUpdate | None = None,
        replies: Iterable[OutboundMessage] = (),
    ) -> Recorded:
        """Store a received message and the signed receipt we answer with, in one durable transaction.

        With ``case``, the case row and its case-message rows are written in the same transaction, and
        ``replies`` (automatic answers, e.g. a ClearanceResult "held") are queued in it too. A duplicate writes
        neither case rows nor replies.

        Args:
            message: the exact bytes received and the header fields read from the verified envelope.
            receipt: our signed ``Receipt`` for these bytes.
            case: the case update this message makes, computed from ``case.expected_version``.
            replies: signed messages to queue with it, due at ``message.received_at``.

        Returns:
            What to answer: ``receipt`` for a new message; the original receipt, with ``duplicate=True``, when
            the same sender already sent this message id with the same bytes.

        Raises:
            ConflictError: the sender already sent this message id with other bytes (nothing is written).
            CaseConflict: the case's stored version is not ``case.expected_version`` (nothing is written;
                fold the case again and retry).
            StoreError: the database failed; nothing may be acknowledged.

        """
        ...

    def inbox(self, *, since: int, limit: int, at: dt.datetime) -> InboxPage:
        """Return the inbox log after cursor ``since`` (0 for the start), marking new entries delivered at ``at``.

        Args:
            since: ``next`` of the previous page, or 0.
            limit: the most entries to return (at least 1).
            at: when the back office pulled.

        """
        ...

    def acknowledge_inbound(self, sequence_numbers: Iterable[int], *, at: dt.datetime) -> None:
        """Mark inbox entries acknowledged by the back office at ``at``; all or none.

        Raises:
            StoreError: a sequence number is unknown, or its message was never pulled.

        """
        ...

    def inbound_status(self, sender: str, message_id: str) -> InboundStatus | None:
        """Return where the message ``message_id`` from ``sender`` stands, or None if it was never stored."""
        ...

    def enqueue(
        self,
        message: OutboundMessage,
        *,
        at: dt.datetime,
        idempotency: Idempotency | None = None,
        case: CaseUpdate | None = None,
    ) -> Enqueued:
        """Put a signed message in the outbox, due at once; idempotent for the same id and bytes.

        With ``case``, the case row and its case-message row are written in the same transaction; a replayed
        key or a message already queued writes no case row.

        With ``idempotency``, the key ``(client, key)`` is claimed by one atomic insert in the same transaction
        as the message: if the key was claimed before (or by a concurrent call that commits first), nothing is
        queued and the original message is returned with ``replayed=True`` and the fingerprint stored with the
        key. Comparing that fingerprint with the request's is the caller's business.

        Returns:
            The queued message's id and digest (the original message's when replayed).

        Raises:
            ConflictError: another message with this id is already in the outbox (nothing is stored and the
                key is not claimed).
            CaseConflict: the case's stored version is not ``case.expected_version`` (nothing is written).

        """
        ...

    def claimed_key(self, idempotency: Idempotency) -> Enqueued | None:
        """Return the message queued under ``idempotency``'s key (``replayed=True``), or None if it is unused.

        A read before the case checks of a submission: a retry of a submission that was queued must get its
        message back, not be judged again against the case it changed. :meth:`enqueue` still claims the key
        atomically.
        """
        ...

    def case_summary(self, notification_number: str) -> CaseSummary | None:
        """Return the row of one case, or None if no message of it was stored."""
        ...

    def cases(
        self,
        *,
        since: int,
        limit: int,
        state: str | None = None,
        country: str | None = None,
        blocked: bool | None = None,
        updated_since: dt.datetime | None = None,
    ) -> CasePage:
        """Return the cases after cursor ``since`` (0 for the start) that pass every filter given.

        Args:
            since: ``next`` of the previous page, or 0.
            limit: the most cases to return (at least 1).
            state: only cases in this notification state.
            country: only cases whose State of export or import is this country.
            blocked: only blocked (True) or unblocked (False) cases.
            updated_since: only cases changed at or after this time.

        """
        ...

    def case_changes(
        self,
        *,
        after: int,
        limit: int,
        state: str | None = None,
        country: str | None = None,
        blocked: bool | None = None,
    ) -> CasePage:
        """Return the case rows written since change number ``after`` (0 for the start), in the order they changed.

        First numbers, in one write transaction and one reader at a time, every row committed since the last
        such read (its ``change`` is None); then returns the rows whose ``change`` is above ``after``, lowest
        first. A case appears once, at its latest change: a row written again is numbered again, higher. A row
        whose transaction commits after this read is numbered by a later one, above this page's ``next``, so
        polling with ``after = next`` never misses a write, however many gateway processes commit in any order.

        Args:
            after: ``next`` of the previous page, or 0.
            limit: the most cases to return (at least 1).
            state: only cases in this notification state.
            country: only cases whose State of export or import is this country.
            blocked: only blocked (True) or unblocked (False) cases.

        """
        ...

    def cases_due(self, on: dt.date, *, limit: int) -> tuple[str, ...]:
        """Return the notification numbers of up to ``limit`` cases whose row is due for review on ``on``.

        A row is due when its ``review_on`` is ``on`` or earlier; the longest overdue come first. Rows with no
        ``review_on`` are never due.
        """
        ...

    def refresh_case(self, summary: CaseSummary, *, expected_version: int, at: dt.datetime | None) -> CaseSummary:
        """Rewrite a case's summary columns (and ``review_on``) with no new message; return the row written.

        The row's ``version`` increases by one and ``updated_at`` becomes ``at`` (None keeps it: only the review
        day moved, nothing a reader of the row sees changed, so ``updated_since`` does not report it);
        ``message_count`` and the case's messages stay as they are.

        Raises:
            CaseConflict: the case's stored version is not ``expected_version``, or there is no such case
                (nothing is written).

        """
        ...

    def case_messages(self, notification_number: str, *, after: int = 0) -> tuple[StoredCaseMessage, ...]:
        """Return the messages of a case in the order they were stored, each with its exact bytes.

        Args:
            notification_number: the case.
            after: only the messages after this position (a fold that holds the first ``after`` catches up).

        """
        ...

    def claim_due(
        self,
        *,
        now: dt.datetime,
        lease: dt.timedelta,
        limit: int,
        worker: str,
        skip_receivers: Collection[str] = (),
    ) -> list[OutboundMessage]:
        """Claim up to ``limit`` due messages for ``worker`` until ``now + lease``, earliest due first.

        A message is due when it is queued and its next attempt time has come, or when it is being sent but
        the claim on it expired (its worker crashed or hung). No two workers hold a message at the same time.
        Messages for ``skip_receivers`` are left for later (the worker already has enough in flight to them).
        """
        ...

    def mark_receipted(self, message_id: str, receipt: bytes, *, at: dt.datetime) -> bool:
        """Record the partner's signed receipt; the message is delivered for good.

        A receipt counts whoever holds the claim: it is proof of delivery. A second receipt changes nothing.

        Returns:
            True if the message became receipted now, False if it already was.

        Raises:
            StoreError: the message is unknown, or was never claimed or has failed.

        """
        ...

    def mark_retry(
        self, message_id: str, *, worker: str, error: str, next_attempt_at: dt.datetime, at: dt.datetime
    ) -> bool:
        """Record a failed attempt by ``worker`` and put the message back in the queue until ``next_attempt_at``.

        Returns:
            True if recorded; False, changing nothing, if ``worker`` no longer holds the claim (its lease
            lapsed and another worker took the message over, or a receipt arrived meanwhile).

        Raises:
            StoreError: the message is unknown.

        """
        ...

    def mark_failed(self, message_id: str, *, worker: str, error: str, at: dt.datetime) -> bool:
        """Record a failed attempt by ``worker`` and give the message up.

        Returns:
            True if recorded; False, changing nothing, if ``worker`` no longer holds the claim.

        Raises:
            StoreError: the message is unknown.

        """
        ...

    def outbound_status(self, message_id: str) -> OutboundStatus | None:
        """Return where the outbound message stands, or None if it was never enqueued."""
        ...

    def requeue(self, message_id: str, *, at: dt.datetime) -> None:
        """Send a failed message again (an operator's action): the same bytes and id, queued and due at ``at``.

        Its attempts and last error are kept: a retry that fails again for a passing reason is retried only
        while its attempts are below the worker's ``max_attempts``.

        Raises:
            StoreError: (``retryable=False``) the message is unknown, or is not failed.

        """
        ...

    def give_up(self, message_id: str, *, reason: str, at: dt.datetime) -> None:
        """Give up a queued message (an operator's action): it becomes failed with ``reason`` as its last error.

        Raises:
            StoreError: (``retryable=False``) the message is unknown, or is not queued (a message being sent
                waits for its worker's outcome; a receipted one was delivered).

        """
        ...

    def outbox(self, *, before: int = 0, limit: int, states: Collection[OutboundState] = ()) -> OutboxPage:
        """Return outbox messages, newest first, before cursor ``before`` (0: from the newest); reads only.

        Args:
            before: ``next`` of the previous page, or 0.
            limit: the most messages to return (at least 1).
            states: only messages in one of these states (all when empty).

        """
        ...

    def outbox_message(self, message_id: str) -> OutboxEntry | None:
        """Return one outbox message with its bytes and status, or None if it was never enqueued."""
        ...

    def received(self, *, before: int = 0, limit: int, receivers: Collection[str] = ()) -> ReceivedPage:
        """Return received messages, newest first, before cursor ``before`` (0: from the newest); reads only.

        Unlike :meth:`inbox`, nothing is marked delivered: an operator looking is not the back office taking.

        Args:
            before: ``next`` of the previous page, or 0.
            limit: the most messages to return (at least 1).
            receivers: only messages addressed to one of these participants (all when empty).

        """
        ...

    def received_message(self, sender: str, message_id: str) -> ReceivedEntry | None:
        """Return one received message with its bytes, status and our receipt, or None if it was never stored."""
        ...

    def traffic(self, *, since: dt.datetime) -> Traffic:
        """Return how many messages were received, and how many queued, at or after ``since``."""
        ...

    def counts(self) -> StoreCounts:
        """Return the number of messages per state, and of audit lines."""
        ...

    def audit(self, *, at: dt.datetime, sender: str | None, message_id: str | None, code: str, text: str) -> None:
        """Write one audit line for a rejected message (its bytes are not stored).

        Args:
            at: when the message was rejected.
            sender: the header's sender, when it could be read.
            message_id: the header's message id, when it could be read.
            code: the error code of the ``Error`` reply (``schema``, ``signature``, ...).
            text: what was wrong.

        """
        ...

    def record_action(self, action: BackofficeAction) -> None:
        """Append one back-office action to the audit log, durably.

        Raises:
            StoreError: a field is empty or too long (``retryable=False``), or the store cannot write now.

        """
        ...

    def actions(self, *, since: int, limit: int) -> ActionPage:
        """Return up to ``limit`` audit log entries after the cursor ``since``, in the order recorded.

        Args:
            since: ``next`` of the previous page, or 0 for the start.
            limit: the most entries to return (at least 1).

        """
        ...

    def open_console_session(self, session: ConsoleSessionRecord, *, most: int) -> None:
        """Keep a new console session; drop the sessions that expired by its ``opened_at``.

        When ``most`` sessions would still be kept, the oldest are dropped first (their browsers sign in again).

        Raises:
            StoreError: a field is empty or too long, the digest is taken (``retryable=False``), or the store
                cannot write now.

        """
        ...

    def console_session(self, digest: str) -> ConsoleSessionRecord | None:
        """Return the console session of a cookie's digest, or None (never kept, closed, or dropped)."""
        ...

    def close_console_session(self, digest: str) -> None:
        """Forget a console session (sign-out, expiry, a credential no longer accepted); idempotent."""
        ...

    def check_writable(self, *, at: dt.datetime) -> None:
        """Write and commit one tiny row (the heartbeat, at ``at``): proof that the store can write now.

        Cheap enough for every ``/healthz``.

        Raises:
            StoreError: the store cannot write now (disk full, read-only, server unreachable).

        """
        ...

    def close(self) -> None:
        """Release the store's connections; idempotent."""
        ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
