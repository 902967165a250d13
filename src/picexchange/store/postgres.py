"""The store on PostgreSQL (psycopg 3): several gateway processes, each with several threads, on one database.

Connections: a small pool of our own (``psycopg_pool`` is not a dependency; the pool here is a list of idle
connections and a semaphore bounding how many exist). Each operation borrows one connection for exactly one
transaction; a broken connection is dropped, not returned.

Concurrency control, per operation:

- ``record_inbound``: ``INSERT ... ON CONFLICT (sender, message_id) DO NOTHING``: the unique index decides,
  waiting for a concurrent insert of the same key to commit or roll back; no exists-then-insert race.
- ``claim_due``: ``SELECT ... FOR UPDATE SKIP LOCKED`` on due rows, then the update in the same transaction:
  two workers never claim the same message, and neither waits for the other.
- Inbox sequence numbers: identity values are handed out at insert time but transactions commit in any order,
  so a cursor over them could skip a row that commits late. Sequence numbers are therefore assigned when the
  back office pulls, under a lock on the one ``inbox_log`` row, to committed rows only: every later row gets
  a greater number than any cursor already handed out.
- ``migrate``: a transaction-scoped advisory lock per schema, so gateways starting together migrate once.
- ``enqueue`` with an idempotency key: ``INSERT ... ON CONFLICT (client, idempotency_key) DO NOTHING`` in the
  transaction that queues the message; a concurrent submission with the same key waits for it and then
  replays it.
- ``record_action``: the audit log's sequence number comes from the one ``action_log`` row, incremented in the
  recording transaction; its row lock is held until commit, so numbers are handed out in commit order and a
  reader's cursor never skips an action that commits late.

Times are ``timestamptz``; the session time zone is UTC.

Errors: every ``psycopg`` error (and ValueError or OverflowError from adapting an argument) becomes
:class:`~picexchange.errors.StoreError`. Data, integrity and programming errors are not ``retryable``; failing
to connect, a lost connection, a full disk, a read-only server or a deadlock are. The driver's texts name the
server, port, user and database, so a connection failure is reported in fixed words with its SQLSTATE only, and
any other text has the connection's parameters blanked out.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from picexchange.errors import ConflictError, StoreError
from picexchange.store import _common as c
from picexchange.store.base import (
    INBOUND_LIFECYCLE,
    OUTBOUND_LIFECYCLE,
    ActionPage,
    BackofficeAction,
    Enqueued,
    Idempotency,
    InboundEvent,
    InboundMessage,
    InboundState,
    InboundStatus,
    InboxPage,
    OutboundEvent,
    OutboundMessage,
    OutboundState,
    OutboundStatus,
    Recorded,
    Store,
    StoreCounts,
    digest_of,
    transition,
)

__all__ = ["MIGRATIONS", "PostgresStore"]

_INBOUND_STATES = ", ".join(f"'{state.value}'" for state in InboundState)
_OUTBOUND_STATES = ", ".join(f"'{state.value}'" for state in OutboundState)

# Arbitrary first key of our advisory locks ("PX" in ASCII); the second is derived from the schema name.
_LOCK_CLASS = 0x5058

MIGRATIONS: tuple[c.Migration, ...] = (
    c.Migration(
        1,
        "inbound messages with dedup key, inbox log, outbox, audit lines",
        (
            f"""
            CREATE TABLE inbound (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                sequence bigint UNIQUE,
                sender text NOT NULL,
                message_id text NOT NULL,
                receiver text NOT NULL,
                conversation_id text NOT NULL,
                ref_to_message_id text,
                message_type text NOT NULL,
                utility_block text NOT NULL,
                created timestamptz NOT NULL,
                received_at timestamptz NOT NULL,
                digest text NOT NULL,
                data bytea NOT NULL,
                receipt bytea NOT NULL,
                state text NOT NULL CHECK (state IN ({_INBOUND_STATES})),
                delivered_at timestamptz,
                acknowledged_at timestamptz,
                UNIQUE (sender, message_id)
            )
            """,  # noqa: S608 -- the state list is built from the enum, not from input
            "CREATE INDEX inbound_unsequenced ON inbound (id) WHERE sequence IS NULL",
            "CREATE INDEX inbound_conversation ON inbound (conversation_id)",
            "CREATE INDEX inbound_state ON inbound (state)",
            "CREATE TABLE inbox_log (id int PRIMARY KEY CHECK (id = 1), last_sequence bigint NOT NULL)",
            "INSERT INTO inbox_log (id, last_sequence) VALUES (1, 0)",
            f"""
            CREATE TABLE outbound (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                message_id text NOT NULL UNIQUE,
                receiver text NOT NULL,
                endpoint text NOT NULL,
                conversation_id text NOT NULL,
                message_type text NOT NULL,
                created timestamptz NOT NULL,
                data bytea NOT NULL,
                state text NOT NULL CHECK (state IN ({_OUTBOUND_STATES})),
                attempts integer NOT NULL DEFAULT 0,
                last_error text,
                due_at timestamptz,
                worker text,
                enqueued_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                receipted_at timestamptz,
                receipt bytea
            )
            """,  # noqa: S608 -- the state list is built from the enum, not from input
            # due_at: the next attempt while queued, the lease expiry while sending; claims scan this index only.
            f"CREATE INDEX outbound_due ON outbound (due_at, id) WHERE state IN ({c.CLAIMABLE_SQL})",
            "CREATE INDEX outbound_state ON outbound (state)",
            "CREATE INDEX outbound_conversation ON outbound (conversation_id)",
            """
            CREATE TABLE audit (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at timestamptz NOT NULL,
                sender text,
                message_id text,
                code text NOT NULL,
                text text NOT NULL
            )
            """,
            "CREATE INDEX audit_at ON audit (at)",
        ),
    ),
    c.Migration(
        2,
        "back office: audit log of actions, idempotency keys of submissions, heartbeat",
        (
            """
            CREATE TABLE backoffice_action (
                sequence bigint PRIMARY KEY,
                at timestamptz NOT NULL,
                client text NOT NULL,
                action text NOT NULL,
                target text,
                outcome text NOT NULL,
                participant text
            )
            """,
            "CREATE TABLE action_log (id int PRIMARY KEY CHECK (id = 1), last_sequence bigint NOT NULL)",
            "INSERT INTO action_log (id, last_sequence) VALUES (1, 0)",
            # The key is claimed before its message is inserted, in the same transaction: the reference is
            # checked at commit.
            """
            CREATE TABLE idempotency (
                client text NOT NULL,
                idempotency_key text NOT NULL,
                fingerprint text NOT NULL,
                message_id text NOT NULL REFERENCES outbound (message_id) DEFERRABLE INITIALLY DEFERRED,
                created_at timestamptz NOT NULL,
                PRIMARY KEY (client, idempotency_key)
            )
            """,
            "CREATE TABLE heartbeat (id int PRIMARY KEY CHECK (id = 1), at timestamptz NOT NULL,"
            " beats bigint NOT NULL)",
        ),
    ),
)
c.check_migrations(MIGRATIONS)

# Errors of the caller, not of the database: retrying the same call cannot help.
_REFUSALS = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError, psycopg.NotSupportedError)

# Connection parameters whose values must never appear in a StoreError's text.
_SECRET_KEYS = ("host", "hostaddr", "port", "dbname", "user", "password", "service", "passfile")


def _secrets_of(conninfo: str) -> frozenset[str]:
    """Return the connection string and the values of its connection parameters, to blank out of texts."""
    secrets = {conninfo}
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return frozenset(secrets)
    for key in _SECRET_KEYS:
        value = params.get(key)
        if value:
            secrets.update(part for part in str(value).split(",") if part)
    return frozenset(secrets)


def _scrub(text: str, secrets: Collection[str]) -> str:
    """Return ``text`` with every secret blanked out, longest first, as a whole word."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.]){re.escape(secret)}(?![\w.])", "<redacted>", text)
    return text


