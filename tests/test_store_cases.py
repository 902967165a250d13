"""PIC cases in the store (schemas 3 and 4), on SQLite and on a real PostgreSQL: one transaction, optimistic versions.

A message, its case row, its case-message rows and any automatic reply are written together or not at all; a
case update computed from a stale version is refused with a retryable CaseConflict and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from case_rows import CASE, listed_in, summary
from picexchange.errors import CaseConflict, StoreError
from picexchange.store import (
    CaseDirection,
    CaseMessage,
    CaseUpdate,
    Idempotency,
    InboundMessage,
    OutboundMessage,
    OutboundState,
    Store,
    open_store,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
US, THEM = "MY:RMCD", "AU:ABF"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Yield a migrated store on the test's database."""
    with open_store(store_url) as opened:
        opened.migrate()
        yield opened


def _execute(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on the test database beside the store; return the last one's rows (if any)."""
    rows: list[tuple[Any, ...]] = []
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            for sql in statements:
                cursor = db.execute(sql)
                rows = cursor.fetchall()
        return rows
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in statements:
            cursor = conn.execute(sql.encode())
            rows = cursor.fetchall() if cursor.description else []
    return rows


def inbound(n: int, *, case: str = CASE, message_type: str = "ExportData") -> InboundMessage:
    """Return a received message of ``case``; ``n`` makes its id and bytes distinct."""
    return InboundMessage(
        sender=THEM,
        receiver=US,
        message_id=str(uuid.UUID(int=n)),
        conversation_id=case,
        message_type=message_type,
        utility_block="export",
        created=T0,
        received_at=T0 + dt.timedelta(seconds=n),
        data=f"<Envelope in='{n}'/>".encode(),
    )


def reply(n: int, *, case: str = CASE) -> OutboundMessage:
    """Return a message we send under ``case``."""
    return OutboundMessage(
        message_id=str(uuid.UUID(int=10_000 + n)),
        receiver=THEM,
        endpoint=THEM,
        conversation_id=case,
        message_type="ClearanceResult",
        created=T0,
        data=f"<Envelope out='{n}'/>".encode(),
    )


def listed_out(message: OutboundMessage) -> CaseMessage:
    return CaseMessage(
        direction=CaseDirection.OUTBOUND,
        sender=US,
        receiver=message.receiver,
        message_id=message.message_id,
        message_type=message.message_type,
        at=T0,
    )


def update(version: int, *messages: CaseMessage, **fields: Any) -> CaseUpdate:
    return CaseUpdate(summary=summary(**fields), messages=messages, expected_version=version)


def test_a_message_and_its_case_are_stored_together_and_read_back_in_order(store: Store) -> None:
    first, second = inbound(1), inbound(2)
    store.record_inbound(first, b"r1", case=update(0, listed_in(first)))
    store.record_inbound(second, b"r2", case=update(1, listed_in(second), used=1))
    row = store.case_summary(CASE)
    assert row is not None
    assert (row.version, row.message_count, row.shipments_used, row.state) == (2, 2, 1, "notified")
    assert row.updated_at == second.received_at
    messages = store.case_messages(CASE)
    assert [(m.position, m.message.message_id, m.data) for m in messages] == [
        (1, first.message_id, first.data),
        (2, second.message_id, second.data),
    ]
    assert messages[0].message == listed_in(first)
    assert store.case_summary("AU2026-9999") is None
    assert store.case_messages("AU2026-9999") == ()


def test_an_update_from_a_stale_version_is_a_retryable_conflict_and_writes_nothing(store: Store) -> None:
    first, late = inbound(1), inbound(2)
    store.record_inbound(first, b"r1", case=update(0, listed_in(first)))
    with pytest.raises(CaseConflict) as raised:
        store.record_inbound(late, b"r2", case=update(0, listed_in(late)), replies=[reply(2)])
    assert isinstance(raised.value, StoreError) and raised.value.retryable
    assert (raised.value.expected, raised.value.found) == (0, 1)
    with pytest.raises(CaseConflict):
        store.record_inbound(late, b"r2", case=update(7, listed_in(late)))
    # Neither the message, nor its reply, nor a case row: the sender may retry the same bytes.
    assert store.inbound_status(THEM, late.message_id) is None
    assert store.outbound_status(reply(2).message_id) is None
    row = store.case_summary(CASE)
    assert row is not None and (row.version, row.message_count) == (1, 1)
    # Recomputed from the version stored now, it goes through.
    store.record_inbound(late, b"r2", case=update(1, listed_in(late)))
    assert [m.position for m in store.case_messages(CASE)] == [1, 2]


def test_a_duplicate_writes_no_case_row_and_queues_no_reply(store: Store) -> None:
    first = inbound(1)
    held = reply(1)
    store.record_inbound(first, b"r1", case=update(0, listed_in(first), listed_out(held)), replies=[held])
    assert store.outbound_status(held.message_id) is not None
    # The same bytes again, with an update built on a version long gone: the duplicate wins, nothing changes.
    again = store.record_inbound(first, b"other", case=update(0, listed_in(first)), replies=[reply(9)])
    assert again.duplicate and again.receipt == b"r1"
    assert store.outbound_status(reply(9).message_id) is None
    row = store.case_summary(CASE)
    assert row is not None and (row.version, row.message_count) == (1, 2)
    assert [m.message.direction for m in store.case_messages(CASE)] == [CaseDirection.INBOUND, CaseDirection.OUTBOUND]
    assert store.case_messages(CASE)[1].data == held.data


def test_an_automatic_reply_is_queued_in_the_same_transaction(store: Store) -> None:
    first, held = inbound(1), reply(1)
    store.record_inbound(first, b"r1", case=update(0, listed_in(first), listed_out(held)), replies=[held])
    status = store.outbound_status(held.message_id)
    assert status is not None and status.state is OutboundState.QUEUED
    claimed = store.claim_due(now=first.received_at, lease=dt.timedelta(seconds=30), limit=10, worker="w")
    assert [m.message_id for m in claimed] == [held.message_id]


def test_enqueue_writes_its_case_and_a_replayed_key_writes_none(store: Store) -> None:
    sent = reply(1)
    key = Idempotency(client="bo", key="k1", fingerprint="f" * 64)
    store.enqueue(sent, at=T0, idempotency=key, case=update(0, listed_out(sent)))
    # Replayed: the original message comes back; the stale case update is not even looked at.
    again = store.enqueue(reply(2), at=T0, idempotency=key, case=update(0, listed_out(reply(2))))
    assert again.replayed and again.message_id == sent.message_id
    # The same message again (same bytes) is idempotent and writes no case row either.
    store.enqueue(sent, at=T0, case=update(0, listed_out(sent)))
    row = store.case_summary(CASE)
    assert row is not None and (row.version, row.message_count) == (1, 1)
    with pytest.raises(CaseConflict):
        store.enqueue(reply(3), at=T0, case=update(0, listed_out(reply(3))))
    assert store.outbound_status(reply(3).message_id) is None


def test_a_failure_after_the_message_insert_leaves_neither_the_message_nor_the_case(store_url: str) -> None:
    """A database failure injected between the message's insert and the case's (a trigger) rolls back both."""
    with open_store(store_url) as store:
        store.migrate()
        if store_url.startswith("sqlite://"):
            trigger = (
                "CREATE TRIGGER injected BEFORE INSERT ON case_message BEGIN SELECT RAISE(ABORT, 'injected'); END",
            )
        else:
            trigger = (
                "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'injected'; END $$",
                "CREATE TRIGGER injected BEFORE INSERT ON case_message FOR EACH ROW EXECUTE FUNCTION injected()",
            )
        _execute(store_url, *trigger)
        message, held = inbound(1), reply(1)
        with pytest.raises(StoreError):
            store.record_inbound(message, b"r", case=update(0, listed_in(message), listed_out(held)), replies=[held])
        with pytest.raises(StoreError):
            store.enqueue(reply(2), at=T0, case=update(0, listed_out(reply(2))))
        assert store.inbound_status(THEM, message.message_id) is None
        assert store.outbound_status(held.message_id) is None
        assert store.outbound_status(reply(2).message_id) is None
        assert store.case_summary(CASE) is None
        assert _execute(store_url, "SELECT count(*) FROM inbound")[0][0] == 0
        assert _execute(store_url, "SELECT count(*) FROM outbound")[0][0] == 0


def test_two_stores_updating_one_case_concurrently_lose_no_message(store_url: str) -> None:
    """Two stores (two gateway processes' worth of connections), four threads each, one case: every write lands.

    Each writer reads the version, computes its update and writes; a conflict means "read again and retry",
    as the gateway does. The case ends with every message, at contiguous positions, and version = messages.
    """
    stores = [open_store(store_url) for _ in range(2)]
    stores[0].migrate()
    per_thread, threads_per_store = 6, 4
    conflicts: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work(store: Store, base: int) -> None:
        try:
            for i in range(per_thread):
                message = inbound(base + i)
                while True:
                    row = store.case_summary(CASE)
                    version = 0 if row is None else row.version
                    used = 0 if row is None else row.shipments_used
                    try:
                        store.record_inbound(message, b"r", case=update(version, listed_in(message), used=used + 1))
                        break
                    except CaseConflict:
                        with lock:
                            conflicts.append(1)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(stores[t % 2], 1 + 100 * t)) for t in range(2 * threads_per_store)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in stores:
        store.close()
    assert not failures
    total = per_thread * 2 * threads_per_store
    with open_store(store_url) as store:
        row = store.case_summary(CASE)
        assert row is not None
        assert (row.message_count, row.version, row.shipments_used) == (total, total, total)
        assert [m.position for m in store.case_messages(CASE)] == list(range(1, total + 1))


