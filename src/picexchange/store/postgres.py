"""The store on PostgreSQL (psycopg 3): several gateway processes, each with several threads, on one database.

The algorithms (paging, acknowledgement, claims, outcomes, idempotent enqueue) live in ``_common.SqlStore``,
shared with SQLite; this module holds PostgreSQL's dialect, the locks below, its pool and its error texts.

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
- Case change numbers (``case_changes``): the same way, under a lock on the one ``case_change_log`` row; every
  write of a case row clears its number, and a reader numbering a row that a writer holds waits for its commit.
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
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from picexchange.errors import StoreError
from picexchange.store import _common as c
from picexchange.store.base import BackofficeAction, InboundState, OutboundState

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
    c.Migration(
        3,
        "PIC cases: one row per notification number with its summary and version, and its messages in order",
        (
            """
            CREATE TABLE pic_case (
                sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                notification_number text NOT NULL UNIQUE,
                state text NOT NULL,
                export_country text,
                import_country text,
                blocked boolean NOT NULL,
                violations bigint NOT NULL CHECK (violations >= 0),
                warnings bigint NOT NULL CHECK (warnings >= 0),
                shipments_used bigint NOT NULL,
                shipments_notified bigint,
                message_count bigint NOT NULL,
                updated_at timestamptz NOT NULL,
                version bigint NOT NULL
            )
            """,
            "CREATE INDEX pic_case_updated ON pic_case (updated_at)",
            # A pointer to the message stored in inbound (by sender and message id) or outbound (by message id):
            # the case keeps no second copy of the bytes.
            """
            CREATE TABLE case_message (
                notification_number text NOT NULL REFERENCES pic_case (notification_number),
                position bigint NOT NULL,
                direction text NOT NULL CHECK (direction IN ('in', 'out')),
                sender text NOT NULL,
                receiver text NOT NULL,
                message_id text NOT NULL,
                message_type text NOT NULL,
                at timestamptz NOT NULL,
                PRIMARY KEY (notification_number, position),
                UNIQUE (direction, sender, message_id)
            )
            """,
        ),
    ),
    c.Migration(
        4,
        "PIC cases: the day each case row must be reviewed on (its blocked may change with no new message)",
        (
            "ALTER TABLE pic_case ADD COLUMN review_on date",
            # Rows written before this step were never reviewed: each is due at once, and the gateway reviews
            # them a bounded number per case list.
            "UPDATE pic_case SET review_on = DATE '0001-01-01'",
            "CREATE INDEX pic_case_review ON pic_case (review_on) WHERE review_on IS NOT NULL",
        ),
    ),
    c.Migration(
        5,
        "PIC cases: the change feed (each row numbered in commit order by the first read after it was written)",
        (
            # Rows of earlier schemas have none yet: the first feed reads number them, in order of creation.
            "ALTER TABLE pic_case ADD COLUMN change_number bigint",
            # One index serves the feed's pages and the rows still to number (an index holds its NULLs too).
            "CREATE UNIQUE INDEX pic_case_change ON pic_case (change_number)",
            "CREATE TABLE case_change_log (id int PRIMARY KEY CHECK (id = 1), last_change bigint NOT NULL)",
            "INSERT INTO case_change_log (id, last_change) VALUES (1, 0)",
        ),
    ),
    c.Migration(
        6,
        "Console sessions: kept in the store, so that a restart keeps them and every gateway process knows them",
        (
            # digest: SHA-256 of the cookie's value, never the value; credential: the grant's hash, checked on use.
            """
            CREATE TABLE console_session (
                digest text PRIMARY KEY,
                client text NOT NULL,
                participants text NOT NULL,
                credential text NOT NULL,
                csrf text NOT NULL,
                opened_at timestamptz NOT NULL,
                expires timestamptz NOT NULL
            )
            """,
            "CREATE INDEX console_session_opened ON console_session (opened_at)",
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
    return c.driver_error(
        exc,
        dialect="PostgreSQL",
        driver=psycopg.Error,
        refusals=_REFUSALS,
        describe=_describe,
        scrub=lambda text: _scrub(text, secrets),
    )


def _describe(exc: psycopg.Error) -> str:
    """Return the words for a psycopg error: never libpq's text of a connection failure (it names the server)."""
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return "PostgreSQL: the database server cannot be reached, or the connection to it was lost"
    primary = exc.diag.message_primary or (str(exc).splitlines() or [""])[0]
    return f"PostgreSQL {type(exc).__name__} (SQLSTATE {exc.sqlstate}): {primary}"


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