def _error(exc: psycopg.Error | ValueError | OverflowError, secrets: Collection[str]) -> StoreError:
    """Return the StoreError for a driver failure, in words safe to log; an outage is retryable."""
    if not isinstance(exc, psycopg.Error):
        # psycopg could not adapt an argument (a text with NUL, an integer beyond any SQL type).
        return c.refused(_scrub(f"PostgreSQL refused an argument: {exc}", secrets))
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        # A client-side connection failure: libpq's text names the host, port and user; ours does not.
        text = "PostgreSQL: the database server cannot be reached, or the connection to it was lost"
    else:
        primary = exc.diag.message_primary or (str(exc).splitlines() or [""])[0]
        text = f"PostgreSQL {type(exc).__name__} (SQLSTATE {exc.sqlstate}): {primary}"
    return StoreError(_scrub(text, secrets), retryable=not isinstance(exc, _REFUSALS))


def _time(value: Any) -> dt.datetime:
    """Return a ``timestamptz`` value as psycopg loaded it (aware, in the session's UTC)."""
    if not isinstance(value, dt.datetime):
        raise StoreError(f"expected a timestamp from PostgreSQL, got {value!r}")
    return value


class _Pool:
    """At most ``size`` connections, created on demand, reused most-recent first."""

    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self.secrets = _secrets_of(conninfo)
        """Texts never to show: the connection string, its parameters, and those the server resolved."""
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.ProgrammingError):  # libpq could not parse the connection string
                text = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise c.refused(
                    _scrub(f"PostgreSQL: the connection string is not valid: {text}", self.secrets)
                ) from exc
            # Never libpq's text here: it names the host, port, user and database.
            state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
            raise StoreError(f"PostgreSQL: cannot connect to the database server{state}") from exc
        # Defaults the URL left out (the user, the database) are known now: blank them out of later texts too.
        # A new frozenset, swapped in whole: another thread may be scrubbing a text with the old one.
        info = conn.info
        resolved = (info.host, info.hostaddr, info.port, info.dbname, info.user)
        self.secrets = self.secrets | {str(value) for value in resolved if value}
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Lend a connection for one transaction; a connection left broken or mid-transaction is dropped."""
        self._slots.acquire()
        conn: psycopg.Connection[Any] | None = None
        try:
            with self._lock:
                if self._closed:
                    raise StoreError("the store is closed")
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.broken:
                if conn is not None:
                    conn.close()
                conn = self._connect()
            yield conn
        finally:
            if conn is not None:
                healthy = not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE
                with self._lock:
                    if healthy and not self._closed:
                        self._idle.append(conn)
                        conn = None
                if conn is not None:
                    conn.close()
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class PostgresStore(c.OutcomeMethods, Store):
    """The :class:`~picexchange.store.base.Store` on one PostgreSQL database (schema from ``search_path``)."""

    def __init__(self, conninfo: str, *, max_connections: int = 8) -> None:
        """Open a pool to the database and check that it answers; call :meth:`migrate` before use.

        Args:
            conninfo: a libpq URL or key=value string; put the schema in ``options=-csearch_path=...``.
            max_connections: the most connections this store holds at once; more threads wait for one.

        Raises:
            StoreError: the database cannot be reached.

        """
        self._pool = _Pool(conninfo, c.positive(max_connections, "max_connections"))
        with self._transaction():
            pass  # fail now, not at the first message, if the database cannot be reached

    # ------------------------------------------------------------------------------------------- plumbing

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """Run the block in one transaction on a pooled connection; translate psycopg errors."""
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except (psycopg.Error, ValueError, OverflowError) as exc:
            raise _error(exc, self._pool.secrets) from exc

    def close(self) -> None:
        """Close every connection; idempotent."""
        self._pool.close()

    # ------------------------------------------------------------------------------------------ migration

    def migrate(self) -> int:
        """Create or upgrade the schema, one transaction per step; idempotent, safe from several processes."""
        for step in (None, *MIGRATIONS):
            with self._transaction() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_LOCK_CLASS,))
                if step is None:
                    cur.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version ("
                        " version integer PRIMARY KEY, description text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                    continue
                if self._version(cur) >= step.version:
                    continue
                for statement in step.statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                    (step.version, step.description),
                )
        with self._transaction() as cur:
            return self._version(cur)

    @staticmethod
    def _version(cur: psycopg.Cursor[Any]) -> int:
        row = cur.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise c.refused(f"the database schema is version {current}, newer than this picexchange knows")
        return current

    # -------------------------------------------------------------------------------------------- inbound

    def record_inbound(self, message: InboundMessage, receipt: bytes) -> Recorded:
        """Store a received message and our receipt in one durable transaction; see the protocol."""
        digest = digest_of(message.data)
        values = c.inbound_values(message)
        with self._transaction() as cur:
            # One atomic insert decides "new or seen": no exists-then-insert race (DESIGN §6).
            cur.execute(
                f"INSERT INTO inbound ({c.INBOUND_COLUMNS}, digest, receipt, state)"  # noqa: S608 -- constants
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (sender, message_id) DO NOTHING RETURNING id",
                (*values, digest, receipt, InboundState.RECEIVED.value),
            )
            if cur.fetchone() is not None:
                return Recorded(digest=digest, receipt=receipt, duplicate=False)
            row = cur.execute(
                "SELECT digest, receipt FROM inbound WHERE sender = %s AND message_id = %s",
                (message.sender, message.message_id),
            ).fetchone()
        if row is None:  # pragma: no cover -- the conflicting row cannot vanish: rows are never deleted
            raise StoreError(f"message {message.message_id} conflicted but cannot be read")
        stored_digest, stored_receipt = row
        if stored_digest != digest:
            raise ConflictError(
                c.conflict_text(f"{message.sender}'s", message.message_id), message_id=message.message_id
            )
        return Recorded(digest=digest, receipt=bytes(stored_receipt), duplicate=True)

    def inbox(self, *, since: int, limit: int, at: dt.datetime) -> InboxPage:
        """Return the inbox log after ``since``, marking new entries delivered; see the protocol."""
        since, limit, when = c.cursor(since), c.positive(limit, "limit"), c.aware(at, "at")
        with self._transaction() as cur:
            # Number the rows committed since the last pull, one puller at a time (see the module docstring).
            row = cur.execute("SELECT last_sequence FROM inbox_log WHERE id = 1 FOR UPDATE").fetchone()
            if row is None:
                raise StoreError("the inbox log is missing; run migrate()")
            cur.execute(
                "WITH fresh AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM inbound WHERE sequence IS NULL)"
                " UPDATE inbound SET sequence = %s + fresh.n FROM fresh WHERE inbound.id = fresh.id",
                (row[0],),
            )
            if cur.rowcount > 0:
                cur.execute("UPDATE inbox_log SET last_sequence = last_sequence + %s WHERE id = 1", (cur.rowcount,))
            rows = cur.execute(
                f"SELECT {c.ENTRY_COLUMNS} FROM inbound"  # noqa: S608 -- constants
                " WHERE sequence > %s ORDER BY sequence LIMIT %s FOR UPDATE",
                (since, limit + 1),
            ).fetchall()
            entries = [c.entry_from(row, _time) for row in rows[:limit]]
            changes = []
            for state, entry in entries:
                new = transition(INBOUND_LIFECYCLE, state, InboundEvent.PULL, what=f"inbox entry {entry.sequence}")
                if new is not state:
                    changes.append((new.value, when, entry.sequence))
            cur.executemany(
                "UPDATE inbound SET state = %s, delivered_at = %s WHERE sequence = %s AND delivered_at IS NULL",
                changes,
            )
        page = tuple(entry for _, entry in entries)
        return InboxPage(messages=page, next=page[-1].sequence if page else since, has_more=len(rows) > limit)

    def acknowledge_inbound(self, sequence_numbers: Iterable[int], *, at: dt.datetime) -> None:
        """Mark inbox entries acknowledged, all or none; see the protocol."""
        when = c.aware(at, "at")
        with self._transaction() as cur:
            for chunk in c.chunks(sequence_numbers):
                # Lock in sequence order, as inbox() does, so that the two never deadlock.
                found: dict[int, str] = dict(
                    cur.execute(
                        "SELECT sequence, state FROM inbound WHERE sequence = ANY(%s) ORDER BY sequence FOR UPDATE",
                        (chunk,),
                    ).fetchall()
                )
                unknown = sorted(set(chunk) - found.keys())
                if unknown:
                    raise c.refused(f"no inbox entries with sequence numbers {unknown}")
                changes = []
                for sequence in chunk:
                    state = InboundState(found[sequence])
                    new = transition(INBOUND_LIFECYCLE, state, InboundEvent.ACKNOWLEDGE, what=f"inbox entry {sequence}")
                    if new is not state:
                        changes.append((new.value, when, sequence))
                cur.executemany("UPDATE inbound SET state = %s, acknowledged_at = %s WHERE sequence = %s", changes)

    def inbound_status(self, sender: str, message_id: str) -> InboundStatus | None:
        """Return where a received message stands, or None; see the protocol."""
        c.no_nul(sender=sender, message_id=message_id)
        with self._transaction() as cur:
            row = cur.execute(
                f"SELECT {c.INBOUND_STATUS_COLUMNS} FROM inbound"  # noqa: S608 -- constants
                " WHERE sender = %s AND message_id = %s",
                (sender, message_id),
            ).fetchone()
        return None if row is None else c.inbound_status_from(row, _time)

    # ------------------------------------------------------------------------------------------- outbound

    def enqueue(self, message: OutboundMessage, *, at: dt.datetime, idempotency: Idempotency | None = None) -> Enqueued:
        """Put a signed message in the outbox, due at ``at``, claiming the idempotency key; see the protocol."""
        when = c.aware(at, "at")
        values = c.outbound_values(message)
        claim = None if idempotency is None else c.idempotency_values(idempotency)
        with self._transaction() as cur:
            if claim is not None:
                # One atomic insert claims (client, key), in the transaction that queues the message: never
                # "seen?" then "insert" (DESIGN §6). A concurrent claim of the same key waits for this one.
                cur.execute(
                    "INSERT INTO idempotency (client, idempotency_key, fingerprint, message_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT (client, idempotency_key) DO NOTHING RETURNING message_id",
                    (*claim, message.message_id, when),
                )
                if cur.fetchone() is None:
                    row = cur.execute(
                        "SELECT k.message_id, k.fingerprint, o.data FROM idempotency AS k"
                        " JOIN outbound AS o ON o.message_id = k.message_id"
                        " WHERE k.client = %s AND k.idempotency_key = %s",
                        claim[:2],
                    ).fetchone()
                    if row is None:  # pragma: no cover -- keys and messages are never deleted
                        raise StoreError("an idempotency key conflicted but its message cannot be read")
                    message_id, fingerprint, data = row
                    return Enqueued(
                        message_id=message_id, digest=digest_of(bytes(data)), replayed=True, fingerprint=fingerprint
                    )
            cur.execute(
                f"INSERT INTO outbound ({c.OUTBOUND_COLUMNS}, state, due_at, enqueued_at, updated_at)"  # noqa: S608
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s)"
                " ON CONFLICT (message_id) DO NOTHING RETURNING id",
                (*values, OutboundState.QUEUED.value, when, when, when),
            )
            if cur.fetchone() is None:
                row = cur.execute("SELECT data FROM outbound WHERE message_id = %s", (message.message_id,)).fetchone()
                if row is None or bytes(row[0]) != message.data:
                    # Raised inside the transaction: the key claimed above is rolled back with it.
                    raise ConflictError(c.conflict_text("outbound", message.message_id), message_id=message.message_id)
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
        c.no_nul(worker=worker, **{f"skip_receivers[{i}]": r for i, r in enumerate(skip_receivers)})
        now = c.aware(now, "now")
        until, limit = c.lease_end(now, lease), c.positive(limit, "limit")
        with self._transaction() as cur:
            # SKIP LOCKED: rows another worker is claiming right now are passed over, not waited for.
            rows = cur.execute(
                f"SELECT {c.CLAIM_COLUMNS} FROM outbound"  # noqa: S608 -- constants
                f" WHERE state IN ({c.CLAIMABLE_SQL}) AND due_at <= %s AND NOT (receiver = ANY(%s))"
                " ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (now, sorted(set(skip_receivers)), limit),
            ).fetchall()
            claimed, changes = [], []
            for row in rows:
                message = c.outbound_from(row[2:], _time)
                new = transition(
                    OUTBOUND_LIFECYCLE, OutboundState(row[1]), OutboundEvent.CLAIM, what=f"outbound message {row[2]}"
                )
                claimed.append(message)
                changes.append((new.value, until, worker, now, row[0]))
            cur.executemany(
                "UPDATE outbound SET state = %s, due_at = %s, worker = %s, updated_at = %s WHERE id = %s", changes
            )
        return claimed

    _P = "%s"

    def _stamp(self, value: dt.datetime, name: str) -> object:
        return c.aware(value, name)

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

        With ``worker``, the outcome counts only while that worker holds the claim (see ``c.outcome_state``).
        """
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT state, worker FROM outbound WHERE message_id = %s FOR UPDATE", (message_id,)
            ).fetchone()
            if row is None:
                raise c.refused(f"no outbound message {message_id}")
            new = c.outcome_state(OutboundState(row[0]), row[1], event, worker=worker, message_id=message_id)
            if new is None:
                return False
            cur.execute(
                f"UPDATE outbound SET state = %s, attempts = attempts + 1, {assignments}"  # noqa: S608 -- constants
                " WHERE message_id = %s",
                (new.value, *values, message_id),
            )
        return True

    def outbound_status(self, message_id: str) -> OutboundStatus | None:
        """Return where an outbound message stands, or None; see the protocol."""
        c.no_nul(message_id=message_id)
        with self._transaction() as cur:
            row = cur.execute(
                f"SELECT {c.OUTBOUND_STATUS_COLUMNS} FROM outbound WHERE message_id = %s",  # noqa: S608 -- constants
                (message_id,),
            ).fetchone()
        return None if row is None else c.outbound_status_from(row, _time)

    # ------------------------------------------------------------------------------------- metrics, audit

    def counts(self) -> StoreCounts:
        """Return the number of messages per state and of audit lines; see the protocol."""
        with self._transaction() as cur:
            inbound: dict[str, int] = dict(cur.execute("SELECT state, count(*) FROM inbound GROUP BY state").fetchall())
            outbound: dict[str, int] = dict(
                cur.execute("SELECT state, count(*) FROM outbound GROUP BY state").fetchall()
            )
            row = cur.execute("SELECT count(*) FROM audit").fetchone()
        return StoreCounts(
            inbound=MappingProxyType({state: inbound.get(state.value, 0) for state in InboundState}),
            outbound=MappingProxyType({state: outbound.get(state.value, 0) for state in OutboundState}),
            rejected=int(row[0]) if row else 0,
        )

    def audit(self, *, at: dt.datetime, sender: str | None, message_id: str | None, code: str, text: str) -> None:
        """Write one audit line for a rejected message; see the protocol."""
        c.no_nul(sender=sender, message_id=message_id, code=code, text=text)
        when = c.aware(at, "at")
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO audit (at, sender, message_id, code, text) VALUES (%s, %s, %s, %s, %s)",
                (when, sender, message_id, code, text),
            )

    # -------------------------------------------------------------------------------------- back office

    def record_action(self, action: BackofficeAction) -> None:
        """Append one back-office action to the audit log; see the protocol."""
        values = c.action_values(action)
        with self._transaction() as cur:
            # The action_log row stays locked until commit: sequence numbers are handed out in commit order.
            cur.execute(
                "WITH taken AS (UPDATE action_log SET last_sequence = last_sequence + 1 WHERE id = 1"
                " RETURNING last_sequence)"
                " INSERT INTO backoffice_action (sequence, at, client, action, target, outcome, participant)"
                " SELECT last_sequence, %s, %s, %s, %s, %s, %s FROM taken",
                values,
            )
            if cur.rowcount != 1:
                raise StoreError("the back-office action log is missing; run migrate()")

    def actions(self, *, since: int, limit: int) -> ActionPage:
        """Return the audit log after ``since``; see the protocol."""
        since, limit = c.cursor(since), c.positive(limit, "limit")
        with self._transaction() as cur:
            rows = cur.execute(
                f"SELECT {c.ACTION_COLUMNS} FROM backoffice_action"  # noqa: S608 -- constants
                " WHERE sequence > %s ORDER BY sequence LIMIT %s",
                (since, limit + 1),
            ).fetchall()
        entries = tuple(c.action_from(row, _time) for row in rows[:limit])
        return ActionPage(entries=entries, next=entries[-1].sequence if entries else since, has_more=len(rows) > limit)

    def check_writable(self, *, at: dt.datetime) -> None:
        """Rewrite the heartbeat row and commit; raise if the store cannot write now; see the protocol."""
        when = c.aware(at, "at")
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO heartbeat (id, at, beats) VALUES (1, %s, 1)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at, beats = heartbeat.beats + 1",
                (when,),
            )