def test_the_case_list_pages_with_a_cursor_and_filters(store: Store) -> None:
    cases = [
        ("AU2026-0001", "notified", "AU", "MY", False, T0),
        ("AU2026-0002", "cancelled", "AU", "MY", True, T0 + dt.timedelta(days=1)),
        ("JP2026-0003", "notified", "JP", "MY", True, T0 + dt.timedelta(days=2)),
        ("NL2026-0004", "awaited", None, None, False, T0 + dt.timedelta(days=3)),
    ]
    for n, (number, state, export, import_, blocked, at) in enumerate(cases, start=1):
        message = replace(inbound(n, case=number), received_at=at)
        store.record_inbound(
            message,
            b"r",
            case=update(
                0,
                listed_in(message),
                case=number,
                state=state,
                export_country=export,
                import_country=import_,
                blocked=blocked,
            ),
        )

    def numbers(**filters: Any) -> list[str]:
        return [c.notification_number for c in store.cases(since=0, limit=100, **filters).cases]

    first = store.cases(since=0, limit=2)
    assert [c.notification_number for c in first.cases] == ["AU2026-0001", "AU2026-0002"] and first.has_more
    rest = store.cases(since=first.next, limit=2)
    assert [c.notification_number for c in rest.cases] == ["JP2026-0003", "NL2026-0004"] and not rest.has_more
    assert store.cases(since=rest.next, limit=2).cases == ()
    assert numbers(state="notified") == ["AU2026-0001", "JP2026-0003"]
    assert numbers(country="JP") == ["JP2026-0003"]
    assert numbers(country="MY") == ["AU2026-0001", "AU2026-0002", "JP2026-0003"]
    assert numbers(blocked=True) == ["AU2026-0002", "JP2026-0003"]
    assert numbers(blocked=False) == ["AU2026-0001", "NL2026-0004"]
    assert numbers(updated_since=T0 + dt.timedelta(days=2)) == ["JP2026-0003", "NL2026-0004"]
    assert numbers(country="AU", blocked=True, state="cancelled") == ["AU2026-0002"]
    with pytest.raises(StoreError):
        store.cases(since=0, limit=0)
    with pytest.raises(StoreError):
        store.cases(since=0, limit=10, updated_since=dt.datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose


def test_a_case_update_for_another_conversation_or_without_messages_is_refused(store: Store) -> None:
    message = inbound(1)
    with pytest.raises(StoreError, match="AU2026-0099"):
        store.record_inbound(message, b"r", case=update(0, listed_in(message), case="AU2026-0099"))
    with pytest.raises(StoreError, match="at least one message"):
        store.record_inbound(message, b"r", case=update(0))
    assert store.inbound_status(THEM, message.message_id) is None


def test_a_database_of_schema_version_2_upgrades_to_cases(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store of the previous release (schema 2, with messages) gains the case tables and keeps its messages."""
    from picexchange.store import postgres, sqlite

    module: Any = sqlite if store_url.startswith("sqlite") else postgres
    monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:2])
    old_message = inbound(1)
    with open_store(store_url) as old:
        assert old.migrate() == 2
        old.record_inbound(old_message, b"r")
    monkeypatch.undo()
    with open_store(store_url) as upgraded:
        assert upgraded.migrate() == len(module.MIGRATIONS)
        assert upgraded.inbound_status(THEM, old_message.message_id) is not None
        assert upgraded.case_summary(CASE) is None  # messages stored before cases existed belong to no case row
        message = inbound(2)
        upgraded.record_inbound(message, b"r", case=update(0, listed_in(message)))
        assert [m.message.message_id for m in upgraded.case_messages(CASE)] == [message.message_id]


# ------------------------------------------------------------------------------------------ review (schema 4)


def test_each_case_row_carries_its_review_day_and_the_due_rows_are_listed(store: Store) -> None:
    """``review_on`` is written with the row; a row is due on its day and after, the longest overdue first."""
    days = {
        "AU2026-0001": dt.date(2026, 3, 12),
        "AU2026-0002": None,  # nothing dated: never due
        "AU2026-0003": dt.date(2026, 3, 10),
        "AU2026-0004": dt.date(2026, 3, 12),
        "AU2026-0005": dt.date(2027, 2, 13),
    }
    for n, (number, day) in enumerate(days.items(), start=1):
        message = inbound(n, case=number)
        store.record_inbound(message, b"r", case=update(0, listed_in(message), case=number, review_on=day))
    first = store.case_summary("AU2026-0001")
    assert first is not None and first.review_on == dt.date(2026, 3, 12)
    never = store.case_summary("AU2026-0002")
    assert never is not None and never.review_on is None
    assert store.cases_due(dt.date(2026, 3, 9), limit=10) == ()
    assert store.cases_due(dt.date(2026, 3, 10), limit=10) == ("AU2026-0003",)
    assert store.cases_due(dt.date(2026, 3, 12), limit=10) == ("AU2026-0003", "AU2026-0001", "AU2026-0004")
    assert store.cases_due(dt.date(2026, 3, 12), limit=2) == ("AU2026-0003", "AU2026-0001")
    assert store.cases_due(dt.date(2099, 1, 1), limit=10) == (
        "AU2026-0003",
        "AU2026-0001",
        "AU2026-0004",
        "AU2026-0005",
    )
    # A later message moves the day (or clears it).
    later = inbound(9, case="AU2026-0003")
    store.record_inbound(later, b"r", case=update(1, listed_in(later), case="AU2026-0003", review_on=None))
    assert store.cases_due(dt.date(2026, 3, 10), limit=10) == ()
    with pytest.raises(StoreError):
        store.cases_due(dt.date(2026, 3, 10), limit=0)
    with pytest.raises(StoreError, match="review_on"):
        bad = inbound(10, case="AU2026-0010")
        store.record_inbound(bad, b"r", case=update(0, listed_in(bad), case="AU2026-0010", review_on=T0))


def test_a_refresh_rewrites_only_the_summary_and_is_guarded_by_the_version(store: Store) -> None:
    """No new message: the summary, review day, version and time change; the messages and their count do not."""
    first, second = inbound(1), inbound(2)
    store.record_inbound(first, b"r1", case=update(0, listed_in(first), review_on=dt.date(2026, 3, 11)))
    store.record_inbound(second, b"r2", case=update(1, listed_in(second), used=1, review_on=dt.date(2026, 3, 11)))
    at = T0 + dt.timedelta(days=10)
    fresh = summary(used=1, blocked=True, violations=0, review_on=dt.date(2027, 2, 13))
    written = store.refresh_case(fresh, expected_version=2, at=at)
    assert (written.blocked, written.review_on, written.version, written.message_count) == (
        True,
        dt.date(2027, 2, 13),
        3,
        2,
    )
    assert written.updated_at == at and written.violations == 0 and written.shipments_used == 1
    assert store.case_summary(CASE) == written
    assert [m.position for m in store.case_messages(CASE)] == [1, 2]
    assert store.cases_due(dt.date(2026, 3, 11), limit=10) == ()
    # A refresh computed from a version that moved is a conflict and writes nothing.
    with pytest.raises(CaseConflict) as raised:
        store.refresh_case(summary(blocked=False), expected_version=2, at=at)
    assert (raised.value.expected, raised.value.found) == (2, 3)
    assert store.case_summary(CASE) == written
    with pytest.raises(CaseConflict) as unknown:
        store.refresh_case(summary(case="AU2026-9999"), expected_version=1, at=at)
    assert unknown.value.found == 0
    with pytest.raises(StoreError):
        store.refresh_case(fresh, expected_version=0, at=at)
    # And a message computed before the refresh conflicts with it: it must see the refreshed row.
    late = inbound(3)
    with pytest.raises(CaseConflict):
        store.record_inbound(late, b"r3", case=update(2, listed_in(late)))
    store.record_inbound(late, b"r3", case=update(3, listed_in(late)))
    assert [m.position for m in store.case_messages(CASE)] == [1, 2, 3]


def test_a_refresh_that_only_moves_the_review_day_keeps_the_rows_time(store: Store) -> None:
    """at=None: the review day and the version move, updated_at stays, so ?updated_since= does not list the case."""
    first = inbound(1)
    store.record_inbound(first, b"r1", case=update(0, listed_in(first), review_on=dt.date(2026, 3, 11)))
    before = store.case_summary(CASE)
    assert before is not None
    moved = store.refresh_case(summary(review_on=dt.date(2026, 9, 1)), expected_version=before.version, at=None)
    assert (moved.review_on, moved.version, moved.updated_at) == (
        dt.date(2026, 9, 1),
        before.version + 1,
        before.updated_at,
    )
    assert store.cases(since=0, limit=10, updated_since=before.updated_at + dt.timedelta(seconds=1)).cases == ()


def _migrate_to(store_url: str, version: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Migrate the test database to an earlier schema ``version``; return the store module (undo restores it)."""
    from picexchange.store import postgres, sqlite

    module: Any = sqlite if store_url.startswith("sqlite") else postgres
    monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:version])
    with open_store(store_url) as old:
        assert old.migrate() == version
    return module