class PostgresStore(c.SqlStore):
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
        with self._transaction(write=False):
            pass  # fail now, not at the first message, if the database cannot be reached

    # ------------------------------------------------------------------------------------------- plumbing

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[psycopg.Cursor[Any]]:
        """Run the block in one transaction on a pooled connection; translate psycopg errors.

        ``write`` changes nothing here: PostgreSQL locks the rows a statement names (``_LOCK_ROWS``).
        """
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except (psycopg.Error, ValueError, OverflowError) as exc:
            raise _error(exc, self._pool.secrets) from exc

    def close(self) -> None:
        """Close every connection; idempotent."""
        self._pool.close()

    # ------------------------------------------------------------------------------------------- dialect

    _P = "%s"
    _SCHEMA_VERSION_DDL = (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version integer PRIMARY KEY, description text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    # Rows read to be updated are locked until commit: a concurrent pull, acknowledgement or outcome waits.
    _LOCK_ROWS: ClassVar[str] = " FOR UPDATE"
    # SKIP LOCKED: rows another worker is claiming right now are passed over, not waited for.
    _CLAIM_LOCK: ClassVar[str] = " FOR UPDATE SKIP LOCKED"
    # Inbox sequence numbers are given at the first pull (commit order); the identity is there from the insert.
    _INBOUND_ORDER: ClassVar[str] = "id"

    def _migrations(self) -> tuple[c.Migration, ...]:
        return MIGRATIONS

    def _db_time(self, value: dt.datetime) -> object:
        return value  # timestamptz; the session time zone is UTC

    def _time(self, value: Any) -> dt.datetime:
        return _time(value)

    def _db_day(self, value: dt.date) -> object:
        return value  # date

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} = ANY(%s)", (list(values),)  # one array parameter, however many values

    def _lock_schema(self, session: c.Session) -> None:
        # Gateways starting together migrate once: a transaction-scoped advisory lock per schema.
        session.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_LOCK_CLASS,))

    def _number_inbox(self, session: c.Session) -> None:
        # Number the rows committed since the last pull, one puller at a time (see the module docstring).
        row = session.execute("SELECT last_sequence FROM inbox_log WHERE id = 1 FOR UPDATE").fetchone()
        if row is None:
            raise StoreError("the inbox log is missing; run migrate()")
        numbered = session.execute(
            "WITH fresh AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM inbound WHERE sequence IS NULL)"
            " UPDATE inbound SET sequence = %s + fresh.n FROM fresh WHERE inbound.id = fresh.id RETURNING 1",
            (row[0],),
        ).fetchall()
        if numbered:
            session.execute("UPDATE inbox_log SET last_sequence = last_sequence + %s WHERE id = 1", (len(numbered),))

    # -------------------------------------------------------------------------------------- back office

    def record_action(self, action: BackofficeAction) -> None:
        """Append one back-office action to the audit log; see the protocol."""
        values = c.action_values(action)
        with self._transaction(write=True) as cur:
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

    def check_writable(self, *, at: dt.datetime) -> None:
        """Rewrite the heartbeat row and commit; raise if the store cannot write now; see the protocol."""
        when = c.aware(at, "at")
        with self._transaction(write=True) as cur:
            cur.execute(
                "INSERT INTO heartbeat (id, at, beats) VALUES (1, %s, 1)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at, beats = heartbeat.beats + 1",
                (when,),
            )
