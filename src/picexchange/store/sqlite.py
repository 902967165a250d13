"""The default store: one SQLite file, embedded in the gateway process.

What a page, an acknowledgement, a claim or an outcome is lives in ``_common.SqlStore``, shared with PostgreSQL;
this module holds SQLite's dialect (``?`` placeholders, times as text, an index hint), its locking and its
connection, and what only it does (the rowid-numbered audit log, the free-space check).

Durability: WAL journal with ``synchronous=FULL`` (the WAL is synced at every commit, so an acknowledged
message survives a power cut), foreign keys on, a busy timeout for other processes on the same file.

Threads: one connection per store, behind a lock. SQLite runs one writer at a time anyway; measured with 4
and 16 threads committing 5 KB messages, a shared connection behind a lock kept ≈ 4 500 commits/s with a
worst case under 150 ms, while a connection per thread fell to ≈ 3 000 commits/s with stalls of 300-700 ms
(SQLite's busy handler sleeps instead of queueing). It is also the only way ``:memory:`` can be shared.

Writes run in ``BEGIN IMMEDIATE`` transactions: the write lock is taken first, so two stores (or processes)
on one file never both read "due" and then both claim (no lost update, no upgrade deadlock). Inbox sequence
numbers are rowids: with one writer at a time, commit order is rowid order, so a reader's cursor never skips
a row that commits later; the back-office audit log (``backoffice_action``) is numbered the same way.

Errors: every ``sqlite3`` error (and an integer beyond 64 bits, which the module refuses with OverflowError)
becomes :class:`~picexchange.errors.StoreError`; "database or disk is full", "database is locked", "attempt
to write a readonly database" and I/O errors are ``retryable``, misuse of the API and constraint violations are
not. Error texts do not repeat the database's path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from picexchange.errors import StoreError
from picexchange.store import _common as c
from picexchange.store.base import BackofficeAction, InboundState, OutboundState

__all__ = ["MIGRATIONS", "SqliteBackup", "SqliteStore"]

_INBOUND_STATES = ", ".join(f"'{state.value}'" for state in InboundState)
_OUTBOUND_STATES = ", ".join(f"'{state.value}'" for state in OutboundState)

MIGRATIONS: tuple[c.Migration, ...] = (
    c.Migration(
        1,
        "inbound messages with dedup key, outbox, audit lines",
        (
            f"""
            CREATE TABLE inbound (
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                sender TEXT NOT NULL,
                message_id TEXT NOT NULL,
                receiver TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                ref_to_message_id TEXT,
                message_type TEXT NOT NULL,
                utility_block TEXT NOT NULL,
                created TEXT NOT NULL,
                received_at TEXT NOT NULL,
                digest TEXT NOT NULL,
                data BLOB NOT NULL,
                receipt BLOB NOT NULL,
                state TEXT NOT NULL CHECK (state IN ({_INBOUND_STATES})),
                delivered_at TEXT,
                acknowledged_at TEXT,
                UNIQUE (sender, message_id)
            )
            """,  # noqa: S608 -- the state list is built from the enum, not from input
            "CREATE INDEX inbound_conversation ON inbound (conversation_id)",
            "CREATE INDEX inbound_state ON inbound (state)",
            f"""
            CREATE TABLE outbound (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                message_id TEXT NOT NULL UNIQUE,
                receiver TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                message_type TEXT NOT NULL,
                created TEXT NOT NULL,
                data BLOB NOT NULL,
                state TEXT NOT NULL CHECK (state IN ({_OUTBOUND_STATES})),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                due_at TEXT,
                worker TEXT,
                enqueued_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                receipted_at TEXT,
                receipt BLOB
            )
            """,  # noqa: S608 -- the state list is built from the enum, not from input
            # due_at: the next attempt while queued, the lease expiry while sending; claims scan this index only.
            f"CREATE INDEX outbound_due ON outbound (due_at, id) WHERE state IN ({c.CLAIMABLE_SQL})",
            "CREATE INDEX outbound_state ON outbound (state)",
            "CREATE INDEX outbound_conversation ON outbound (conversation_id)",
            """
            CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                sender TEXT,
                message_id TEXT,
                code TEXT NOT NULL,
                text TEXT NOT NULL
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
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                client TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT,
                outcome TEXT NOT NULL,
                participant TEXT
            )
            """,
            # The key is claimed before its message is inserted, in the same transaction: the reference is
            # checked at commit.
            """
            CREATE TABLE idempotency (
                client TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                message_id TEXT NOT NULL REFERENCES outbound (message_id) DEFERRABLE INITIALLY DEFERRED,
                created_at TEXT NOT NULL,
                PRIMARY KEY (client, idempotency_key)
            )
            """,
            "CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL, beats INTEGER NOT NULL)",
        ),
    ),
    c.Migration(
        3,
        "PIC cases: one row per notification number with its summary and version, and its messages in order",
        (
            """
            CREATE TABLE pic_case (
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                notification_number TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL,
                export_country TEXT,
                import_country TEXT,
                blocked INTEGER NOT NULL CHECK (blocked IN (0, 1)),
                violations INTEGER NOT NULL CHECK (violations >= 0),
                warnings INTEGER NOT NULL CHECK (warnings >= 0),
                shipments_used INTEGER NOT NULL,
                shipments_notified INTEGER,
                message_count INTEGER NOT NULL,
                updated_at TEXT NOT NULL,
                version INTEGER NOT NULL
            )
            """,
            "CREATE INDEX pic_case_updated ON pic_case (updated_at)",
            # A pointer to the message stored in inbound (by sender and message id) or outbound (by message id):
            # the case keeps no second copy of the bytes.
            """
            CREATE TABLE case_message (
                notification_number TEXT NOT NULL REFERENCES pic_case (notification_number),
                position INTEGER NOT NULL,
                direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
                sender TEXT NOT NULL,
                receiver TEXT NOT NULL,
                message_id TEXT NOT NULL,
                message_type TEXT NOT NULL,
                at TEXT NOT NULL,
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
            "ALTER TABLE pic_case ADD COLUMN review_on TEXT",
            # Rows written before this step were never reviewed: each is due at once, and the gateway reviews
            # them a bounded number per case list.
            "UPDATE pic_case SET review_on = '0001-01-01'",
            "CREATE INDEX pic_case_review ON pic_case (review_on) WHERE review_on IS NOT NULL",
        ),
    ),
    c.Migration(
        5,
        "PIC cases: the change feed (each row numbered in commit order by the first read after it was written)",
        (
            # Rows of earlier schemas have none yet: the first feed reads number them, in order of creation.
            "ALTER TABLE pic_case ADD COLUMN change_number INTEGER",
            # One index serves the feed's pages and the rows still to number (an index holds its NULLs too).
            "CREATE UNIQUE INDEX pic_case_change ON pic_case (change_number)",
            "CREATE TABLE case_change_log (id INTEGER PRIMARY KEY CHECK (id = 1), last_change INTEGER NOT NULL)",
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
                digest TEXT PRIMARY KEY,
                client TEXT NOT NULL,
                participants TEXT NOT NULL,
                credential TEXT NOT NULL,
                csrf TEXT NOT NULL,
                opened_at TEXT NOT NULL,
                expires TEXT NOT NULL
            )
            """,
            "CREATE INDEX console_session_opened ON console_session (opened_at)",
        ),
    ),
)
c.check_migrations(MIGRATIONS)

# Errors of the caller, not of the database: retrying the same call cannot help.
_REFUSALS = (sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)

DEFAULT_MIN_FREE_DISK = 16 * 2**20
"""Free bytes below which :meth:`SqliteStore.check_writable` reports the disk full: a write may still succeed
in the WAL's reused space, but the next checkpoint or a large message would not."""


def _error(exc: sqlite3.Error | OverflowError | ValueError) -> StoreError:
    """Return the StoreError for a driver failure: an outage is retryable, a refused argument is not."""
    return c.driver_error(
        exc, dialect="SQLite", driver=sqlite3.Error, refusals=_REFUSALS, describe=lambda error: f"SQLite: {error}"
    )


_last_text: tuple[dt.datetime, str] = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "2000-01-01T00:00:00.000000Z")
"""The last time :func:`_text` wrote: a message's receipt time is stored in several columns and rows."""