def test_case_rows_of_schema_3_are_due_for_review_at_once_after_the_upgrade(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows written before review days existed were never reviewed: schema 4 makes each due today."""
    module = _migrate_to(store_url, 3, monkeypatch)
    flag = "1" if store_url.startswith("sqlite") else "true"
    _execute(
        store_url,
        "INSERT INTO pic_case (notification_number, state, export_country, import_country, blocked, violations,"
        " warnings, shipments_used, shipments_notified, message_count, updated_at, version)"
        f" VALUES ('{CASE}', 'notified', 'AU', 'MY', {flag}, 0, 0, 0, 8, 0, '2026-03-01T12:00:00.000000Z', 1)",
    )
    monkeypatch.undo()
    with open_store(store_url) as upgraded:
        assert upgraded.migrate() == len(module.MIGRATIONS)
        row = upgraded.case_summary(CASE)
        assert row is not None and row.review_on is not None and row.review_on <= dt.date(2026, 3, 1)
        assert upgraded.cases_due(dt.date(2026, 3, 1), limit=10) == (CASE,)


# ------------------------------------------------------------------------------------ change feed (schema 5)


def _new_case(store: Store, n: int, number: str, **fields: Any) -> None:
    message = inbound(n, case=number)
    store.record_inbound(message, b"r", case=update(0, listed_in(message), case=number, **fields))


def _changed(page: Any) -> list[str]:
    return [row.notification_number for row in page.cases]


def test_the_change_feed_lists_each_case_once_at_its_latest_change(store: Store) -> None:
    """A case written again moves to the end of the feed; a review that changes nothing shown does not."""
    for n, number in enumerate(("AU2026-0001", "AU2026-0002", "JP2026-0003"), start=1):
        _new_case(store, n, number, blocked=number.startswith("JP"), export_country=number[:2])
    first = store.case_changes(after=0, limit=2)
    assert _changed(first) == ["AU2026-0001", "AU2026-0002"] and first.has_more
    assert [row.change for row in first.cases] == [1, 2] and first.next == 2
    rest = store.case_changes(after=first.next, limit=2)
    assert _changed(rest) == ["JP2026-0003"] and not rest.has_more
    assert store.case_changes(after=rest.next, limit=2) == replace(rest, cases=(), has_more=False)

    again = inbound(4, case="AU2026-0001")
    store.record_inbound(again, b"r", case=update(1, listed_in(again), case="AU2026-0001", used=1))
    moved = store.case_changes(after=rest.next, limit=10)
    assert _changed(moved) == ["AU2026-0001"] and moved.cases[0].shipments_used == 1
    assert _changed(store.case_changes(after=0, limit=10)) == ["AU2026-0002", "JP2026-0003", "AU2026-0001"]

    row = store.case_summary("AU2026-0002")
    assert row is not None and row.change == 2
    quiet = store.refresh_case(summary(case="AU2026-0002", review_on=dt.date(2026, 9, 1)), expected_version=1, at=None)
    assert quiet.change == 2 and store.case_changes(after=moved.next, limit=10).cases == ()
    store.refresh_case(summary(case="AU2026-0002", blocked=True), expected_version=2, at=T0 + dt.timedelta(days=1))
    assert _changed(store.case_changes(after=moved.next, limit=10)) == ["AU2026-0002"]

    assert _changed(store.case_changes(after=0, limit=10, blocked=True)) == ["JP2026-0003", "AU2026-0002"]
    assert _changed(store.case_changes(after=0, limit=10, country="JP")) == ["JP2026-0003"]
    with pytest.raises(StoreError):
        store.case_changes(after=-1, limit=10)
    with pytest.raises(StoreError):
        store.case_changes(after=0, limit=0)


def test_a_change_feed_read_numbers_a_bounded_batch_and_says_more_follow(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows beyond one read's batch are numbered by the next reads; has_more says so even on a short page."""
    from picexchange.store import _common

    monkeypatch.setattr(_common, "NUMBER_CHANGES", 2)
    numbers = [f"AU2026-{n:04d}" for n in range(1, 6)]
    for n, number in enumerate(numbers, start=1):
        _new_case(store, n, number)
    seen: list[str] = []
    after, has_more = 0, True
    while has_more:
        page = store.case_changes(after=after, limit=10)
        assert len(page.cases) <= 2
        seen += _changed(page)
        after, has_more = page.next, page.has_more
    assert seen == numbers


def test_a_case_row_committed_late_is_not_skipped_by_the_change_feed(store_url: str, store: Store) -> None:
    """A case write whose transaction began first but committed after a feed read comes after that read's cursor.

    Two gateway processes on one PostgreSQL: the row's identity value and its ``updated_at`` are given when the
    slow transaction writes, so a cursor over either would pass it; its change number is given after it commits.
    """
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: a transaction cannot stay open beside the store's")
    _new_case(store, 1, "AU2026-0001")
    start = store.case_changes(after=0, limit=10)
    assert _changed(start) == ["AU2026-0001"]
    written, release = threading.Event(), threading.Event()
    with open_store(store_url) as slow:  # a second gateway process
        write_case = slow._write_case  # type: ignore[attr-defined]

        def write_and_wait(*args: Any) -> None:
            write_case(*args)
            written.set()
            assert release.wait(30), "the test never released the slow transaction"

        slow._write_case = write_and_wait  # type: ignore[attr-defined]
        late = inbound(2, case="AU2026-0001")
        worker = threading.Thread(
            target=slow.record_inbound,
            args=(late, b"r"),
            kwargs={"case": update(1, listed_in(late), case="AU2026-0001", used=1)},
        )
        worker.start()
        try:
            assert written.wait(30), "the slow transaction did not write"
            _new_case(store, 3, "JP2026-0002")
            # The slow write is not committed: the read neither waits for it nor lists it; the new case is listed.
            page = store.case_changes(after=start.next, limit=10)
            assert _changed(page) == ["JP2026-0002"]
            assert store.cases(since=0, limit=10, updated_since=page.cases[0].updated_at).cases == page.cases
        finally:
            release.set()
            worker.join(30)
    following = store.case_changes(after=page.next, limit=10)
    assert _changed(following) == ["AU2026-0001"] and following.cases[0].shipments_used == 1
    # Polling by time from the last row seen would have passed it: it was written before, committed after.
    assert _changed(store.cases(since=0, limit=10, updated_since=page.cases[0].updated_at)) == ["JP2026-0002"]


def test_case_rows_of_schema_4_enter_the_change_feed_in_order_of_creation(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the upgrade to schema 5 the rows written before are numbered by the first feed read."""
    module = _migrate_to(store_url, 4, monkeypatch)
    for number in ("AU2026-0001", "AU2026-0002"):
        _execute(
            store_url,
            "INSERT INTO pic_case (notification_number, state, blocked, violations, warnings, shipments_used,"
            f" message_count, updated_at, version) VALUES ('{number}', 'awaited',"
            f" {'1' if store_url.startswith('sqlite') else 'true'}, 0, 0, 0, 0, '2026-03-01T12:00:00.000000Z', 1)",
        )
    monkeypatch.undo()
    with open_store(store_url) as upgraded:
        assert upgraded.migrate() == len(module.MIGRATIONS)
        page = upgraded.case_changes(after=0, limit=10)
        assert _changed(page) == ["AU2026-0001", "AU2026-0002"] and [row.change for row in page.cases] == [1, 2]
