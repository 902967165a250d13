"""Backing up a SQLite store while another writer goes on (``SqliteStore.backup``, ``picexchange backup``).

The copy must be one consistent snapshot: every transaction committed before it began, none half (a case row
whose message count disagrees with its listed messages would be half a transaction), checked, and a file of its
own that a store opens. The CLI's end-to-end test, against a running Single Window, is in test_gateway_cases.py.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from case_rows import listed_in, summary
from picexchange.errors import StoreError
from picexchange.store import CaseUpdate, InboundMessage, open_store
from picexchange.store.sqlite import MIGRATIONS, SqliteStore

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CASES = [f"AU2026-{n:04d}" for n in range(1, 6)]


def _write(store: SqliteStore, n: int, versions: dict[str, int]) -> None:
    """Store message ``n`` of one of the CASES with its case update (the case row and one listed message)."""
    number = CASES[n % len(CASES)]
    message = InboundMessage(
        sender="AU:ABF",
        receiver="MY:RMCD",
        message_id=str(uuid.UUID(int=n + 1)),
        conversation_id=number,
        message_type="ExportData",
        utility_block="export",
        created=T0,
        received_at=T0 + dt.timedelta(seconds=n),
        data=b"<Envelope>" + bytes(2000) + b"</Envelope>",
    )
    row = summary(case=number, used=versions.get(number, 0), shipments_notified=10_000)
    update = CaseUpdate(summary=row, messages=(listed_in(message),), expected_version=versions.get(number, 0))
    store.record_inbound(message, b"receipt", case=update)
    versions[number] = versions.get(number, 0) + 1


def _open(path: Path) -> SqliteStore:
    store = open_store(f"sqlite://{path}")
    assert isinstance(store, SqliteStore)
    return store


def test_a_backup_taken_while_another_store_writes_is_one_consistent_snapshot(tmp_path: Path) -> None:
    path, target = tmp_path / "gateway.db", tmp_path / "copy" / "gateway.db"
    target.parent.mkdir()
    versions: dict[str, int] = {}
    with _open(path) as store:
        store.migrate()
        for n in range(200):
            _write(store, n, versions)
    writing, stop = threading.Event(), threading.Event()
    written = [200]

    def another_process() -> None:  # a second connection to the file, as a gateway process has
        with _open(path) as other:
            while not stop.is_set():
                _write(other, written[0], versions)
                written[0] += 1
                writing.set()

    writer = threading.Thread(target=another_process)
    writer.start()
    try:
        assert writing.wait(30), "the writer did not start"
        with _open(path) as store:
            copy = store.backup(target)
            taken_after = written[0]
        # The writer was never stopped by the copy: it goes on writing after it (within a bounded wait).
        deadline = time.monotonic() + 30
        while written[0] <= taken_after and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join(30)
    assert written[0] > taken_after > 200, "the writer did not go on while the copy was taken"

    assert (copy.path, copy.size, copy.schema_version) == (target, target.stat().st_size, len(MIGRATIONS))
    assert 200 <= copy.received <= written[0] and copy.sent == 0 and copy.cases == len(CASES)
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(item.name for item in target.parent.iterdir()) == ["gateway.db"]
    with sqlite3.connect(target) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
        # None half: each case row counts exactly the messages listed under it, and each listed message is stored.
        assert (
            db.execute(
                "SELECT notification_number FROM pic_case WHERE message_count !="
                " (SELECT count(*) FROM case_message AS listed"
                " WHERE listed.notification_number = pic_case.notification_number)"
            ).fetchall()
            == []
        )
        assert db.execute(
            "SELECT count(*) FROM case_message LEFT JOIN inbound USING (sender, message_id)"
            " WHERE inbound.message_id IS NULL"
        ).fetchone() == (0,)
        assert db.execute("SELECT sum(message_count) FROM pic_case").fetchone() == (copy.received,)
    with _open(target) as restored:  # a gateway started on the copy
        assert restored.migrate() == len(MIGRATIONS)
        assert sum(row.message_count for row in restored.cases(since=0, limit=100).cases) == copy.received


def test_a_backup_never_replaces_a_file_and_leaves_nothing_when_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    with _open(path) as store:
        store.migrate()
        _write(store, 0, {})
        taken = tmp_path / "taken.db"
        taken.write_bytes(b"an operator's file")
        with pytest.raises(StoreError, match="exists: a backup never replaces a file") as refused:
            store.backup(taken)
        assert not refused.value.retryable and taken.read_bytes() == b"an operator's file"
        with pytest.raises(StoreError, match="cannot write the backup in") as nowhere:
            store.backup(tmp_path / "no-such-folder" / "copy.db")
        assert not nowhere.value.retryable
    assert sorted(item.name for item in tmp_path.iterdir() if not item.name.startswith("gateway.db")) == ["taken.db"]
