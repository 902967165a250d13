"""What both store backends share: the algorithms, argument checks, column lists and row converters.

Private to ``picexchange.store``: the backends differ in SQL dialect, placeholders and concurrency control, not
in what a row means or in how a page, an acknowledgement or a claim is decided, so those live here once
(:class:`SqlStore`), and ``sqlite.py`` and ``postgres.py`` keep only what differs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, TypeVar

from picexchange.errors import CaseConflict, ConflictError, StoreError
from picexchange.store.base import (
    INBOUND_LIFECYCLE,
    OUTBOUND_LIFECYCLE,
    ActionEntry,
    ActionPage,
    BackofficeAction,
    CaseDirection,
    CaseMessage,
    CasePage,
    CaseSummary,
    CaseUpdate,
    ConsoleSessionRecord,
    Enqueued,
    Idempotency,
    InboundEvent,
    InboundMessage,
    InboundState,
    InboundStatus,
    InboxEntry,
    InboxPage,
    OutboundEvent,
    OutboundMessage,
    OutboundState,
    OutboundStatus,
    OutboxEntry,
    OutboxPage,
    ReceivedEntry,
    ReceivedPage,
    Recorded,
    Store,
    StoreCounts,
    StoredCaseMessage,
    Traffic,
    digest_of,
    sources_of,
    transition,
)

ToDatetime = Callable[[Any], dt.datetime]
"""How a backend turns a stored timestamp back into an aware datetime."""

INT64_MAX = 2**63 - 1
NUMBER_CHANGES = 10_000
"""The most case rows one change-feed read numbers; more are numbered by the reads that follow."""
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

CASE_VALUE_COLUMNS = (
    "state, export_country, import_country, blocked, violations, warnings, shipments_used, shipments_notified,"
    " review_on"
)
"""The summary columns a write sets; ``message_count``, ``updated_at``, ``version`` are the store's."""
CASE_COLUMNS = (
    "notification_number, " + CASE_VALUE_COLUMNS + ", message_count, updated_at, version, sequence, change_number"
)
CASE_MESSAGE_COLUMNS = "direction, sender, receiver, message_id, message_type, at"
CONSOLE_SESSION_COLUMNS = "digest, client, participants, credential, csrf, opened_at, expires"


def _hex_digest(value: str, name: str) -> str:
    """Return ``value`` if it is a hex SHA-256 (64 lower-case hex digits); refuse it otherwise."""
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise refused(f"{name} must be 64 lower-case hex digits")
    return value


def case_values(summary: CaseSummary) -> tuple[Any, ...]:
    """Return the values of :data:`CASE_VALUE_COLUMNS`, checked (texts bounded, counts not negative).

    ``review_on`` is a :class:`datetime.date` (or None); the store writes it as its dialect stores a day.
    """
    for name, count in (
        ("violations", summary.violations),
        ("warnings", summary.warnings),
        ("shipments_used", summary.shipments_used),
        ("shipments_notified", summary.shipments_notified or 0),
    ):
        if not 0 <= count <= INT64_MAX:
            raise refused(f"case {name} must be 0 or more, got {count}")
    review_on = summary.review_on
    if review_on is not None and (isinstance(review_on, dt.datetime) or not isinstance(review_on, dt.date)):
        raise refused(f"case review_on must be a date, got {review_on!r}")
    return (
        bounded(summary.state, "case state", most=64),
        bounded(summary.export_country, "export country", most=2, required=False),
        bounded(summary.import_country, "import country", most=2, required=False),
        bool(summary.blocked),
        summary.violations,
        summary.warnings,
        summary.shipments_used,
        summary.shipments_notified,
        review_on,
    )


def case_message_values(message: CaseMessage) -> tuple[Any, ...]:
    """Return the values of :data:`CASE_MESSAGE_COLUMNS` (``at`` aware, texts NUL-free)."""
    no_nul(
        sender=message.sender,
        receiver=message.receiver,
        message_id=message.message_id,
        message_type=message.message_type,
    )
    return (
        CaseDirection(message.direction).value,
        message.sender,
        message.receiver,
        message.message_id,
        message.message_type,
        aware(message.at, "case message at"),
    )


def case_from(row: Sequence[Any], to_datetime: ToDatetime) -> CaseSummary:
    """Return the summary in a row selected with :data:`CASE_COLUMNS`."""
    (
        number,
        state,
        export,
        import_,
        blocked,
        violations,
        warnings,
        used,
        notified,
        review,
        count,
        updated,
        version,
        seq,
        change,
    ) = row
    return CaseSummary(
        notification_number=number,
        state=state,
        export_country=export,
        import_country=import_,
        blocked=bool(blocked),
        violations=violations,
        warnings=warnings,
        shipments_used=used,
        shipments_notified=notified,
        review_on=None if review is None else review if isinstance(review, dt.date) else dt.date.fromisoformat(review),
        message_count=count,
        updated_at=to_datetime(updated),
        version=version,
        sequence=seq,
        change=change,
    )


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


class Rows(Protocol):
    """What a statement returns in both drivers (a ``sqlite3.Cursor``, a ``psycopg.Cursor``)."""

    def fetchone(self) -> Any:
        """Return the next row, or None."""

    def fetchall(self) -> list[Any]:
        """Return the remaining rows."""


class Session(Protocol):
    """One open transaction: a ``sqlite3.Connection`` or a ``psycopg.Cursor``, both DB-API alike here."""

    def execute(self, sql: Any, parameters: Any = ..., /) -> Rows:
        """Run one statement."""

    def executemany(self, sql: Any, parameters: Iterable[Sequence[Any]], /) -> object:
        """Run one statement once per parameter row."""


DriverError = TypeVar("DriverError", bound=Exception)


