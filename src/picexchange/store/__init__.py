"""Durable storage of the messages a gateway receives and sends (docs/architecture.md, "The store lifecycles").

:func:`open_store` turns a store URL into a :class:`Store`: SQLite (the default, embedded) or PostgreSQL
(several gateway processes on one database). Both pass one shared test suite. Call :meth:`Store.migrate`
once at start-up; the gateway does.

Besides the messages, the store keeps what the back office needs (schema version 2, see
:mod:`picexchange.store.base`): the idempotency keys of submissions (:class:`Idempotency`, :class:`Enqueued`),
the audit log of back-office actions (:meth:`Store.record_action`, :meth:`Store.actions`) and a heartbeat row
that :meth:`Store.check_writable` rewrites for ``/healthz``. Every failure is a
:class:`~picexchange.errors.StoreError` whose ``retryable`` tells an outage from refused arguments.
"""

from __future__ import annotations

from picexchange import errors
from picexchange.store.base import (
    INBOUND_LIFECYCLE,
    OUTBOUND_LIFECYCLE,
    ActionEntry,
    ActionPage,
    BackofficeAction,
    CaseConflict,
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
)

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
    "ConsoleSessionRecord",
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
    "Store",
    "StoreCounts",
    "StoredCaseMessage",
    "Traffic",
    "digest_of",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open the store a URL names; the schema is not touched until :meth:`Store.migrate`.

    Args:
        url: ``sqlite:///abs/path/file.db`` (everything after ``sqlite://`` is the path, so
            ``sqlite://relative/file.db`` is relative to the working directory), ``sqlite://:memory:`` (tests),
            or a libpq URL ``postgresql://user@host:5432/dbname?options=-csearch_path%3Dgateway``
            (``postgres://`` too).

    Raises:
        ConfigurationError: the URL names no store this package has, or no path.
        MissingExtraError: a postgresql:// URL, but the [postgres] extra (psycopg) is not installed.
        StoreError: the database cannot be reached or opened.

    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise errors.ConfigurationError(f"store URL {url!r} has no scheme (sqlite://... or postgresql://...)")
    if scheme == "sqlite":
        if not rest:
            raise errors.ConfigurationError(
                "a sqlite:// store URL needs a path, e.g. sqlite:///var/lib/picexchange/gateway.db"
            )
        from picexchange.store.sqlite import SqliteStore

        return SqliteStore(rest)
    if scheme in {"postgresql", "postgres"}:
        try:  # psycopg comes with the [postgres] extra, not with `pip install picexchange`: say which to install
            import psycopg  # noqa: F401
        except ModuleNotFoundError as exc:
            raise errors.MissingExtraError(extra="postgres", module=exc.name or "psycopg") from exc
        from picexchange.store.postgres import PostgresStore

        return PostgresStore(url)
    raise errors.ConfigurationError(f"store URL scheme {scheme!r} is not supported (use sqlite:// or postgresql://)")