def _sync_folder(folder: Path) -> None:
    """Make a file's new name in ``folder`` durable (fsync of the directory)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _text(value: dt.datetime) -> str:
    """Store a time as fixed-width UTC ISO 8601 text, so that text order is time order.

    The text is ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` of the UTC time, written through ``isoformat``, which
    is faster and gives the same text for years 1000 to 9999 (``strftime`` does not pad a year before 1000).
    """
    global _last_text  # noqa: PLW0603 -- one immutable pair, swapped whole: safe between threads
    last, text = _last_text
    if value == last:  # aware times: equal instants, whatever their offsets, have one UTC text
        return text
    utc = value.astimezone(dt.UTC)
    if utc.year < 1000:
        text = utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        text = utc.isoformat(timespec="microseconds")[:-6] + "Z"
    _last_text = (value, text)
    return text


def _time(value: str) -> dt.datetime:
    """Read a time stored by :func:`_text`."""
    return dt.datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class SqliteBackup:
    """What :meth:`SqliteStore.backup` wrote: one consistent copy of the store, checked."""

    path: Path
    """The new file."""
    size: int
    """Its size in bytes."""
    schema_version: int
    """The schema version the copy holds (a gateway of that version or later opens it)."""
    received: int
    """Messages received from partners in the copy."""
    sent: int
    """Messages we send (any state) in the copy."""
    cases: int
    """PIC case rows in the copy."""


class SqliteStore(c.SqlStore):
    """The :class:`~picexchange.store.base.Store` on one SQLite file (or ``:memory:`` for tests)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: dt.timedelta = dt.timedelta(seconds=10),
        min_free_disk: int = DEFAULT_MIN_FREE_DISK,
    ) -> None:
        """Open (or create) the database file; call :meth:`migrate` before use.

        Args:
            path: the database file, or ``":memory:"``.
            busy_timeout: how long to wait for another process's write lock before failing.
            min_free_disk: free bytes on the database's file system below which :meth:`check_writable` fails.

        Raises:
            StoreError: the file cannot be opened or configured.

        """
        self._lock = threading.Lock()
        self._closed = False
        self._folder = None if str(path) == ":memory:" else os.path.dirname(os.path.abspath(path))
        self._min_free_disk = min_free_disk
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves. timeout= is SQLite's busy_timeout.
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout.total_seconds()
            )
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and str(path) != ":memory:":
                raise StoreError(f"SQLite refused WAL mode for the database (journal_mode is {mode})")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            # The path is left out on purpose: StoreError texts never name the database (the caller knows it).
            raise StoreError(
                f"cannot open the SQLite database: {exc}", retryable=not isinstance(exc, _REFUSALS)
            ) from exc

    # --------------------------------------------------------------------------------------------- backup

    def backup(self, target: str | os.PathLike[str]) -> SqliteBackup:
        """Copy the store, as one consistent snapshot, into the new file ``target`` while gateways go on writing.

        SQLite's online backup copies every page in one step inside one read transaction: with WAL, writers (of
        this process or another) are not stopped, and the copy holds exactly the transactions committed before
        it began, none half. The copy is written beside ``target`` under a temporary name (mode 0600: it holds
        every message), set to a plain rollback journal so that it is one self-contained file, checked with
        ``PRAGMA integrity_check``, synced, and only then linked as ``target``: an existing file is never
        replaced, and a failure leaves no ``target``.

        Raises:
            StoreError: ``target`` exists (not retryable), the copy failed its check, or a file could not be
                written (``retryable`` as for the store's own errors).

        """
        destination = Path(target)
        taken = f"{destination} exists: a backup never replaces a file, name a new one"
        if destination.exists():
            raise StoreError(taken, retryable=False)
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
            )
        except OSError as exc:
            raise StoreError(
                f"cannot write the backup in {destination.parent}: {exc.strerror or exc}", retryable=False
            ) from exc
        os.close(descriptor)
        try:
            copy = sqlite3.connect(temporary, isolation_level=None)
            try:
                with self._lock:
                    if self._closed:
                        raise StoreError("the store is closed")
                    self._db.backup(copy)
                copy.execute("PRAGMA journal_mode = DELETE")
                (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
                if verdict != "ok":
                    raise StoreError(f"the copy failed SQLite's integrity check: {verdict}", retryable=False)
                found = copy.execute(
                    "SELECT (SELECT max(version) FROM schema_version), (SELECT count(*) FROM inbound),"
                    " (SELECT count(*) FROM outbound), (SELECT count(*) FROM pic_case)"
                ).fetchone()
            finally:
                copy.close()
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.link(temporary, destination)  # fails, and replaces nothing, if the target appeared meanwhile
            _sync_folder(destination.parent)
        except FileExistsError as exc:
            raise StoreError(taken, retryable=False) from exc
        except sqlite3.Error as exc:
            raise _error(exc) from exc
        except OSError as exc:
            raise StoreError(f"cannot write the backup: {exc.strerror or exc}", retryable=True) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        version, received, sent, cases = found
        return SqliteBackup(
            path=destination,
            size=destination.stat().st_size,
            schema_version=int(version or 0),
            received=int(received),
            sent=int(sent),
            cases=int(cases),
        )

    # ------------------------------------------------------------------------------------------- plumbing

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction under the store's lock; commit on success, roll back otherwise."""
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                # SQLite may already have rolled back on its own (it does on a full disk): a second ROLLBACK
                # would fail and hide the error that matters.
                if db.in_transaction:
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the original error is the one to report
                if isinstance(exc, sqlite3.Error | OverflowError | ValueError):
                    raise _error(exc) from exc
                raise

    def _select(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Return the rows of one SELECT under the store's lock, without BEGIN and COMMIT.

        SQLite runs a statement outside a transaction in one of its own: it reads one snapshot and lets it go
        once the rows are all fetched, which is what ``BEGIN``, the statement and ``COMMIT`` did in three.
        """
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                return self._db.execute(sql, parameters).fetchall()
            except (sqlite3.Error, OverflowError, ValueError) as exc:
                raise _error(exc) from exc

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # ------------------------------------------------------------------------------------------- dialect

    _P = "?"
    _SCHEMA_VERSION_DDL = (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    # Without statistics SQLite prefers outbound_state and sorts every queued row: claims name their index.
    _CLAIM_FROM: ClassVar[str] = "outbound INDEXED BY outbound_due"
    # _LOCK_ROWS stays empty: BEGIN IMMEDIATE already holds the one write lock of the file.

    def _migrations(self) -> tuple[c.Migration, ...]:
        return MIGRATIONS

    def _db_time(self, value: dt.datetime) -> object:
        return _text(value)

    def _time(self, value: Any) -> dt.datetime:
        return _time(value)

    # -------------------------------------------------------------------------------------- back office

    def record_action(self, action: BackofficeAction) -> None:
        """Append one back-office action to the audit log; see the protocol."""
        at, *rest = c.action_values(action)
        # Numbered by rowid: with one writer at a time, commit order is rowid order (see the module docstring).
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT INTO backoffice_action (at, client, action, target, outcome, participant)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (_text(at), *rest),
            )

    def check_writable(self, *, at: dt.datetime) -> None:
        """Rewrite the heartbeat row and commit; raise if the store cannot write now; see the protocol."""
        when = _text(c.aware(at, "at"))
        with self._transaction(write=True) as db:
            # beats changes the row every time: SQLite skips rewriting identical bytes, and then syncs nothing.
            db.execute(
                "INSERT INTO heartbeat (id, at, beats) VALUES (1, ?, 1)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at, beats = heartbeat.beats + 1",
                (when,),
            )
            # Rewriting one row needs no new page, so a database at its size limit still takes it: ask.
            (pages,) = db.execute("PRAGMA page_count").fetchone()
            (most,) = db.execute("PRAGMA max_page_count").fetchone()
        if pages >= most:
            raise StoreError(f"the SQLite database is full: {pages} pages, the most it may have")
        if self._folder is not None:
            try:
                free = shutil.disk_usage(self._folder).free
            except OSError as exc:
                raise StoreError(f"cannot read the free space of the database's disk: {exc.strerror}") from exc
            if free < self._min_free_disk:
                raise StoreError(
                    f"the disk holding the SQLite database is full: {free} bytes free, {self._min_free_disk} needed"
                )