def driver_error(
    exc: Exception,
    *,
    dialect: str,
    driver: type[DriverError],
    refusals: tuple[type[Exception], ...],
    describe: Callable[[DriverError], str],
    scrub: Callable[[str], str] = str,
) -> StoreError:
    """Return the StoreError for a failure inside a transaction: an outage is retryable, a refusal is not.

    Both backends translate the same three kinds of failure, each in its own words: an argument the driver
    cannot adapt (``ValueError``, ``OverflowError``: a NUL in a text, an integer beyond 64 bits), an error of
    the caller that the database refused (``refusals``: retrying the same call cannot help), and an outage
    (anything else the driver raises).

    Args:
        exc: what the driver (or its argument adaptation) raised.
        dialect: the database's name, as texts start with it.
        driver: the base class of the driver's own errors.
        refusals: the driver's errors that mean the arguments, not the database, are at fault.
        describe: the text for a driver error, in words safe to log.
        scrub: blanks out of any text what must not be logged (the PostgreSQL connection's parameters).

    """
    if not isinstance(exc, driver):
        return refused(scrub(f"{dialect} refused an argument: {exc}"))
    return StoreError(scrub(describe(exc)), retryable=not isinstance(exc, refusals))


class SqlStore(Store):
    """The store's algorithms, written once: each backend adds its SQL dialect, its placeholders and its locking.

    What is shared: argument checks, the one atomic insert that decides "new or seen" (inbound messages,
    outbox entries, idempotency keys), inbox paging with a cursor and ``has_more``, delivered marking, all-or-none
    acknowledgement, claiming, outcome recording through the lifecycle table, audit-log paging, counting, and
    the migration runner. What a backend sets:

    - ``_P`` (its placeholder) and ``_SCHEMA_VERSION_DDL``;
    - ``_LOCK_ROWS``: the clause that locks rows read for an update (PostgreSQL ``FOR UPDATE``; SQLite has one
      writer at a time and none), and ``_CLAIM_FROM``/``_CLAIM_LOCK`` for claiming (an index hint, ``SKIP
      LOCKED``);
    - :meth:`_migrations`, :meth:`_transaction` (one transaction, driver errors translated),
      :meth:`_db_time`/:meth:`_time` (how a time is stored and read back), :meth:`_in` (a membership test over
      many values);
    - hooks where the dialects' concurrency control differs: :meth:`_lock_schema` (before a migration step)
      and :meth:`_number_inbox` (sequence numbers in commit order).
    """

    _P: ClassVar[str]
    _SCHEMA_VERSION_DDL: ClassVar[str]
    _LOCK_ROWS: ClassVar[str] = ""
    _CLAIM_FROM: ClassVar[str] = "outbound"
    _CLAIM_LOCK: ClassVar[str] = ""
    _INBOUND_ORDER: ClassVar[str] = "sequence"
    """The inbound column in insertion order that is never NULL (operators' listings page by it)."""

    # ---------------------------------------------------------------------------------- dialect, locking

    def _transaction(self, *, write: bool) -> AbstractContextManager[Session]:
        """Return one transaction (a writing one takes the write lock first where the dialect has one)."""
        raise NotImplementedError

    def _migrations(self) -> tuple[Migration, ...]:
        """Return the backend's schema history (read at each call: tests replay an older history)."""
        raise NotImplementedError

    def _db_time(self, value: dt.datetime) -> object:
        """Return an aware UTC time as the database stores it."""
        raise NotImplementedError

    def _time(self, value: Any) -> dt.datetime:
        """Return a stored time as an aware datetime."""
        raise NotImplementedError

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """Return the condition "``column`` is one of ``values``" and its parameters (``values`` not empty)."""
        return f"{column} IN ({', '.join(self._P for _ in values)})", tuple(values)

    def _select(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Return the rows of one SELECT, read on its own (a transaction of one statement)."""
        with self._transaction(write=False) as session:
            return session.execute(sql, parameters).fetchall()

    def _lock_schema(self, session: Session) -> None:
        """Hold off other processes' migrations until this transaction ends (nothing where writes serialise)."""

    def _number_inbox(self, session: Session) -> None:
        """Give sequence numbers to inbound rows committed without one (nothing where commit order is row order)."""

    # --------------------------------------------------------------------------------------- shared parts

    def _stamp(self, value: dt.datetime, name: str) -> object:
        """Return ``value`` checked aware and as the database stores it."""
        return self._db_time(aware(value, name))

    def _stored(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Return row values with every (already checked) time as the database stores it."""
        return tuple([self._db_time(v) if isinstance(v, dt.datetime) else v for v in values])

    def _version(self, session: Session) -> int:
        current = int(session.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])
        if current > len(self._migrations()):
            raise refused(f"the database schema is version {current}, newer than this picexchange knows")
        return current

    def _db_day(self, value: dt.date) -> object:
        """Return a day as the database stores it (ISO 8601 text, whose order is the days' order)."""
        return value.isoformat()

    def _summary_values(self, summary: CaseSummary) -> tuple[Any, ...]:
        """Return the checked values of :data:`CASE_VALUE_COLUMNS` as the database stores them."""
        *values, review_on = case_values(summary)
        return (*values, None if review_on is None else self._db_day(review_on))

    def _marks(self, count: int) -> str:
        return ", ".join((self._P,) * count)

    def _case_assignments(self) -> str:
        """Return ``column = placeholder`` for each summary column of a case row, for an UPDATE of it."""
        return ", ".join(f"{column} = {self._P}" for column in CASE_VALUE_COLUMNS.split(", "))

    # ------------------------------------------------------------------------------------------ migration

    def migrate(self) -> int:
        """Create or upgrade the schema, one transaction per step; idempotent, safe from several processes."""
        p = self._P
        for step in (None, *self._migrations()):
            with self._transaction(write=True) as session:
                self._lock_schema(session)
                if step is None:
                    session.execute(self._SCHEMA_VERSION_DDL)
                    continue
                if self._version(session) >= step.version:
                    continue
                for statement in step.statements:
                    session.execute(statement)
                session.execute(
                    f"INSERT INTO schema_version (version, description) VALUES ({p}, {p})",  # noqa: S608 -- placeholders
                    (step.version, step.description),
                )
        with self._transaction(write=False) as session:
            return self._version(session)

    # -------------------------------------------------------------------------------------------- inbound

    def record_inbound(
        self,
        message: InboundMessage,
        receipt: bytes,
        *,
        case: CaseUpdate | None = None,
        replies: Iterable[OutboundMessage] = (),
    ) -> Recorded:
        """Store a received message, our receipt, its case update and replies in one transaction; see the protocol."""
        digest = digest_of(message.data)
        values = self._stored(inbound_values(message))
        queued = [self._stored(outbound_values(reply)) for reply in replies]
        when = self._stamp(message.received_at, "received_at")
        case_rows = self._case_rows(case, message.conversation_id) if case is not None else None
        p = self._P
        with self._transaction(write=True) as session:
            # One atomic insert decides "new or seen": "exists?" then "insert" would let two copies race in.
            inserted = session.execute(
                f"INSERT INTO inbound ({INBOUND_COLUMNS}, digest, receipt, state)"  # noqa: S608 -- constants
                f" VALUES ({self._marks(13)})"
                " ON CONFLICT (sender, message_id) DO NOTHING RETURNING 1",
                (*values, digest, receipt, InboundState.RECEIVED.value),
            ).fetchall()
            if inserted:
                # A duplicate (below) writes no case row and queues no reply: only a new message reaches here.
                for reply in queued:
                    if not self._queue(session, reply, when):
                        raise ConflictError(conflict_text("outbound", reply[0]), message_id=reply[0])
                if case_rows is not None:
                    self._write_case(session, *case_rows, when)
                return Recorded(digest=digest, receipt=receipt, duplicate=False)
            row = session.execute(
                f"SELECT digest, receipt FROM inbound WHERE sender = {p} AND message_id = {p}",  # noqa: S608
                (message.sender, message.message_id),
            ).fetchone()
        if row is None:  # pragma: no cover -- the conflicting row cannot vanish: rows are never deleted
            raise StoreError(f"message {message.message_id} conflicted but cannot be read")
        stored_digest, stored_receipt = row
        if stored_digest != digest:
            raise ConflictError(conflict_text(f"{message.sender}'s", message.message_id), message_id=message.message_id)
        return Recorded(digest=digest, receipt=bytes(stored_receipt), duplicate=True)

    # ---------------------------------------------------------------------------------------------- cases

    def _case_rows(
        self, case: CaseUpdate, conversation_id: str
    ) -> tuple[str, int, tuple[Any, ...], list[tuple[Any, ...]]]:
        """Return the checked values of a case update: number, expected version, summary, message rows."""
        number = str(bounded(case.summary.notification_number, "notification number", most=200))
        if number != conversation_id:
            raise refused(f"the case update is for {number}, the message for {conversation_id}")
        if not 0 <= case.expected_version < INT64_MAX:
            raise refused(f"expected_version must be 0 or a stored version, got {case.expected_version}")
        if not case.messages:
            raise refused("a case update lists at least one message")
        summary = self._summary_values(case.summary)
        messages = [self._stored(case_message_values(item)) for item in case.messages]
        return number, case.expected_version, summary, messages

    def _write_case(
        self,
        session: Session,
        number: str,
        expected: int,
        summary: tuple[Any, ...],
        messages: list[tuple[Any, ...]],
        when: object,
    ) -> None:
        """Write the case row if it is still at ``expected``, and append its messages; else raise CaseConflict.

        One statement decides, never "read the version" then "write": an insert that does nothing when the case
        exists (new case), or an update guarded by the version (PostgreSQL re-checks the guard on the row a
        concurrent writer committed).
        """
        p, count = self._P, len(messages)
        if expected == 0:
            written = session.execute(
                f"INSERT INTO pic_case (notification_number, {CASE_VALUE_COLUMNS}, message_count, updated_at, version)"  # noqa: S608
                f" VALUES ({self._marks(13)}) ON CONFLICT (notification_number) DO NOTHING RETURNING 0",
                (number, *summary, count, when, 1),
            ).fetchall()
        else:
            assignments = self._case_assignments()
            written = session.execute(
                f"UPDATE pic_case SET {assignments}, message_count = message_count + {p},"  # noqa: S608 -- constants
                f" updated_at = {p}, version = version + 1, change_number = NULL"
                f" WHERE notification_number = {p} AND version = {p} RETURNING message_count - {p}",
                (*summary, count, when, number, expected, count),
            ).fetchall()
        if not written:
            row = session.execute(
                f"SELECT version FROM pic_case WHERE notification_number = {p}",  # noqa: S608 -- placeholder
                (number,),
            ).fetchone()
            raise CaseConflict(number, expected=expected, found=0 if row is None else int(row[0]))
        start = int(written[0][0])
        session.executemany(
            f"INSERT INTO case_message (notification_number, position, {CASE_MESSAGE_COLUMNS})"  # noqa: S608
            f" VALUES ({self._marks(8)})",
            [(number, start + index, *values) for index, values in enumerate(messages, start=1)],
        )

    def _queue(self, session: Session, values: tuple[Any, ...], when: object) -> bool:
        """Insert one outbound message due at ``when``; return False if its id is already in the outbox."""
        return bool(
            session.execute(
                f"INSERT INTO outbound ({OUTBOUND_COLUMNS}, state, due_at, enqueued_at, updated_at)"  # noqa: S608
                f" VALUES ({self._marks(7)}, 0, {self._marks(4)})"
                " ON CONFLICT (message_id) DO NOTHING RETURNING 1",
                (*values, OutboundState.QUEUED.value, when, when, when),
            ).fetchall()
        )

    def claimed_key(self, idempotency: Idempotency) -> Enqueued | None:
        """Return the message queued under an idempotency key, or None; see the protocol."""
        client, key, _ = idempotency_values(idempotency)
        p = self._P
        with self._transaction(write=False) as session:
            row = session.execute(
                "SELECT k.message_id, k.fingerprint, o.data FROM idempotency AS k"  # noqa: S608 -- placeholders
                " JOIN outbound AS o ON o.message_id = k.message_id"
                f" WHERE k.client = {p} AND k.idempotency_key = {p}",
                (client, key),
            ).fetchone()
        if row is None:
            return None
        message_id, fingerprint, data = row
        return Enqueued(message_id=message_id, digest=digest_of(bytes(data)), replayed=True, fingerprint=fingerprint)

    def case_summary(self, notification_number: str) -> CaseSummary | None:
        """Return the row of one case, or None; see the protocol."""
        no_nul(notification_number=notification_number)
        # Read before every message of a case: one statement, so no transaction of its own is needed.
        rows = self._select(
            f"SELECT {CASE_COLUMNS} FROM pic_case WHERE notification_number = {self._P}",  # noqa: S608
            (notification_number,),
        )
        return case_from(rows[0], self._time) if rows else None

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
        """Return a filtered page of the case list; see the protocol."""
        since, limit, p = cursor(since), positive(limit, "limit"), self._P
        conditions, parameters = self._case_filters(f"sequence > {p}", since, state, country, blocked)
        if updated_since is not None:
            conditions.append(f"updated_at >= {p}")
            parameters.append(self._stamp(updated_since, "updated_since"))
        with self._transaction(write=False) as session:
            rows = session.execute(
                f"SELECT {CASE_COLUMNS} FROM pic_case WHERE {' AND '.join(conditions)}"  # noqa: S608 -- placeholders
                f" ORDER BY sequence LIMIT {p}",
                (*parameters, limit + 1),
            ).fetchall()
        found = tuple(case_from(row, self._time) for row in rows[:limit])
        return CasePage(cases=found, next=found[-1].sequence if found else since, has_more=len(rows) > limit)

    def _case_filters(
        self, position: str, after: int, state: str | None, country: str | None, blocked: bool | None
    ) -> tuple[list[str], list[object]]:
        """Return the WHERE conditions and parameters of a case-list page: past the cursor, then each filter given."""
        p = self._P
        no_nul(state=state, country=country)
        conditions, parameters = [position], list[object]([after])
        if state is not None:
            conditions.append(f"state = {p}")
            parameters.append(state)
        if country is not None:
            conditions.append(f"(export_country = {p} OR import_country = {p})")
            parameters += [country, country]
        if blocked is not None:
            conditions.append(f"blocked = {p}")
            parameters.append(blocked)
        return conditions, parameters

    def case_changes(
        self,
        *,
        after: int,
        limit: int,
        state: str | None = None,
        country: str | None = None,
        blocked: bool | None = None,
    ) -> CasePage:
        """Return the changes after ``after``, numbering the rows written since the last read; see the protocol."""
        after, limit, p = cursor(after), positive(limit, "limit"), self._P
        conditions, parameters = self._case_filters(f"change_number > {p}", after, state, country, blocked)
        with self._transaction(write=True) as session:
            unnumbered = self._number_case_changes(session, most=NUMBER_CHANGES)
            rows = session.execute(
                f"SELECT {CASE_COLUMNS} FROM pic_case WHERE {' AND '.join(conditions)}"  # noqa: S608 -- placeholders
                f" ORDER BY change_number LIMIT {p}",
                (*parameters, limit + 1),
            ).fetchall()
        found = tuple(case_from(row, self._time) for row in rows[:limit])
        return CasePage(
            cases=found,
            next=int(found[-1].change or after) if found else after,
            has_more=len(rows) > limit or unnumbered,
        )

    def _number_case_changes(self, session: Session, *, most: int) -> bool:
        """Give change numbers to up to ``most`` committed rows that have none; return True when more are left.

        The one ``case_change_log`` row is read locked, so feed readers number one at a time and each number is
        above every number committed before (PostgreSQL ``FOR UPDATE``; SQLite's write transaction holds the
        file's one write lock). A row that a writer's open transaction holds is left for a later read.
        """
        p = self._P
        row = session.execute(f"SELECT last_change FROM case_change_log WHERE id = 1{self._LOCK_ROWS}").fetchone()  # noqa: S608
        if row is None:
            raise StoreError("the case change log is missing; run migrate()")
        # A row a writer holds is passed over, not waited for (PostgreSQL SKIP LOCKED): the write clears its
        # number again, so a read after its commit numbers it.
        fresh = session.execute(
            f"SELECT sequence FROM pic_case WHERE change_number IS NULL ORDER BY sequence LIMIT {p}{self._CLAIM_LOCK}",  # noqa: S608
            (most + 1,),
        ).fetchall()
        numbered = fresh[:most]
        if numbered:
            last = int(row[0])
            session.executemany(
                f"UPDATE pic_case SET change_number = {p} WHERE sequence = {p}",  # noqa: S608 -- placeholders
                [(last + n, sequence) for n, (sequence,) in enumerate(numbered, start=1)],
            )
            session.execute(f"UPDATE case_change_log SET last_change = {p} WHERE id = 1", (last + len(numbered),))  # noqa: S608
        return len(fresh) > most

    def cases_due(self, on: dt.date, *, limit: int) -> tuple[str, ...]:
        """Return the cases whose row is due for review on ``on``; see the protocol."""
        limit, p = positive(limit, "limit"), self._P
        with self._transaction(write=False) as session:
            rows = session.execute(
                f"SELECT notification_number FROM pic_case WHERE review_on <= {p}"  # noqa: S608 -- placeholders
                f" ORDER BY review_on, sequence LIMIT {p}",
                (self._db_day(on), limit),
            ).fetchall()
        return tuple(row[0] for row in rows)

    def refresh_case(self, summary: CaseSummary, *, expected_version: int, at: dt.datetime | None) -> CaseSummary:
        """Rewrite a case's summary columns guarded by its version; see the protocol."""
        number = str(bounded(summary.notification_number, "notification number", most=200))
        if not 0 < expected_version < INT64_MAX:
            raise refused(f"expected_version must be a stored version, got {expected_version}")
        values, p = self._summary_values(summary), self._P
        assignments = self._case_assignments()
        stamp: tuple[object, ...] = ()
        if at is not None:  # something shown changed: the row goes to the end of the change feed
            assignments += f", updated_at = {p}, change_number = NULL"
            stamp = (self._stamp(at, "at"),)
        with self._transaction(write=True) as session:
            row = session.execute(
                f"UPDATE pic_case SET {assignments}, version = version + 1"  # noqa: S608 -- constants
                f" WHERE notification_number = {p} AND version = {p} RETURNING {CASE_COLUMNS}",
                (*values, *stamp, number, expected_version),
            ).fetchone()
            if row is None:
                found = session.execute(
                    f"SELECT version FROM pic_case WHERE notification_number = {p}",  # noqa: S608 -- placeholder
                    (number,),
                ).fetchone()
                raise CaseConflict(number, expected=expected_version, found=0 if found is None else int(found[0]))
        return case_from(row, self._time)

    def case_messages(self, notification_number: str, *, after: int = 0) -> tuple[StoredCaseMessage, ...]:
        """Return a case's messages in order with their stored bytes; see the protocol."""
        no_nul(notification_number=notification_number)
        after = cursor(after)
        with self._transaction(write=False) as session:
            rows = session.execute(
                "SELECT m.position, m.direction, m.sender, m.receiver, m.message_id, m.message_type, m.at,"  # noqa: S608
                " coalesce(i.data, o.data) FROM case_message AS m"
                " LEFT JOIN inbound AS i ON m.direction = 'in' AND i.sender = m.sender AND i.message_id = m.message_id"
                " LEFT JOIN outbound AS o ON m.direction = 'out' AND o.message_id = m.message_id"
                f" WHERE m.notification_number = {self._P} AND m.position > {self._P} ORDER BY m.position",
                (notification_number, after),
            ).fetchall()
        listed = []
        for position, direction, sender, receiver, message_id, message_type, at, data in rows:
            if data is None:  # pragma: no cover -- messages are never deleted
                raise StoreError(f"case {notification_number}: message {message_id} is listed but not stored")
            listed.append(
                StoredCaseMessage(
                    position=position,
                    message=CaseMessage(
                        direction=CaseDirection(direction),
                        sender=sender,
                        receiver=receiver,
                        message_id=message_id,
                        message_type=message_type,
                        at=self._time(at),
                    ),
                    data=bytes(data),
                )
            )
        return tuple(listed)

    def inbox(self, *, since: int, limit: int, at: dt.datetime) -> InboxPage:
        """Return the inbox log after ``since``, marking new entries delivered; see the protocol."""
        since, limit, when = cursor(since), positive(limit, "limit"), self._stamp(at, "at")
        p = self._P
        with self._transaction(write=True) as session:
            self._number_inbox(session)
            # limit + 1 rows: the extra one only says whether there is more (has_more), it is not delivered.
            rows = session.execute(
                f"SELECT {ENTRY_COLUMNS} FROM inbound"  # noqa: S608 -- constants
                f" WHERE sequence > {p} ORDER BY sequence LIMIT {p}{self._LOCK_ROWS}",
                (since, limit + 1),
            ).fetchall()
            entries = [entry_from(row, self._time) for row in rows[:limit]]
            changes = []
            for state, entry in entries:
                new = transition(INBOUND_LIFECYCLE, state, InboundEvent.PULL, what=f"inbox entry {entry.sequence}")
                if new is not state:
                    changes.append((new.value, when, entry.sequence))
            if changes:
                session.executemany(
                    f"UPDATE inbound SET state = {p}, delivered_at = {p}"  # noqa: S608 -- constants
                    f" WHERE sequence = {p} AND delivered_at IS NULL",
                    changes,
                )
        page = tuple(entry for _, entry in entries)
        return InboxPage(messages=page, next=page[-1].sequence if page else since, has_more=len(rows) > limit)

    def acknowledge_inbound(self, sequence_numbers: Iterable[int], *, at: dt.datetime) -> None:
        """Mark inbox entries acknowledged, all or none; see the protocol."""
        when = self._stamp(at, "at")
        p = self._P
        with self._transaction(write=True) as session:
            # One transaction for every chunk: an unknown number anywhere rolls back the chunks before it.
            for chunk in chunks(sequence_numbers):
                condition, parameters = self._in("sequence", chunk)
                # Lock in sequence order, as inbox() does, so that the two never deadlock.
                found = {
                    sequence: state
                    for sequence, state in session.execute(
                        f"SELECT sequence, state FROM inbound WHERE {condition}"  # noqa: S608 -- placeholders only
                        f" ORDER BY sequence{self._LOCK_ROWS}",
                        parameters,
                    ).fetchall()
                }
                unknown = sorted(set(chunk) - found.keys())
                if unknown:
                    raise refused(f"no inbox entries with sequence numbers {unknown}")
                changes = []
                for sequence in chunk:
                    state = InboundState(found[sequence])
                    new = transition(INBOUND_LIFECYCLE, state, InboundEvent.ACKNOWLEDGE, what=f"inbox entry {sequence}")
                    if new is not state:
                        changes.append((new.value, when, sequence))
                if changes:
                    session.executemany(
                        f"UPDATE inbound SET state = {p}, acknowledged_at = {p} WHERE sequence = {p}",  # noqa: S608
                        changes,
                    )

    def inbound_status(self, sender: str, message_id: str) -> InboundStatus | None:
        """Return where a received message stands, or None; see the protocol."""
        no_nul(sender=sender, message_id=message_id)
        p = self._P
        with self._transaction(write=False) as session:
            row = session.execute(
                f"SELECT {INBOUND_STATUS_COLUMNS} FROM inbound"  # noqa: S608 -- constants
                f" WHERE sender = {p} AND message_id = {p}",
                (sender, message_id),
            ).fetchone()
        return None if row is None else inbound_status_from(row, self._time)

    # ------------------------------------------------------------------------------------------- outbound

    def enqueue(
        self,
        message: OutboundMessage,
        *,
        at: dt.datetime,
        idempotency: Idempotency | None = None,
        case: CaseUpdate | None = None,
    ) -> Enqueued:
        """Put a signed message in the outbox, due at ``at``, claiming the key, with its case; see the protocol."""
        when = self._stamp(at, "at")
        values = self._stored(outbound_values(message))
        claim = None if idempotency is None else idempotency_values(idempotency)
        case_rows = self._case_rows(case, message.conversation_id) if case is not None else None
        p = self._P
        with self._transaction(write=True) as session:
            if claim is not None:
                # One atomic insert claims (client, key), in the transaction that queues the message: never
                # "seen?" then "insert", which races. A concurrent claim of the same key waits for this one.
                claimed = session.execute(
                    "INSERT INTO idempotency (client, idempotency_key, fingerprint, message_id, created_at)"  # noqa: S608
                    f" VALUES ({self._marks(5)})"
                    " ON CONFLICT (client, idempotency_key) DO NOTHING RETURNING 1",
                    (*claim, message.message_id, when),
                ).fetchall()
                if not claimed:
                    row = session.execute(
                        "SELECT k.message_id, k.fingerprint, o.data FROM idempotency AS k"  # noqa: S608 -- placeholders
                        " JOIN outbound AS o ON o.message_id = k.message_id"
                        f" WHERE k.client = {p} AND k.idempotency_key = {p}",
                        claim[:2],
                    ).fetchone()
                    if row is None:  # pragma: no cover -- keys and messages are never deleted
                        raise StoreError("an idempotency key conflicted but its message cannot be read")
                    message_id, fingerprint, data = row
                    return Enqueued(
                        message_id=message_id, digest=digest_of(bytes(data)), replayed=True, fingerprint=fingerprint
                    )
            inserted = self._queue(session, values, when)
            if inserted and case_rows is not None:
                self._write_case(session, *case_rows, when)
            if not inserted:
                row = session.execute(
                    f"SELECT data FROM outbound WHERE message_id = {p}",  # noqa: S608 -- placeholder
                    (message.message_id,),
                ).fetchone()
                if row is None or bytes(row[0]) != message.data:
                    # Raised inside the transaction: the key claimed above is rolled back with it.
                    raise ConflictError(conflict_text("outbound", message.message_id), message_id=message.message_id)
        return Enqueued(
            message_id=message.message_id,
            digest=digest_of(message.data),
            replayed=False,
            fingerprint=None if claim is None else claim[2],
        )

    def claim_due(
        self,
        *,
        now: dt.datetime,
        lease: dt.timedelta,
        limit: int,
        worker: str,
        skip_receivers: Collection[str] = (),
    ) -> list[OutboundMessage]:
        """Claim up to ``limit`` due messages for ``worker``; see the protocol."""
        no_nul(worker=worker, **{f"skip_receivers[{i}]": r for i, r in enumerate(skip_receivers)})
        now = aware(now, "now")
        until, limit = self._db_time(lease_end(now, lease)), positive(limit, "limit")
        stamp, p = self._db_time(now), self._P
        skipped = sorted(set(skip_receivers))
        skip, skip_parameters = self._in("receiver", skipped) if skipped else ("", ())
        with self._transaction(write=True) as session:
            rows = session.execute(
                f"SELECT {CLAIM_COLUMNS} FROM {self._CLAIM_FROM}"  # noqa: S608 -- constants
                f" WHERE state IN ({CLAIMABLE_SQL}) AND due_at <= {p}{f' AND NOT ({skip})' if skip else ''}"
                f" ORDER BY due_at, id LIMIT {p}{self._CLAIM_LOCK}",
                (stamp, *skip_parameters, limit),
            ).fetchall()
            claimed, changes = [], []
            for row in rows:
                message = outbound_from(row[2:], self._time)
                new = transition(
                    OUTBOUND_LIFECYCLE, OutboundState(row[1]), OutboundEvent.CLAIM, what=f"outbound message {row[2]}"
                )
                claimed.append(message)
                changes.append((new.value, until, worker, stamp, row[0]))
            if changes:
                session.executemany(
                    f"UPDATE outbound SET state = {p}, due_at = {p}, worker = {p}, updated_at = {p}"  # noqa: S608
                    f" WHERE id = {p}",
                    changes,
                )
        return claimed

    def _outcome(
        self,
        message_id: str,
        event: OutboundEvent,
        assignments: str,
        values: tuple[object, ...],
        *,
        worker: str | None = None,
    ) -> bool:
        """Apply ``event`` to one outbound message if its lifecycle allows it; ``assignments`` set the rest.

        With ``worker``, the outcome counts only while that worker holds the claim (see :func:`outcome_state`).
        """
        p = self._P
        with self._transaction(write=True) as session:
            row = session.execute(
                f"SELECT state, worker FROM outbound WHERE message_id = {p}{self._LOCK_ROWS}",  # noqa: S608
                (message_id,),
            ).fetchone()
            if row is None:
                raise refused(f"no outbound message {message_id}")
            new = outcome_state(OutboundState(row[0]), row[1], event, worker=worker, message_id=message_id)
            if new is None:
                return False
            session.execute(
                f"UPDATE outbound SET state = {p}, attempts = attempts + 1, {assignments}"  # noqa: S608 -- constants
                f" WHERE message_id = {p}",
                (new.value, *values, message_id),
            )
        return True

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

    def outbound_status(self, message_id: str) -> OutboundStatus | None:
        """Return where an outbound message stands, or None; see the protocol."""
        no_nul(message_id=message_id)
        with self._transaction(write=False) as session:
            row = session.execute(
                f"SELECT {OUTBOUND_STATUS_COLUMNS} FROM outbound WHERE message_id = {self._P}",  # noqa: S608
                (message_id,),
            ).fetchone()
        return None if row is None else outbound_status_from(row, self._time)

    # ------------------------------------------------------------------------------------ operators' view

    def _operate(self, message_id: str, event: OutboundEvent, assignments: str, values: tuple[object, ...]) -> None:
        """Apply an operator's ``event`` to one outbound message (attempts unchanged); ``assignments`` set the rest."""
        p = self._P
        with self._transaction(write=True) as session:
            row = session.execute(
                f"SELECT state FROM outbound WHERE message_id = {p}{self._LOCK_ROWS}",  # noqa: S608 -- constants
                (message_id,),
            ).fetchone()
            if row is None:
                raise refused(f"no outbound message {message_id}")
            new = transition(OUTBOUND_LIFECYCLE, OutboundState(row[0]), event, what=f"outbound message {message_id}")
            session.execute(
                f"UPDATE outbound SET state = {p}, {assignments} WHERE message_id = {p}",  # noqa: S608 -- constants
                (new.value, *values, message_id),
            )

    def requeue(self, message_id: str, *, at: dt.datetime) -> None:
        """Queue a failed message again, due at ``at``; see the protocol."""
        no_nul(message_id=message_id)
        when, p = self._stamp(at, "at"), self._P
        self._operate(message_id, OutboundEvent.REQUEUE, f"due_at = {p}, worker = NULL, updated_at = {p}", (when, when))

    def give_up(self, message_id: str, *, reason: str, at: dt.datetime) -> None:
        """Give up a queued message; see the protocol."""
        no_nul(message_id=message_id, reason=reason)
        bounded(reason, "reason", most=1000)
        when, p = self._stamp(at, "at"), self._P
        self._operate(
            message_id,
            OutboundEvent.GIVE_UP,
            f"last_error = {p}, due_at = NULL, updated_at = {p}",
            (reason, when),
        )

    def outbox(self, *, before: int = 0, limit: int, states: Collection[OutboundState] = ()) -> OutboxPage:
        """Return outbox messages newest first; see the protocol."""
        before, limit, p = cursor(before), positive(limit, "limit"), self._P
        conditions, parameters = ["1 = 1"], list[object]()
        if before:
            conditions.append(f"id < {p}")
            parameters.append(before)
        wanted = sorted({OutboundState(state).value for state in states})
        if wanted:
            condition, values = self._in("state", wanted)
            conditions.append(condition)
            parameters += values
        with self._transaction(write=False) as session:
            rows = session.execute(
                f"SELECT id, {OUTBOUND_STATUS_COLUMNS}, {OUTBOUND_COLUMNS} FROM outbound"  # noqa: S608 -- placeholders
                f" WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT {p}",
                (*parameters, limit + 1),
            ).fetchall()
        entries = tuple(self._outbox_entry(row[1:]) for row in rows[:limit])
        if not entries:
            return OutboxPage(entries=(), next=before, has_more=False)
        return OutboxPage(entries=entries, next=rows[len(entries) - 1][0], has_more=len(rows) > limit)

    def _outbox_entry(self, row: Sequence[Any]) -> OutboxEntry:
        width = len(OUTBOUND_STATUS_COLUMNS.split(","))
        return OutboxEntry(
            message=outbound_from(row[width:], self._time), status=outbound_status_from(row[:width], self._time)
        )

    def outbox_message(self, message_id: str) -> OutboxEntry | None:
        """Return one outbox message with its status, or None; see the protocol."""
        no_nul(message_id=message_id)
        with self._transaction(write=False) as session:
            row = session.execute(
                f"SELECT {OUTBOUND_STATUS_COLUMNS}, {OUTBOUND_COLUMNS} FROM outbound"  # noqa: S608 -- constants
                f" WHERE message_id = {self._P}",
                (message_id,),
            ).fetchone()
        return None if row is None else self._outbox_entry(row)

    def _received_entry(self, row: Sequence[Any]) -> ReceivedEntry:
        width = len(INBOUND_STATUS_COLUMNS.split(","))
        status, receipt, fields = row[:width], row[width], row[width + 1 :]
        (sender, receiver, message_id, conversation_id, ref, message_type, block, created, received_at, data) = fields
        return ReceivedEntry(
            message=InboundMessage(
                sender=sender,
                receiver=receiver,
                message_id=message_id,
                conversation_id=conversation_id,
                ref_to_message_id=ref,
                message_type=message_type,
                utility_block=block,
                created=self._time(created),
                received_at=self._time(received_at),
                data=bytes(data),
            ),
            status=inbound_status_from(status, self._time),
            receipt=bytes(receipt),
        )

    def received(self, *, before: int = 0, limit: int, receivers: Collection[str] = ()) -> ReceivedPage:
        """Return received messages newest first, changing nothing; see the protocol."""
        before, limit, p, key = cursor(before), positive(limit, "limit"), self._P, self._INBOUND_ORDER
        no_nul(**{f"receivers[{i}]": r for i, r in enumerate(receivers)})
        conditions, parameters = ["1 = 1"], list[object]()
        if before:
            conditions.append(f"{key} < {p}")
            parameters.append(before)
        if receivers:
            condition, values = self._in("receiver", sorted(set(receivers)))
            conditions.append(condition)
            parameters += values
        with self._transaction(write=False) as session:
            rows = session.execute(
                f"SELECT {key}, {INBOUND_STATUS_COLUMNS}, receipt, {INBOUND_COLUMNS} FROM inbound"  # noqa: S608
                f" WHERE {' AND '.join(conditions)} ORDER BY {key} DESC LIMIT {p}",
                (*parameters, limit + 1),
            ).fetchall()
        entries = tuple(self._received_entry(row[1:]) for row in rows[:limit])
        if not entries:
            return ReceivedPage(entries=(), next=before, has_more=False)
        return ReceivedPage(entries=entries, next=rows[len(entries) - 1][0], has_more=len(rows) > limit)

    def received_message(self, sender: str, message_id: str) -> ReceivedEntry | None:
        """Return one received message with its status and receipt, or None; see the protocol."""
        no_nul(sender=sender, message_id=message_id)
        p = self._P
        with self._transaction(write=False) as session:
            row = session.execute(
                f"SELECT {INBOUND_STATUS_COLUMNS}, receipt, {INBOUND_COLUMNS} FROM inbound"  # noqa: S608 -- constants
                f" WHERE sender = {p} AND message_id = {p}",
                (sender, message_id),
            ).fetchone()
        return None if row is None else self._received_entry(row)

    def traffic(self, *, since: dt.datetime) -> Traffic:
        """Return the messages received and queued since ``since``; see the protocol."""
        when, p = self._stamp(since, "since"), self._P
        with self._transaction(write=False) as session:
            (inbound,) = session.execute(
                f"SELECT count(*) FROM inbound WHERE received_at >= {p}",  # noqa: S608 -- placeholder
                (when,),
            ).fetchone()
            (outbound,) = session.execute(
                f"SELECT count(*) FROM outbound WHERE enqueued_at >= {p}",  # noqa: S608 -- placeholder
                (when,),
            ).fetchone()
        return Traffic(inbound=int(inbound), outbound=int(outbound))

    # ------------------------------------------------------------------------------------- metrics, audit

    def counts(self) -> StoreCounts:
        """Return the number of messages per state and of audit lines; see the protocol."""
        with self._transaction(write=False) as session:
            inbound = dict(session.execute("SELECT state, count(*) FROM inbound GROUP BY state").fetchall())
            outbound = dict(session.execute("SELECT state, count(*) FROM outbound GROUP BY state").fetchall())
            (rejected,) = session.execute("SELECT count(*) FROM audit").fetchone()
        return StoreCounts(
            inbound=MappingProxyType({state: int(inbound.get(state.value, 0)) for state in InboundState}),
            outbound=MappingProxyType({state: int(outbound.get(state.value, 0)) for state in OutboundState}),
            rejected=int(rejected),
        )

    def audit(self, *, at: dt.datetime, sender: str | None, message_id: str | None, code: str, text: str) -> None:
        """Write one audit line for a rejected message; see the protocol."""
        no_nul(sender=sender, message_id=message_id, code=code, text=text)
        when = self._stamp(at, "at")
        with self._transaction(write=True) as session:
            session.execute(
                f"INSERT INTO audit (at, sender, message_id, code, text) VALUES ({self._marks(5)})",  # noqa: S608
                (when, sender, message_id, code, text),
            )

    # -------------------------------------------------------------------------------------- back office

    def open_console_session(self, session: ConsoleSessionRecord, *, most: int) -> None:
        """Keep a new console session, dropping the expired and, past ``most``, the oldest; see the protocol."""
        p, most = self._P, positive(most, "most")
        values = (
            _hex_digest(session.digest, "session digest"),
            bounded(session.client, "session client", most=200),
            json.dumps(sorted(session.participants)),
            _hex_digest(session.credential, "session credential"),
            bounded(session.csrf, "session csrf token", most=200),
            self._stamp(session.opened_at, "opened_at"),
            self._stamp(session.expires, "expires"),
        )
        if not session.participants:
            raise refused("a console session acts for at least one participant")
        with self._transaction(write=True) as db:
            db.execute(f"DELETE FROM console_session WHERE expires <= {p}", (values[5],))  # noqa: S608
            (kept,) = db.execute("SELECT count(*) FROM console_session").fetchone()
            if kept >= most:
                db.execute(
                    f"DELETE FROM console_session WHERE digest IN (SELECT digest FROM console_session"  # noqa: S608
                    f" ORDER BY opened_at, digest LIMIT {p})",
                    (kept - most + 1,),
                )
            db.execute(
                f"INSERT INTO console_session ({CONSOLE_SESSION_COLUMNS}) VALUES ({self._marks(7)})",  # noqa: S608
                values,
            )

    def console_session(self, digest: str) -> ConsoleSessionRecord | None:
        """Return the console session of a cookie's digest, or None; see the protocol."""
        rows = self._select(
            f"SELECT {CONSOLE_SESSION_COLUMNS} FROM console_session WHERE digest = {self._P}",  # noqa: S608
            (_hex_digest(digest, "session digest"),),
        )
        if not rows:
            return None
        found, client, participants, credential, csrf, opened, expires = rows[0]
        return ConsoleSessionRecord(
            digest=found,
            client=client,
            participants=frozenset(json.loads(participants)),
            credential=credential,
            csrf=csrf,
            opened_at=self._time(opened),
            expires=self._time(expires),
        )

    def close_console_session(self, digest: str) -> None:
        """Forget a console session; see the protocol."""
        with self._transaction(write=True) as db:
            db.execute(
                f"DELETE FROM console_session WHERE digest = {self._P}",  # noqa: S608 -- placeholder
                (_hex_digest(digest, "session digest"),),
            )

    def actions(self, *, since: int, limit: int) -> ActionPage:
        """Return the audit log after ``since``; see the protocol."""
        since, limit, p = cursor(since), positive(limit, "limit"), self._P
        with self._transaction(write=False) as session:
            rows = session.execute(
                f"SELECT {ACTION_COLUMNS} FROM backoffice_action"  # noqa: S608 -- constants
                f" WHERE sequence > {p} ORDER BY sequence LIMIT {p}",
                (since, limit + 1),
            ).fetchall()
        entries = tuple(action_from(row, self._time) for row in rows[:limit])
        return ActionPage(entries=entries, next=entries[-1].sequence if entries else since, has_more=len(rows) > limit)
