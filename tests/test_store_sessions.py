"""Console sessions in the store (schema 6), on SQLite and on a real PostgreSQL.

A session is kept under the digest of its cookie, never the cookie; every store on the database sees it; the
expired go when a session opens, and past the cap the oldest go first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import sqlite3

import psycopg
import pytest

from picexchange.errors import StoreError
from picexchange.store import ConsoleSessionRecord, Store, open_store

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def session(cookie: str, *, opened: dt.datetime = T0, hours: int = 8) -> ConsoleSessionRecord:
    return ConsoleSessionRecord(
        digest=_digest(cookie),
        client="customs-desk",
        participants=frozenset({"MY:RMCD", "MY:DOE"}),
        credential=_digest("the token"),
        csrf=f"csrf-of-{cookie}",
        opened_at=opened,
        expires=opened + dt.timedelta(hours=hours),
    )


def _rows(url: str) -> list[tuple[str, ...]]:
    sql = "SELECT digest, client, participants, credential, csrf FROM console_session ORDER BY opened_at"
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return db.execute(sql).fetchall()
    with psycopg.connect(url) as db:
        return db.execute(sql).fetchall()


def test_a_session_is_kept_by_its_digest_and_every_store_on_the_database_sees_it(store_url: str) -> None:
    with open_store(store_url) as first, open_store(store_url) as second:  # two gateway processes
        first.migrate()
        kept = session("cookie-1")
        first.open_console_session(kept, most=10)
        assert second.console_session(kept.digest) == kept
        assert second.console_session(_digest("another cookie")) is None
        assert all("cookie-1" not in column for row in _rows(store_url) for column in row[:4])  # only the digest
        second.close_console_session(kept.digest)
        second.close_console_session(kept.digest)  # idempotent
        assert first.console_session(kept.digest) is None


def test_opening_a_session_drops_the_expired_and_past_the_cap_the_oldest(store_url: str) -> None:
    with open_store(store_url) as store:
        store.migrate()
        short = session("short", hours=1)
        store.open_console_session(short, most=3)
        for n in range(1, 4):
            store.open_console_session(session(f"s{n}", opened=T0 + dt.timedelta(hours=1, minutes=n)), most=3)
        # "short" expired at T0 + 1 h; of s1, s2, s3 the cap of 3 keeps all three.
        assert store.console_session(short.digest) is None
        assert [store.console_session(_digest(f"s{n}")) is not None for n in range(1, 4)] == [True] * 3
        store.open_console_session(session("s4", opened=T0 + dt.timedelta(hours=1, minutes=4)), most=3)
        assert [store.console_session(_digest(f"s{n}")) is not None for n in range(1, 5)] == [False, True, True, True]


def test_a_session_with_bad_fields_is_refused_and_nothing_is_kept(store_url: str) -> None:
    with open_store(store_url) as store:
        store.migrate()
        good = session("cookie")
        for bad in (
            dataclasses.replace(good, digest="cookie"),  # a cookie, not its digest
            dataclasses.replace(good, credential="the token"),
            dataclasses.replace(good, participants=frozenset()),
            dataclasses.replace(good, client=""),
            dataclasses.replace(good, opened_at=T0.replace(tzinfo=None)),
        ):
            with pytest.raises(StoreError) as refused:
                store.open_console_session(bad, most=10)
            assert not refused.value.retryable
        store.open_console_session(good, most=10)
        with pytest.raises(StoreError):
            store.open_console_session(good, most=10)  # the digest is taken
        assert len(_rows(store_url)) == 1
        with pytest.raises(StoreError):
            store.console_session("not a digest")


def test_a_store_of_schema_5_gains_the_session_table(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from picexchange.store import postgres, sqlite

    module = sqlite if store_url.startswith("sqlite") else postgres
    monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:5])
    with open_store(store_url) as old:
        assert old.migrate() == 5
    monkeypatch.undo()
    store: Store
    with open_store(store_url) as store:
        assert store.migrate() == len(module.MIGRATIONS) == 6
        store.open_console_session(session("cookie"), most=10)
        assert store.console_session(_digest("cookie")) is not None
