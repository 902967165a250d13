"""One suite for every message store backend: SQLite (a file in tmp_path) and PostgreSQL (a fresh schema).

Each test gets a store URL of its own; the PostgreSQL schema is created before and dropped after the test,
and the store reaches it through ``search_path``, so no other schema is ever touched.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from picexchange.errors import ConfigurationError, ConflictError, StoreError
from picexchange.store import (
    INBOUND_LIFECYCLE,
    OUTBOUND_LIFECYCLE,
    BackofficeAction,
    Enqueued,
    Idempotency,
    InboundEvent,
    InboundMessage,
    InboundState,
    OutboundEvent,
    OutboundMessage,
    OutboundState,
    Store,
    digest_of,
    open_store,
)
from picexchange.store import sqlite as sqlite_store
from picexchange.store.base import transition
from picexchange.store.postgres import MIGRATIONS as PG_MIGRATIONS
from picexchange.store.postgres import PostgresStore
from picexchange.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from picexchange.store.sqlite import SqliteStore
from picexchange.testing import free_port
from postgres_server import PG_SERVER, postgres_schema, require_postgres

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=30)
SRC = str(Path(__file__).resolve().parent.parent / "src")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Yield a migrated store on the test's database."""
    with open_store(store_url) as opened:
        opened.migrate()
        yield opened


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one read query on the test database, beside the store (to look at what it wrote)."""
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return db.execute(sql).fetchall()
    with psycopg.connect(url) as conn:
        return conn.execute(sql.encode()).fetchall()


def inbound(n: int = 1, *, sender: str = "DE-SW", data: bytes | None = None, **fields: Any) -> InboundMessage:
    """Return a received message; ``n`` makes its id and bytes distinct."""
    values: dict[str, Any] = {
        "sender": sender,
        "receiver": "FR-SW",
        "message_id": str(uuid.UUID(int=n)),
        "conversation_id": "DE-2026-0001",
        "message_type": "Notification",
        "utility_block": "pic",
        "created": T0 - dt.timedelta(seconds=5),
        "received_at": T0,
        "data": data if data is not None else f"<Envelope n='{n}'/>".encode(),
    }
    values.update(fields)
    return InboundMessage(**values)


def outbound(n: int = 1, **fields: Any) -> OutboundMessage:
    """Return a signed message to send; ``n`` makes its id and bytes distinct."""
    values: dict[str, Any] = {
        "message_id": str(uuid.UUID(int=1000 + n)),
        "receiver": "FR-SW",
        "endpoint": "default",
        "conversation_id": "DE-2026-0001",
        "message_type": "Notification",
        "created": T0,
        "data": f"<Envelope out='{n}'/>".encode(),
    }
    values.update(fields)
    return OutboundMessage(**values)


# ------------------------------------------------------------------------------------------------ lifecycles


@pytest.mark.parametrize(
    ("lifecycle", "states", "events"),
    [
        (INBOUND_LIFECYCLE, InboundState, InboundEvent),
        (OUTBOUND_LIFECYCLE, OutboundState, OutboundEvent),
    ],
)
def test_transition_raises_for_every_pair_not_in_the_table(lifecycle: Any, states: Any, events: Any) -> None:
    """Every (state, event) pair is either in the table or refused with a StoreError."""
    for state, event in itertools.product(states, events):
        if (state, event) in lifecycle:
            assert transition(lifecycle, state, event, what="m") is lifecycle[(state, event)]
        else:
            with pytest.raises(StoreError, match=f"cannot {event.value}"):
                transition(lifecycle, state, event, what="m")


def test_final_states_have_no_way_out() -> None:
    """Acknowledged and receipted are final: no event leads from them to another state."""
    finals = {InboundState.ACKNOWLEDGED, OutboundState.RECEIPTED}
    for table in (INBOUND_LIFECYCLE, OUTBOUND_LIFECYCLE):
        for (state, _), target in table.items():
            if state in finals:
                assert target is state


def test_only_an_operator_leads_out_of_failed() -> None:
    """No worker event leaves failed: only an operator's requeue does, and only to queued."""
    leaving = {event: target for (state, event), target in OUTBOUND_LIFECYCLE.items() if state is OutboundState.FAILED}
    assert leaving == {OutboundEvent.REQUEUE: OutboundState.QUEUED}


def test_the_store_package_exports_exactly_its_public_names() -> None:
    """``picexchange.store.__all__`` is sorted and lists every public name the package holds."""
    import picexchange.store as package

    assert package.__all__ == sorted(package.__all__, key=lambda n: (not n.isupper(), n))
    public = {name for name, value in vars(package).items() if not name.startswith("_")}
    modules = {name for name in public if type(getattr(package, name)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(package.__all__)


# --------------------------------------------------------------------------------------------- open, migrate


@pytest.mark.parametrize("url", ["mysql://localhost/x", "sqlite://", "/var/lib/gateway.db", "file:///x.db"])
def test_open_store_refuses_unknown_urls(url: str) -> None:
    """A URL that names no store (or no path) is a configuration error, not a store failure."""
    with pytest.raises(ConfigurationError):
        open_store(url)


def test_open_store_in_memory_works() -> None:
    """``sqlite://:memory:`` gives a working store, for tests of the layers above."""
    with open_store("sqlite://:memory:") as memory:
        assert memory.migrate() == len(SQLITE_MIGRATIONS)
        assert memory.record_inbound(inbound(), b"receipt").duplicate is False


def test_sqlite_file_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    """A database in a folder that does not exist fails with StoreError, the sqlite3 error chained."""
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite://{tmp_path / 'missing' / 'gateway.db'}")
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_unreachable_postgres_is_a_store_error() -> None:
    """A PostgreSQL server that does not answer fails at open with StoreError, the psycopg error chained."""
    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://127.0.0.1:1/test?connect_timeout=2")
    assert isinstance(info.value.__cause__, psycopg.Error)


def test_migrate_is_idempotent_and_records_the_schema_version(store_url: str) -> None:
    """Migrating twice applies each step once and records every version in schema_version."""
    expected = len(SQLITE_MIGRATIONS if store_url.startswith("sqlite") else PG_MIGRATIONS)
    with open_store(store_url) as first:
        assert first.migrate() == expected
        first.record_inbound(inbound(), b"receipt")
    with open_store(store_url) as again:
        assert again.migrate() == expected
        assert again.inbound_status("DE-SW", inbound().message_id) is not None
    assert _query(store_url, "SELECT version FROM schema_version ORDER BY version") == [
        (v,) for v in range(1, expected + 1)
    ]


def test_gateways_starting_together_migrate_once(store_url: str) -> None:
    """Two stores migrating the same empty database at the same time both succeed, and each step runs once."""
    stores = [open_store(store_url), open_store(store_url)]
    errors: list[BaseException] = []

    def run(target: Store) -> None:
        try:
            target.migrate()
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for s in stores:
        s.close()
    assert errors == []
    assert _query(store_url, "SELECT count(*) FROM schema_version") == [(len(SQLITE_MIGRATIONS),)]


def test_a_closed_store_refuses_work(store_url: str) -> None:
    """After close() (also by leaving the with block) every call raises StoreError; close() may repeat."""
    with open_store(store_url) as closing:
        closing.migrate()
    with pytest.raises(StoreError):
        closing.record_inbound(inbound(), b"receipt")
    with pytest.raises(StoreError):
        closing.case_summary("DE-2026-0001")
    closing.close()


# ------------------------------------------------------------------------------------------------- inbound


def test_record_inbound_returns_our_receipt_and_the_digest_of_the_exact_bytes(store: Store) -> None:
    """A new message is stored with the base64 SHA-256 of its bytes, and our receipt is answered."""
    message = inbound(data=b"<Envelope>\r\n  exact bytes \xc3\xa9</Envelope>")
    recorded = store.record_inbound(message, b"our receipt")
    assert recorded.duplicate is False
    assert recorded.receipt == b"our receipt"
    assert recorded.digest == base64.b64encode(hashlib.sha256(message.data).digest()).decode()
    status = store.inbound_status(message.sender, message.message_id)
    assert status is not None
    assert (status.state, status.digest, status.received_at) == (InboundState.RECEIVED, recorded.digest, T0)


def test_same_message_again_returns_the_original_receipt(store: Store) -> None:
    """The same sender, id and bytes again is a duplicate: the original receipt, nothing stored twice."""
    store.record_inbound(inbound(), b"original receipt")
    again = store.record_inbound(replace(inbound(), received_at=T0 + dt.timedelta(minutes=5)), b"new receipt")
    assert again.duplicate is True
    assert again.receipt == b"original receipt"
    assert store.counts().inbound[InboundState.RECEIVED] == 1


def test_same_id_with_other_bytes_is_a_conflict_and_stores_nothing(store: Store) -> None:
    """The same sender and id with other bytes raises ConflictError; the original stays as it was."""
    original = inbound()
    store.record_inbound(original, b"original receipt")
    forged = replace(original, data=b"<Envelope>other</Envelope>")
    with pytest.raises(ConflictError) as info:
        store.record_inbound(forged, b"forged receipt")
    assert info.value.message_id == original.message_id
    assert info.value.http_status == 409
    page = store.inbox(since=0, limit=10, at=T0)
    assert [entry.message.data for entry in page.messages] == [original.data]
    assert store.record_inbound(original, b"x").receipt == b"original receipt"


def test_the_dedup_key_is_sender_and_message_id(store: Store) -> None:
    """Two senders may use the same message id: they are two messages."""
    store.record_inbound(inbound(sender="DE-SW"), b"r1")
    second = store.record_inbound(inbound(sender="NL-SW", data=b"<other/>"), b"r2")
    assert second.duplicate is False
    assert store.counts().inbound[InboundState.RECEIVED] == 2


def test_concurrent_copies_of_one_message_are_stored_once(store_url: str) -> None:
    """Eight threads on two stores racing to record the same message: one stores it, all answer its receipt."""
    stores = [open_store(store_url), open_store(store_url)]
    stores[0].migrate()
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        try:
            results.append(stores[n % 2].record_inbound(inbound(), f"receipt {n}".encode()))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            results.append(exc)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for s in stores:
        s.close()
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.receipt for r in results}) == 1


def test_inbox_pages_through_the_log_with_a_cursor(store: Store) -> None:
    """Pages follow arrival order; next is the cursor for the following page; has_more says if one follows."""
    for n in range(1, 6):
        store.record_inbound(inbound(n), b"receipt")
    first = store.inbox(since=0, limit=2, at=T0)
    second = store.inbox(since=first.next, limit=2, at=T0)
    third = store.inbox(since=second.next, limit=2, at=T0)
    empty = store.inbox(since=third.next, limit=2, at=T0)
    ids = [[entry.message.message_id for entry in page.messages] for page in (first, second, third)]
    assert ids == [[inbound(1).message_id, inbound(2).message_id], [inbound(3).message_id, inbound(4).message_id],
                   [inbound(5).message_id]]  # fmt: skip
    assert [first.has_more, second.has_more, third.has_more] == [True, True, False]
    assert (empty.messages, empty.next, empty.has_more) == ((), third.next, False)
    sequences = [entry.sequence for page in (first, second, third) for entry in page.messages]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5


def test_inbox_returns_the_exact_bytes_and_header_fields(store: Store) -> None:
    """What the back office pulls is what was received: bytes, header fields, instants (any time zone)."""
    cet = dt.timezone(dt.timedelta(hours=1))
    message = inbound(
        7,
        data=b"<?xml version='1.0'?>\n<Envelope>\x00\xff</Envelope>",
        ref_to_message_id=str(uuid.UUID(int=3)),
        created=dt.datetime(2026, 3, 1, 13, 0, 0, 123456, tzinfo=cet),
    )
    recorded = store.record_inbound(message, b"receipt")
    (entry,) = store.inbox(since=0, limit=10, at=T0).messages
    assert entry.message == message
    assert entry.digest == recorded.digest


def test_pulling_marks_received_messages_delivered_and_reading_again_changes_nothing(store: Store) -> None:
    """A pulled message is delivered, stamped once; the log can be read again from an older cursor."""
    store.record_inbound(inbound(1), b"r")
    store.record_inbound(inbound(2), b"r")
    first = store.inbox(since=0, limit=1, at=T0)
    status = store.inbound_status("DE-SW", inbound(1).message_id)
    assert status is not None and status.state is InboundState.DELIVERED and status.delivered_at == T0
    assert store.inbound_status("DE-SW", inbound(2).message_id).state is InboundState.RECEIVED  # type: ignore[union-attr]
    again = store.inbox(since=0, limit=10, at=T0 + dt.timedelta(hours=1))
    assert [e.sequence for e in again.messages][:1] == [e.sequence for e in first.messages]
    status = store.inbound_status("DE-SW", inbound(1).message_id)
    assert status is not None and status.delivered_at == T0


def test_a_message_recorded_after_a_pull_comes_after_the_cursor(store: Store) -> None:
    """The cursor never skips: a message stored after a page was read is on the next page."""
    store.record_inbound(inbound(1), b"r")
    page = store.inbox(since=0, limit=10, at=T0)
    store.record_inbound(inbound(2), b"r")
    following = store.inbox(since=page.next, limit=10, at=T0)
    assert [e.message.message_id for e in following.messages] == [inbound(2).message_id]


def test_a_message_committed_late_is_not_skipped_by_the_cursor(store_url: str, store: Store) -> None:
    """A message whose transaction began first but committed after a pull still comes after that cursor.

    PostgreSQL hands out identity values at insert time, not at commit: a cursor over them would skip the late
    committer. (SQLite runs one writer at a time, so commit order is insert order there.)
    """
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: a transaction cannot stay open beside the store's")
    late = inbound(1)
    with psycopg.connect(store_url) as slow:  # a second gateway process, mid-transaction
        slow.execute(
            "INSERT INTO inbound (sender, message_id, receiver, conversation_id, message_type, utility_block,"
            " created, received_at, digest, data, receipt, state)"
            " VALUES (%s, %s, 'FR-SW', 'DE-1', 'Notification', 'pic', %s, %s, 'd', %s, %s, 'received')",
            (late.sender, late.message_id, T0, T0, late.data, b"r"),
        )
        store.record_inbound(inbound(2), b"r")
        page = store.inbox(since=0, limit=10, at=T0)
        assert [e.message.message_id for e in page.messages] == [inbound(2).message_id]
        slow.commit()
    following = store.inbox(since=page.next, limit=10, at=T0)
    assert [e.message.message_id for e in following.messages] == [late.message_id]


def test_acknowledge_marks_pulled_messages_acknowledged_and_may_repeat(store: Store) -> None:
    """Acknowledging what was pulled makes it final; acknowledging it again is harmless."""
    store.record_inbound(inbound(1), b"r")
    page = store.inbox(since=0, limit=10, at=T0)
    later = T0 + dt.timedelta(minutes=1)
    store.acknowledge_inbound([e.sequence for e in page.messages], at=later)
    store.acknowledge_inbound([e.sequence for e in page.messages], at=later + dt.timedelta(minutes=1))
    status = store.inbound_status("DE-SW", inbound(1).message_id)
    assert status is not None
    assert (status.state, status.acknowledged_at) == (InboundState.ACKNOWLEDGED, later)
    assert store.counts().inbound == {InboundState.RECEIVED: 0, InboundState.DELIVERED: 0, InboundState.ACKNOWLEDGED: 1}


def test_acknowledging_a_message_never_pulled_is_refused_and_changes_nothing(store_url: str, store: Store) -> None:
    """All or none: one entry the back office was never handed makes the whole acknowledgement fail."""
    store.record_inbound(inbound(1), b"r")
    store.record_inbound(inbound(2), b"r")
    page = store.inbox(since=0, limit=1, at=T0)  # hands out the first; the second is numbered, still received
    assert page.has_more
    ((unpulled,),) = _query(store_url, f"SELECT sequence FROM inbound WHERE message_id = '{inbound(2).message_id}'")
    with pytest.raises(StoreError, match="cannot acknowledge a message that is received"):
        store.acknowledge_inbound([page.next, unpulled], at=T0)
    assert store.counts().inbound == {InboundState.RECEIVED: 1, InboundState.DELIVERED: 1, InboundState.ACKNOWLEDGED: 0}


def test_acknowledging_an_unknown_sequence_number_is_refused(store: Store) -> None:
    """A sequence number the inbox never handed out is an error, not silently ignored."""
    store.record_inbound(inbound(1), b"r")
    page = store.inbox(since=0, limit=10, at=T0)
    with pytest.raises(StoreError, match="no inbox entries"):
        store.acknowledge_inbound([page.next, page.next + 1000], at=T0)
    assert store.counts().inbound[InboundState.ACKNOWLEDGED] == 0


def test_status_of_an_unknown_message_is_none(store: Store) -> None:
    """Asking about a message never stored or enqueued answers None."""
    assert store.inbound_status("DE-SW", str(uuid.uuid4())) is None
    assert store.outbound_status(str(uuid.uuid4())) is None


# ------------------------------------------------------------------------------------------------- outbox


def test_enqueued_message_is_due_at_once_and_claimed_with_a_lease(store: Store) -> None:
    """A queued message is claimed with its exact bytes; it is sending until its lease expires."""
    store.enqueue(outbound(1), at=T0)
    assert store.outbound_status(outbound(1).message_id).state is OutboundState.QUEUED  # type: ignore[union-attr]
    (claimed,) = store.claim_due(now=T0, lease=LEASE, limit=10, worker="w1")
    assert claimed == outbound(1)
    status = store.outbound_status(claimed.message_id)
    assert status is not None
    assert (status.state, status.worker, status.lease_expires_at, status.attempts) == (
        OutboundState.SENDING,
        "w1",
        T0 + LEASE,
        0,
    )
    assert store.claim_due(now=T0 + LEASE - dt.timedelta(microseconds=1), lease=LEASE, limit=10, worker="w2") == []


def test_an_expired_lease_is_claimed_again_by_another_worker(store: Store) -> None:
    """A crashed worker's claim expires: at the lease end another worker takes the message over."""
    store.enqueue(outbound(1), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=10, worker="crashed")
    (reclaimed,) = store.claim_due(now=T0 + LEASE, lease=LEASE, limit=10, worker="w2")
    assert reclaimed.message_id == outbound(1).message_id
    status = store.outbound_status(reclaimed.message_id)
    assert status is not None and status.worker == "w2" and status.lease_expires_at == T0 + 2 * LEASE


def test_enqueue_is_idempotent_for_the_same_bytes_and_refuses_other_bytes(store: Store) -> None:
    """The outbox id is unique: the same message again is a no-op, another message with its id a conflict."""
    store.enqueue(outbound(1), at=T0)
    store.enqueue(outbound(1), at=T0 + dt.timedelta(seconds=1))
    with pytest.raises(ConflictError):
        store.enqueue(replace(outbound(1), data=b"<other/>"), at=T0)
    assert store.counts().outbound[OutboundState.QUEUED] == 1
    (claimed,) = store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
    assert claimed.data == outbound(1).data


def test_retry_requeues_until_the_next_attempt_and_counts_the_attempt(store: Store) -> None:
    """A retry puts the message back, not due before next_attempt_at; the same bytes are sent again."""
    store.enqueue(outbound(1), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
    next_attempt = T0 + dt.timedelta(minutes=2)
    store.mark_retry(outbound(1).message_id, worker="w", error="connect timeout", next_attempt_at=next_attempt, at=T0)
    status = store.outbound_status(outbound(1).message_id)
    assert status is not None
    assert (status.state, status.attempts, status.last_error, status.next_attempt_at) == (
        OutboundState.QUEUED,
        1,
        "connect timeout",
        next_attempt,
    )
    assert store.claim_due(now=next_attempt - dt.timedelta(seconds=1), lease=LEASE, limit=10, worker="w") == []
    (again,) = store.claim_due(now=next_attempt, lease=LEASE, limit=10, worker="w")
    assert (again.data, again.attempts) == (outbound(1).data, 1)


def test_receipt_makes_the_message_final_and_keeps_the_first_receipt(store: Store) -> None:
    """A receipted message is never claimed again; a late second receipt changes nothing."""
    store.enqueue(outbound(1), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
    store.mark_receipted(outbound(1).message_id, b"their receipt", at=T0 + dt.timedelta(seconds=1))
    store.mark_receipted(outbound(1).message_id, b"late receipt", at=T0 + dt.timedelta(seconds=9))
    status = store.outbound_status(outbound(1).message_id)
    assert status is not None
    assert (status.state, status.receipt, status.receipted_at, status.attempts) == (
        OutboundState.RECEIPTED,
        b"their receipt",
        T0 + dt.timedelta(seconds=1),
        1,
    )
    assert store.claim_due(now=T0 + dt.timedelta(days=1), lease=LEASE, limit=10, worker="w") == []


def test_failed_message_is_final(store: Store) -> None:
    """A failed message keeps its error and is never claimed again."""
    store.enqueue(outbound(1), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
    store.mark_failed(outbound(1).message_id, worker="w", error="remote error: signature", at=T0)
    status = store.outbound_status(outbound(1).message_id)
    assert status is not None
    assert (status.state, status.last_error, status.next_attempt_at) == (
        OutboundState.FAILED,
        "remote error: signature",
        None,
    )
    assert store.claim_due(now=T0 + dt.timedelta(days=1), lease=LEASE, limit=10, worker="w") == []


def _failed(store: Store, n: int = 1) -> str:
    """Queue, claim and fail ``outbound(n)``; return its message id."""
    store.enqueue(outbound(n), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
    store.mark_failed(outbound(n).message_id, worker="w", error="gave up after 8 attempts: timeout", at=T0)
    return outbound(n).message_id


def test_requeue_sends_a_failed_message_again_with_the_same_bytes(store: Store) -> None:
    """A requeued failed message is queued, due at once, keeps its attempts and error, and is claimed unchanged."""
    message_id = _failed(store)
    later = T0 + dt.timedelta(hours=2)
    store.requeue(message_id, at=later)
    status = store.outbound_status(message_id)
    assert status is not None
    assert (status.state, status.next_attempt_at, status.attempts, status.last_error, status.updated_at) == (
        OutboundState.QUEUED,
        later,
        1,
        "gave up after 8 attempts: timeout",
        later,
    )
    (claimed,) = store.claim_due(now=later, lease=LEASE, limit=10, worker="w2")
    assert (claimed.message_id, claimed.data) == (message_id, outbound(1).data)


@pytest.mark.parametrize("setup", ["queued", "sending", "receipted"])
def test_requeue_refuses_a_message_that_is_not_failed(store: Store, setup: str) -> None:
    """Only a failed message can be requeued; the refusal is not retryable and changes nothing."""
    store.enqueue(outbound(1), at=T0)
    if setup != "queued":
        store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
    if setup == "receipted":
        store.mark_receipted(outbound(1).message_id, b"receipt", at=T0)
    with pytest.raises(StoreError, match=f"cannot requeue a message that is {setup}") as caught:
        store.requeue(outbound(1).message_id, at=T0)
    assert not caught.value.retryable
    status = store.outbound_status(outbound(1).message_id)
    assert status is not None and status.state.value == setup


def test_give_up_fails_a_queued_message_with_the_reason(store: Store) -> None:
    """A given-up message is failed with the operator's reason, never claimed again, and can be requeued."""
    store.enqueue(outbound(1), at=T0)
    store.give_up(outbound(1).message_id, reason="given up by ops: partner decommissioned", at=T0)
    status = store.outbound_status(outbound(1).message_id)
    assert status is not None
    assert (status.state, status.last_error, status.attempts) == (
        OutboundState.FAILED,
        "given up by ops: partner decommissioned",
        0,
    )
    assert store.claim_due(now=T0 + dt.timedelta(days=1), lease=LEASE, limit=10, worker="w") == []


@pytest.mark.parametrize("setup", ["sending", "failed"])
def test_give_up_refuses_a_message_that_is_not_queued(store: Store, setup: str) -> None:
    """A message being sent waits for its worker; a failed one is already given up."""
    if setup == "failed":
        message_id = _failed(store)
    else:
        store.enqueue(outbound(1), at=T0)
        store.claim_due(now=T0, lease=LEASE, limit=10, worker="w")
        message_id = outbound(1).message_id
    with pytest.raises(StoreError, match=f"cannot give-up a message that is {setup}"):
        store.give_up(message_id, reason="no", at=T0)


def test_operator_actions_on_an_unknown_message_are_refused(store: Store) -> None:
    """Requeue and give-up name the unknown message."""
    with pytest.raises(StoreError, match="no outbound message nope"):
        store.requeue("nope", at=T0)
    with pytest.raises(StoreError, match="no outbound message nope"):
        store.give_up("nope", reason="x", at=T0)


def test_outbox_lists_newest_first_by_page_and_state(store: Store) -> None:
    """Pages follow ``next`` to older messages; a state filter keeps only those; bytes and status come along."""
    for n in range(1, 6):
        store.enqueue(outbound(n), at=T0 + dt.timedelta(seconds=n))
    failed = _failed(store, 6)
    first = store.outbox(limit=2)
    assert [e.message.message_id for e in first.entries] == [failed, outbound(5).message_id]
    assert first.has_more
    second = store.outbox(before=first.next, limit=10)
    assert [e.message.data for e in second.entries] == [outbound(n).data for n in (4, 3, 2, 1)]
    assert not second.has_more
    assert store.outbox(before=second.next, limit=10).entries == ()
    only = store.outbox(limit=10, states=[OutboundState.FAILED])
    assert [(e.message.message_id, e.status.state) for e in only.entries] == [(failed, OutboundState.FAILED)]
    entry = store.outbox_message(failed)
    assert entry is not None and entry.status.last_error == "gave up after 8 attempts: timeout"
    assert store.outbox_message("nope") is None


def test_received_lists_newest_first_without_marking_delivered(store: Store) -> None:
    """Operators' reads page by receiver and change no state (the back office has not taken the message)."""
    store.record_inbound(inbound(1), b"receipt 1")
    store.record_inbound(inbound(2, receiver="FR-CUSTOMS"), b"receipt 2")
    store.record_inbound(inbound(3), b"receipt 3")
    page = store.received(limit=1, receivers=["FR-SW"])
    assert [e.message.message_id for e in page.entries] == [inbound(3).message_id]
    assert page.has_more
    older = store.received(before=page.next, limit=5, receivers=["FR-SW"])
    assert [(e.message.message_id, e.receipt) for e in older.entries] == [(inbound(1).message_id, b"receipt 1")]
    assert not older.has_more
    assert len(store.received(limit=10).entries) == 3
    entry = store.received_message("DE-SW", inbound(2).message_id)
    assert entry is not None
    assert (entry.message.receiver, entry.message.data, entry.status.state) == (
        "FR-CUSTOMS",
        inbound(2).data,
        InboundState.RECEIVED,
    )
    assert store.received_message("DE-SW", "nope") is None
    assert store.counts().inbound[InboundState.RECEIVED] == 3


def test_traffic_counts_what_entered_since_a_moment(store: Store) -> None:
    """Received and queued messages at or after ``since`` are counted, older ones not."""
    store.record_inbound(inbound(1, received_at=T0 - dt.timedelta(days=1)), b"r")
    store.record_inbound(inbound(2), b"r")
    store.enqueue(outbound(1), at=T0 - dt.timedelta(hours=1))
    store.enqueue(outbound(2), at=T0)
    store.enqueue(outbound(3), at=T0 + dt.timedelta(hours=1))
    traffic = store.traffic(since=T0)
    assert (traffic.inbound, traffic.outbound) == (1, 2)


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("failed", "receipted"),
        ("queued", "retry"),
        ("queued", "failed"),
        ("receipted", "retry"),
        ("receipted", "failed"),
        ("failed", "retry"),
        ("other worker", "retry"),
        ("other worker", "failed"),
    ],
)
def test_an_outcome_for_a_message_this_worker_is_not_sending_changes_nothing(
    store: Store, setup: str, action: str
) -> None:
    """A retry or failure counts only from the worker holding the claim; a receipt for a failed one is refused."""
    message_id = outbound(1).message_id
    store.enqueue(outbound(1), at=T0)
    if setup != "queued":
        store.claim_due(now=T0, lease=LEASE, limit=1, worker="w")
        if setup == "receipted":
            store.mark_receipted(message_id, b"receipt", at=T0)
        elif setup == "failed":
            store.mark_failed(message_id, worker="w", error="no", at=T0)
    before = store.outbound_status(message_id)
    if action == "receipted":
        with pytest.raises(StoreError, match="cannot"):
            store.mark_receipted(message_id, b"receipt", at=T0)
    elif action == "retry":
        assert store.mark_retry(message_id, worker="other", error="e", next_attempt_at=T0, at=T0) is False
    else:
        assert store.mark_failed(message_id, worker="other", error="e", at=T0) is False
    assert store.outbound_status(message_id) == before


def test_a_stale_worker_cannot_undo_the_worker_that_took_its_claim_over(store: Store) -> None:
    """Worker A's lease lapses, B takes the message over; A's late failure is ignored, B's receipt counts."""
    message_id = outbound(1).message_id
    store.enqueue(outbound(1), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=1, worker="A")
    (taken,) = store.claim_due(now=T0 + LEASE + dt.timedelta(seconds=1), lease=LEASE, limit=1, worker="B")
    assert taken.message_id == message_id
    assert store.mark_failed(message_id, worker="A", error="gave up", at=T0 + LEASE) is False
    assert store.mark_receipted(message_id, b"receipt", at=T0 + LEASE) is True
    status = store.outbound_status(message_id)
    assert status is not None and status.state is OutboundState.RECEIPTED


def test_a_receipt_after_a_retry_was_recorded_still_counts(store: Store) -> None:
    """A receipt is proof of delivery even when it arrives after the message went back to the queue."""
    message_id = outbound(1).message_id
    store.enqueue(outbound(1), at=T0)
    store.claim_due(now=T0, lease=LEASE, limit=1, worker="w")
    assert store.mark_retry(message_id, worker="w", error="timeout", next_attempt_at=T0 + LEASE, at=T0)
    assert store.mark_receipted(message_id, b"late receipt", at=T0 + dt.timedelta(seconds=1)) is True
    status = store.outbound_status(message_id)
    assert status is not None and (status.state, status.receipt) == (OutboundState.RECEIPTED, b"late receipt")
    assert store.claim_due(now=T0 + LEASE * 2, lease=LEASE, limit=1, worker="w") == []


def test_an_outcome_for_an_unknown_message_is_refused(store: Store) -> None:
    """Marking a message the outbox never had raises StoreError."""
    with pytest.raises(StoreError, match="no outbound message"):
        store.mark_receipted(str(uuid.uuid4()), b"receipt", at=T0)


def test_claims_come_earliest_due_first_and_a_dead_partner_blocks_nobody(store: Store) -> None:
    """Claims are per message in due order: a partner whose messages keep failing does not hold others back."""
    for n in range(1, 4):
        store.enqueue(outbound(n, receiver="DEAD-SW"), at=T0 + dt.timedelta(seconds=n))
    for claimed in store.claim_due(now=T0 + dt.timedelta(seconds=5), lease=LEASE, limit=10, worker="w"):
        store.mark_retry(
            claimed.message_id, worker="w", error="down", next_attempt_at=T0 + dt.timedelta(hours=1), at=T0
        )
    store.enqueue(outbound(9, receiver="NL-SW"), at=T0 + dt.timedelta(seconds=6))
    store.enqueue(outbound(8, receiver="NL-SW"), at=T0 + dt.timedelta(seconds=7))
    claimed = store.claim_due(now=T0 + dt.timedelta(seconds=10), lease=LEASE, limit=1, worker="w")
    assert [m.message_id for m in claimed] == [outbound(9).message_id]
    # Due order: 8 (queued at +7 s), 9 (its lease ended at +40 s), then the dead partner's (+1 h).
    later = store.claim_due(now=T0 + dt.timedelta(hours=2), lease=LEASE, limit=10, worker="w")
    assert [m.message_id for m in later] == [outbound(n).message_id for n in (8, 9, 1, 2, 3)]


def test_times_without_a_zone_and_empty_limits_are_refused(store: Store) -> None:
    """A naive datetime is ambiguous once stored and a limit below 1 is a caller bug: both raise StoreError."""
    with pytest.raises(StoreError, match="aware"):
        store.enqueue(outbound(1), at=dt.datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001
    with pytest.raises(StoreError, match="limit"):
        store.claim_due(now=T0, lease=LEASE, limit=0, worker="w")
    with pytest.raises(StoreError, match="lease"):
        store.claim_due(now=T0, lease=dt.timedelta(0), limit=1, worker="w")
    with pytest.raises(StoreError, match="since"):
        store.inbox(since=-1, limit=1, at=T0)


_ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=10)), dt.timezone(-dt.timedelta(hours=5, minutes=30))])


@given(
    st.lists(
        st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=_ZONES),
        min_size=1,
        max_size=4,
    )
)
def test_sqlite_writes_a_time_as_fixed_width_utc_text(values: list[dt.datetime]) -> None:
    """Each time is the text strftime writes for its UTC instant, whichever time was written before it."""
    for value in [*values, *reversed(values), values[0]]:
        assert sqlite_store._text(value) == value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_sqlite_stores_the_times_of_a_message_in_utc_text(tmp_path: Path) -> None:
    """A time with another offset, and one without microseconds, are stored as their UTC text in every column."""
    path = tmp_path / "gateway.db"
    arrived = dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.timezone(dt.timedelta(hours=10)))
    with open_store(f"sqlite://{path}") as store:
        store.migrate()
        store.record_inbound(inbound(1, created=T0 - dt.timedelta(microseconds=1), received_at=arrived), b"r")
    assert _query(f"sqlite://{path}", "SELECT created, received_at FROM inbound") == [
        ("2026-03-01T11:59:59.999999Z", "2026-03-01T12:00:00.000000Z")
    ]


# -------------------------------------------------------------------------------------------- audit, counts


def test_audit_lines_are_counted_and_store_no_message(store: Store) -> None:
    """Each rejection adds one audit line, with or without a readable header; no inbound row appears."""
    store.audit(at=T0, sender="DE-SW", message_id=str(uuid.uuid4()), code="signature", text="bad signature")
    store.audit(at=T0, sender=None, message_id=None, code="parse", text="not XML")
    counts = store.counts()
    assert counts.rejected == 2
    assert sum(counts.inbound.values()) == 0


def test_counts_cover_every_state(store: Store) -> None:
    """Counts list every state, zero included, for /metrics."""
    store.record_inbound(inbound(1), b"r")
    for n in range(1, 4):
        store.enqueue(outbound(n), at=T0)
    first, second = store.claim_due(now=T0, lease=LEASE, limit=2, worker="w")
    store.mark_failed(first.message_id, worker="w", error="e", at=T0)
    counts = store.counts()
    assert counts.inbound == {InboundState.RECEIVED: 1, InboundState.DELIVERED: 0, InboundState.ACKNOWLEDGED: 0}
    assert counts.outbound == {
        OutboundState.QUEUED: 1,
        OutboundState.SENDING: 1,
        OutboundState.RECEIPTED: 0,
        OutboundState.FAILED: 1,
    }


# ------------------------------------------------------------------------------------------- concurrency

MESSAGES = 120

_WORKER_SCRIPT = textwrap.dedent(
    """
    import datetime as dt, json, sys, threading
    from picexchange.store import open_store

    url, name = sys.argv[1], sys.argv[2]
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    claimed, lock = [], threading.Lock()
    with open_store(url) as store:
        def work(worker):
            while batch := store.claim_due(now=now, lease=dt.timedelta(hours=1), limit=3, worker=worker):
                for message in batch:
                    with lock:
                        claimed.append(message.message_id)
                    store.mark_receipted(message.message_id, b"receipt", at=now)
        threads = [threading.Thread(target=work, args=(f"{name}-{i}",)) for i in range(4)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
    print(json.dumps(claimed))
    """
)


def _claim_in_threads(target: Store, name: str, claimed: list[str], errors: list[BaseException]) -> None:
    """Run 4 worker threads on ``target`` claiming and receipting until nothing is due."""

    def work(worker: str) -> None:
        try:
            while batch := target.claim_due(now=T0, lease=dt.timedelta(hours=1), limit=3, worker=worker):
                for message in batch:
                    claimed.append(message.message_id)
                    target.mark_receipted(message.message_id, b"receipt", at=T0)
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"{name}-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_stores_with_four_threads_each_claim_every_message_exactly_once(store_url: str) -> None:
    """Eight workers on two store instances of one database: each message is claimed once, then receipted."""
    first, second = open_store(store_url), open_store(store_url)
    first.migrate()
    for n in range(MESSAGES):
        first.enqueue(outbound(n), at=T0)
    claimed: list[str] = []
    errors: list[BaseException] = []
    runners = [
        threading.Thread(target=_claim_in_threads, args=(s, name, claimed, errors))
        for s, name in ((first, "a"), (second, "b"))
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    counts = first.counts()
    first.close()
    second.close()
    assert errors == []
    assert Counter(claimed) == Counter(outbound(n).message_id for n in range(MESSAGES))
    assert counts.outbound[OutboundState.RECEIPTED] == MESSAGES


def test_two_processes_with_four_threads_each_claim_every_message_exactly_once(store_url: str) -> None:
    """Two OS processes (two gateways) on one database: each message is claimed once, then receipted."""
    with open_store(store_url) as setup:
        setup.migrate()
        for n in range(MESSAGES):
            setup.enqueue(outbound(n), at=T0)
    env = {**os.environ, "PYTHONPATH": SRC}
    workers = [
        subprocess.Popen(  # noqa: S603 -- our own interpreter and script
            [sys.executable, "-c", _WORKER_SCRIPT, store_url, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for name in ("p1", "p2")
    ]
    claimed: list[str] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
        claimed += json.loads(out)
    assert Counter(claimed) == Counter(outbound(n).message_id for n in range(MESSAGES))
    with open_store(store_url) as check:
        assert check.counts().outbound[OutboundState.RECEIPTED] == MESSAGES


# ---------------------------------------------------------------------------------------------- durability

_RECORD_THEN_WAIT = textwrap.dedent(
    """
    import datetime as dt, signal, sys
    from picexchange.store import InboundMessage, open_store

    store = open_store(sys.argv[1])
    store.migrate()
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    message = InboundMessage(sender="DE-SW", receiver="FR-SW", message_id=sys.argv[2], conversation_id="DE-1",
                             message_type="Notification", utility_block="pic", created=at, received_at=at,
                             data=b"<Envelope>durable</Envelope>")
    store.record_inbound(message, b"signed receipt")
    print("recorded", flush=True)
    signal.pause()  # until the test's SIGKILL: no sleep, no deadline
    """
)


def test_a_recorded_message_survives_the_process_being_killed(store_url: str) -> None:
    """Once record_inbound returned (and the gateway acknowledged), SIGKILL loses nothing: it is on disk."""
    message_id = str(uuid.uuid4())
    child = subprocess.Popen(  # noqa: S603 -- our own interpreter and script
        [sys.executable, "-c", _RECORD_THEN_WAIT, store_url, message_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        child.send_signal(signal.SIGKILL)
        assert line == b"recorded\n", child.stderr.read().decode() if child.stderr else ""
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    with open_store(store_url) as reopened:
        status = reopened.inbound_status("DE-SW", message_id)
        assert status is not None and status.state is InboundState.RECEIVED
        again = reopened.record_inbound(
            inbound(sender="DE-SW", message_id=message_id, data=b"<Envelope>durable</Envelope>"), b"other receipt"
        )
        assert (again.duplicate, again.receipt) == (True, b"signed receipt")


def test_claims_can_pass_over_partners_that_have_enough_in_flight(store: Store) -> None:
    """The outbox worker caps deliveries per partner: messages for a skipped receiver stay queued."""
    store.enqueue(outbound(1, receiver="SLOW-SW"), at=T0)
    store.enqueue(outbound(2, receiver="SLOW-SW"), at=T0 + dt.timedelta(seconds=1))
    store.enqueue(outbound(3, receiver="NL-SW"), at=T0 + dt.timedelta(seconds=2))
    claimed = store.claim_due(now=T0 + LEASE, lease=LEASE, limit=10, worker="w", skip_receivers={"SLOW-SW"})
    assert [m.message_id for m in claimed] == [outbound(3).message_id]
    rest = store.claim_due(now=T0 + LEASE, lease=LEASE, limit=10, worker="w", skip_receivers=())
    assert [m.message_id for m in rest] == [outbound(1).message_id, outbound(2).message_id]


# ------------------------------------------------------------------------------ back office: audit of actions


def action(n: int = 1, **fields: Any) -> BackofficeAction:
    """Return a back-office action; ``n`` makes its time and target distinct."""
    values: dict[str, Any] = {
        "at": T0 + dt.timedelta(seconds=n),
        "client": "customs-app",
        "action": "inbox.read",
        "target": f"since={n}",
        "outcome": "ok",
        "participant": None,
    }
    values.update(fields)
    return BackofficeAction(**values)


def test_actions_are_read_back_in_the_order_recorded_with_a_cursor(store: Store) -> None:
    """The audit log pages like the inbox: increasing sequence numbers, ``next``, ``has_more``, every field kept."""
    recorded = [
        action(3, action="outbox.submit", target=str(uuid.uuid4()), participant="DE-CUSTOMS"),
        action(1, client="other", outcome="unauthorized", target=None),  # recorded later, but earlier in time
        action(2, action="auth", outcome="forbidden"),
    ]
    for one in recorded:
        store.record_action(one)
    first = store.actions(since=0, limit=2)
    assert [e.action for e in first.entries] == recorded[:2]
    assert first.has_more
    assert first.next == first.entries[-1].sequence
    assert first.entries[0].sequence < first.entries[1].sequence
    rest = store.actions(since=first.next, limit=2)
    assert [e.action for e in rest.entries] == recorded[2:]
    assert not rest.has_more
    empty = store.actions(since=rest.next, limit=2)
    assert (empty.entries, empty.next, empty.has_more) == ((), rest.next, False)


def test_actions_survive_reopening_the_store(store_url: str) -> None:
    """Recorded actions are durable: another store on the same database reads them, and appends after them."""
    with open_store(store_url) as first:
        first.migrate()
        first.record_action(action(1))
    with open_store(store_url) as again:
        again.migrate()
        again.record_action(action(2))
        page = again.actions(since=0, limit=10)
    assert [e.action for e in page.entries] == [action(1), action(2)]


def test_action_fields_and_limits_are_checked(store: Store) -> None:
    """Fields beyond the agreed bounds, empty ones, a naive time and bad cursors are refused, not retryable."""
    bad_actions = [
        action(action="x" * 65),
        action(target="x" * 501),
        action(client=""),
        action(outcome=""),
        action(participant="x" * 201),
        action(at=dt.datetime(2026, 3, 1, 12, 0)),  # noqa: DTZ001
    ]
    for bad in bad_actions:
        with pytest.raises(StoreError) as info:
            store.record_action(bad)
        assert info.value.retryable is False
    store.record_action(action(action="x" * 64, target="x" * 500))
    for since, limit in [(-1, 1), (0, 0), (2**63, 1), (0, 2**63)]:
        with pytest.raises(StoreError) as info:
            store.actions(since=since, limit=limit)
        assert info.value.retryable is False
    assert len(store.actions(since=0, limit=10).entries) == 1


def test_concurrent_actions_get_distinct_sequence_numbers_in_log_order(store_url: str) -> None:
    """Two stores recording from four threads each lose no action and number each one once."""
    stores = [open_store(store_url), open_store(store_url)]
    stores[0].migrate()
    errors: list[BaseException] = []

    def record(target: Store, base: int) -> None:
        try:
            for n in range(base, base + 25):
                target.record_action(action(n))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(stores[i % 2], 100 * i)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    page = stores[0].actions(since=0, limit=1000)
    for s in stores:
        s.close()
    assert errors == []
    sequences = [e.sequence for e in page.entries]
    assert sequences == sorted(set(sequences))
    assert len(sequences) == 200
    assert {e.action.target for e in page.entries} == {f"since={100 * i + n}" for i in range(8) for n in range(25)}


def test_an_action_committed_late_is_not_skipped_by_the_cursor(store_url: str, store: Store) -> None:
    """An action whose transaction numbered it first but committed after a read still comes after that cursor."""
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: a transaction cannot stay open beside the store's")
    with psycopg.connect(store_url) as slow:  # a second gateway process, mid-transaction
        slow.execute(
            "WITH taken AS (UPDATE action_log SET last_sequence = last_sequence + 1 WHERE id = 1"
            " RETURNING last_sequence)"
            " INSERT INTO backoffice_action (sequence, at, client, action, target, outcome)"
            " SELECT last_sequence, %s, 'slow', 'inbox.read', NULL, 'ok' FROM taken",
            (T0,),
        )
        recorder = threading.Thread(target=store.record_action, args=(action(2),))
        recorder.start()  # waits for the slow transaction: numbers are handed out in commit order
        recorder.join(0.5)
        page = store.actions(since=0, limit=10)
        assert page.entries == ()
        slow.commit()
        recorder.join()
    following = store.actions(since=page.next, limit=10)
    assert [e.action.client for e in following.entries] == ["slow", "customs-app"]


# -------------------------------------------------------------------------- back office: idempotent submissions


def key(name: str = "k-1", *, client: str = "customs-app", fingerprint: str = "a" * 64) -> Idempotency:
    """Return an idempotency key of ``client``."""
    return Idempotency(client=client, key=name, fingerprint=fingerprint)


def test_enqueue_returns_the_message_id_and_digest(store: Store) -> None:
    """Without a key, enqueue says what it queued; the same message again is not a replay."""
    first = store.enqueue(outbound(1), at=T0)
    assert first == Enqueued(
        message_id=outbound(1).message_id, digest=digest_of(outbound(1).data), replayed=False, fingerprint=None
    )
    assert store.enqueue(outbound(1), at=T0) == first


def test_a_replayed_key_returns_the_original_message_and_queues_nothing(store: Store) -> None:
    """The second submission with a key gets the first one's id, digest and stored fingerprint back."""
    first = store.enqueue(outbound(1), at=T0, idempotency=key(fingerprint="1" * 64))
    assert first == Enqueued(
        message_id=outbound(1).message_id, digest=digest_of(outbound(1).data), replayed=False, fingerprint="1" * 64
    )
    again = store.enqueue(outbound(2), at=T0 + dt.timedelta(seconds=1), idempotency=key(fingerprint="2" * 64))
    assert again == replace(first, replayed=True)
    assert store.outbound_status(outbound(2).message_id) is None
    assert store.counts().outbound[OutboundState.QUEUED] == 1


def test_idempotency_keys_are_per_client(store: Store) -> None:
    """Two clients may use the same key: each queues its own message."""
    mine = store.enqueue(outbound(1), at=T0, idempotency=key("same", client="customs-app"))
    theirs = store.enqueue(outbound(2), at=T0, idempotency=key("same", client="ministry-app"))
    assert (mine.replayed, theirs.replayed) == (False, False)
    assert theirs.message_id == outbound(2).message_id
    assert store.counts().outbound[OutboundState.QUEUED] == 2


def test_a_refused_submission_does_not_claim_its_key(store: Store) -> None:
    """A submission that conflicts with another message's id stores nothing: the key stays free."""
    store.enqueue(outbound(1), at=T0)
    with pytest.raises(ConflictError):
        store.enqueue(replace(outbound(1), data=b"<other/>"), at=T0, idempotency=key())
    fresh = store.enqueue(outbound(2), at=T0, idempotency=key())
    assert (fresh.message_id, fresh.replayed) == (outbound(2).message_id, False)


def test_concurrent_submissions_with_one_key_queue_exactly_one_message(store_url: str) -> None:
    """Eight threads on two stores submit eight different messages under one key: one is queued, all agree."""
    stores = [open_store(store_url), open_store(store_url)]
    stores[0].migrate()
    results: list[Enqueued] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def submit(target: Store, n: int) -> None:
        try:
            start.wait()
            results.append(target.enqueue(outbound(n), at=T0, idempotency=key("race", fingerprint=f"{n:064x}")))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(stores[n % 2], n)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = stores[0].counts()
    for s in stores:
        s.close()
    assert errors == []
    assert counts.outbound[OutboundState.QUEUED] == 1
    (winner,) = [r for r in results if not r.replayed]
    assert len(results) == 8
    assert {(r.message_id, r.digest, r.fingerprint) for r in results} == {
        (winner.message_id, winner.digest, winner.fingerprint)
    }
    assert _query(store_url, "SELECT count(*) FROM idempotency") == [(1,)]


def test_idempotency_fields_are_checked(store: Store) -> None:
    """An empty or overlong key or client, or a NUL in one, is refused and queues nothing."""
    for bad in [key(""), key("k" * 201), key(client=""), key("a\x00b"), key(fingerprint="")]:
        with pytest.raises(StoreError) as info:
            store.enqueue(outbound(1), at=T0, idempotency=bad)
        assert info.value.retryable is False
    assert store.outbound_status(outbound(1).message_id) is None


# ------------------------------------------------------------------------------------------- health, failures


def test_check_writable_rewrites_the_heartbeat(store_url: str, store: Store) -> None:
    """check_writable commits a real change every time, even at the same instant: SQLite skips writing a row
    whose bytes do not change, and then commits nothing (measured: 29 000 "checks"/s, no fsync)."""
    store.check_writable(at=T0)
    store.check_writable(at=T0)
    store.check_writable(at=T0 + dt.timedelta(seconds=5))
    rows = _query(store_url, "SELECT id, at, beats FROM heartbeat")
    assert len(rows) == 1
    assert str(rows[0][1]).startswith("2026-03-01") and ":05" in str(rows[0][1])
    assert rows[0][2] == 3


def _refused(call: Any) -> StoreError:
    """Run ``call``; return the StoreError it raised, after checking it is a refusal (not retryable)."""
    with pytest.raises(StoreError) as info:
        call()
    assert info.value.retryable is False, info.value
    return info.value


def test_arguments_beyond_64_bits_or_with_nul_are_refused_as_store_errors(store: Store) -> None:
    """Integers beyond 64 bits and NUL characters never reach the driver: a StoreError, not retryable.

    Before: ``inbox(since=2**63)`` raised SQLite's OverflowError, a NUL in a PostgreSQL text a ValueError.
    """
    store.record_inbound(inbound(1), b"r")
    page = store.inbox(since=0, limit=10, at=T0)
    store.enqueue(outbound(1), at=T0)
    (claimed,) = store.claim_due(now=T0, lease=LEASE, limit=1, worker="w")
    calls = [
        lambda: store.inbox(since=2**63, limit=1, at=T0),
        lambda: store.inbox(since=0, limit=2**63, at=T0),
        lambda: store.acknowledge_inbound([2**63], at=T0),
        lambda: store.acknowledge_inbound([page.next, -(2**63) - 1], at=T0),
        lambda: store.inbound_status("MY:\x00DOE", "x"),
        lambda: store.inbound_status("DE-SW", "id\x00"),
        lambda: store.outbound_status("id\x00"),
        lambda: store.record_inbound(inbound(2, message_id="a\x00b"), b"r"),
        lambda: store.enqueue(outbound(2, receiver="FR\x00"), at=T0),
        lambda: store.claim_due(now=T0, lease=LEASE, limit=1, worker="w\x00"),
        lambda: store.claim_due(now=T0, lease=LEASE, limit=1, worker="w", skip_receivers=["\x00"]),
        lambda: store.claim_due(now=T0, lease=dt.timedelta.max, limit=1, worker="w"),
        lambda: store.mark_retry(claimed.message_id, worker="w", error="e\x00", next_attempt_at=T0, at=T0),
        lambda: store.mark_failed("x\x00", worker="w", error="e", at=T0),
        lambda: store.mark_receipted("x\x00", b"r", at=T0),
        lambda: store.audit(at=T0, sender=None, message_id=None, code="parse", text="bad \x00"),
        lambda: store.record_action(action(1, target="a\x00")),
    ]
    for call in calls:
        _refused(call)
    assert store.counts().inbound[InboundState.ACKNOWLEDGED] == 0
    assert store.outbound_status(claimed.message_id) is not None
    assert store.counts().rejected == 0


def test_a_full_sqlite_disk_is_a_retryable_store_error_for_every_write(tmp_path: Path) -> None:
    """With the database at its size limit, every write (the inbox read too: it marks entries delivered) fails
    with a retryable StoreError that says so, changes nothing, and works again once there is room."""
    with SqliteStore(tmp_path / "full.db") as full:
        full.migrate()
        for n in range(1, 301):
            full.record_inbound(inbound(n, data=b"<E/>"), b"r")
        # Simulate the disk filling up: no page may be added beyond those the database has now (per connection).
        (pages,) = full._db.execute("PRAGMA page_count").fetchone()
        full._db.execute(f"PRAGMA max_page_count = {pages}")
        n = 1000
        while True:  # fill what room the last pages have left
            try:
                full.record_inbound(inbound(n, data=b"<E/>"), b"r")
            except StoreError:
                break
            n += 1
        writes = [
            lambda: full.record_inbound(inbound(n, data=b"<E/>"), b"r"),
            lambda: full.inbox(since=0, limit=1000, at=T0),
            lambda: [full.record_action(action(i, target="t" * 500)) for i in range(20)],
            lambda: [full.enqueue(outbound(i, data=b"d" * 400), at=T0) for i in range(20)],
            lambda: full.check_writable(at=T0),
        ]
        for write in writes:
            with pytest.raises(StoreError, match="full") as info:
                write()
            assert info.value.retryable is True
        assert full.counts().inbound[InboundState.DELIVERED] == 0  # the failed pull marked nothing
        full._db.execute("PRAGMA max_page_count = 1000000")  # room again
        assert len(full.inbox(since=0, limit=1000, at=T0).messages) == n - 1000 + 300
        full.check_writable(at=T0)


def test_check_writable_fails_on_a_read_only_sqlite_database(tmp_path: Path) -> None:
    """A database the store can read but not write fails the check (retryable); reads still work."""
    with SqliteStore(tmp_path / "ro.db") as store:
        store.migrate()
        store._db.execute("PRAGMA query_only = ON")  # as if the file had become read-only
        with pytest.raises(StoreError, match="readonly") as info:
            store.check_writable(at=T0)
        assert info.value.retryable is True
        assert store.counts().rejected == 0


def test_check_writable_fails_when_the_disk_has_less_free_space_than_required(tmp_path: Path) -> None:
    """A write that still fits in reused space is not enough: below ``min_free_disk`` free bytes the check fails."""
    free = shutil.disk_usage(tmp_path).free
    with SqliteStore(tmp_path / "tight.db", min_free_disk=free * 4) as tight:
        tight.migrate()
        with pytest.raises(StoreError, match="disk holding the SQLite database is full") as info:
            tight.check_writable(at=T0)
        assert info.value.retryable is True
        assert str(tmp_path) not in str(info.value)
    with SqliteStore(tmp_path / "roomy.db", min_free_disk=1) as roomy:
        roomy.migrate()
        roomy.check_writable(at=T0)


def test_check_writable_fails_on_a_read_only_postgres_session() -> None:
    """A PostgreSQL session that may not write (a standby after failover) fails the check, retryable."""
    require_postgres()
    with postgres_schema(PG_SERVER) as url:
        with open_store(url) as writer:
            writer.migrate()
        with open_store(url + "%20-cdefault_transaction_read_only%3Don") as reader:
            with pytest.raises(StoreError, match="read-only") as info:
                reader.check_writable(at=T0)
            assert info.value.retryable is True
            assert reader.counts().rejected == 0


def test_a_sqlite_store_error_does_not_name_the_database_file(tmp_path: Path) -> None:
    """StoreError texts are for logs but still never carry the database's name (here its path)."""
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite://{tmp_path / 'missing-folder' / 'secret-name.db'}")
    assert "secret-name" not in str(info.value)
    assert "missing-folder" not in str(info.value)


class _Relay:
    """A TCP relay on loopback to the PostgreSQL server: the test cuts it (the server is gone) and restores it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Stop listening and break every relayed connection, as a server crash would."""
        if self._listener is not None:
            # shutdown() first: close() alone leaves a thread blocked in accept() holding the port open (Linux).
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def _connection_words(url: str) -> list[str]:
    """Return the words of a PostgreSQL URL that must never appear in a StoreError: URL, host, port, db, user."""
    params = conninfo_to_dict(url)
    with psycopg.connect(PG_SERVER) as conn:
        user = conn.info.user
    words = [url, url.partition("?")[0], str(params["host"]), str(params["port"]), str(params["dbname"]), user]
    return [w for w in words if w]


def test_an_unreachable_postgres_server_is_a_retryable_error_that_names_no_connection_detail() -> None:
    """A URL to a closed port: StoreError, retryable, and no host, port, database or user in its text."""
    url = f"postgresql://127.0.0.1:{free_port()}/secretdb?user=secretuser&connect_timeout=2"
    with pytest.raises(StoreError) as info:
        PostgresStore(url)
    assert info.value.retryable is True
    for word in ["127.0.0.1", url.split(":")[2].split("/")[0], "secretdb", "secretuser", url]:
        assert word not in str(info.value)


def test_a_lost_postgres_connection_and_a_server_gone_are_retryable_and_the_store_recovers() -> None:
    """The server going away mid-way fails each call with a retryable StoreError that names no connection
    detail (not with psycopg's error); once the server is back the same store works again."""
    require_postgres()
    server = conninfo_to_dict(PG_SERVER)
    relay = _Relay((str(server["host"]), int(server["port"])))
    relay.start()
    with contextlib.ExitStack() as cleanup, postgres_schema(PG_SERVER) as direct:
        cleanup.callback(relay.cut)
        url = direct.replace(f"{server['host']}:{server['port']}", f"127.0.0.1:{relay.port}") + "&connect_timeout=2"
        secret_words = [*_connection_words(direct), str(relay.port), url]
        with PostgresStore(url, max_connections=2) as store:
            store.migrate()
            store.record_inbound(inbound(1), b"r")
            store.check_writable(at=T0)
            relay.cut()
            calls = [
                lambda: store.check_writable(at=T0),  # the pooled connection is broken: "lost"
                lambda: store.inbox(since=0, limit=10, at=T0),  # a new one cannot be made: "unreachable"
                lambda: store.enqueue(outbound(1), at=T0, idempotency=key()),
                lambda: store.record_action(action(1)),
                lambda: store.inbound_status("DE-SW", inbound(1).message_id),
            ]
            for call in calls:
                with pytest.raises(StoreError) as info:
                    call()
                assert info.value.retryable is True
                assert isinstance(info.value.__cause__, psycopg.Error)
                for word in secret_words:
                    assert word not in str(info.value), (word, str(info.value))
            relay.start()
            store.check_writable(at=T0)
            assert store.enqueue(outbound(1), at=T0, idempotency=key()).replayed is False
            assert len(store.inbox(since=0, limit=10, at=T0).messages) == 1


def test_postgres_errors_are_classified_and_scrubbed() -> None:
    """Outage-like server errors (disk full, read-only, shutdown) are retryable, data errors are not; the
    connection's parameters are blanked out of whatever text the server sent."""
    from picexchange.store import postgres

    secrets = postgres._secrets_of("postgresql://alice:pw@db.internal:6543/customs")
    cases = [
        (psycopg.errors.DiskFull("could not extend file: No space left on device"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.OperationalError('connection to server at "db.internal", port 6543 failed'), True),
        (psycopg.errors.NumericValueOutOfRange("bigint out of range"), False),
        (psycopg.errors.InvalidCatalogName('database "customs" does not exist for user alice'), False),
        (ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), False),
        (psycopg.errors.InternalError_(""), True),  # no text at all
    ]
    for exc, retryable in cases:
        error = postgres._error(exc, secrets)
        assert error.retryable is retryable, exc
        for word in ("alice", "pw", "db.internal", "6543", "customs"):
            assert word not in str(error), (word, str(error))


# ------------------------------------------------------------------------------------------------- migration


def test_a_database_of_schema_version_1_upgrades_in_place(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database made by an older release (schema 1, with messages in it) migrates to the newest and keeps them."""
    from picexchange.store import postgres, sqlite

    module: Any = sqlite if store_url.startswith("sqlite") else postgres
    monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:1])  # the previous release's schema history
    with open_store(store_url) as old:
        assert old.migrate() == 1
        old.record_inbound(inbound(1), b"r")
        old.enqueue(outbound(1), at=T0)
    monkeypatch.undo()
    with open_store(store_url) as upgraded:
        assert upgraded.migrate() == len(module.MIGRATIONS)
        assert upgraded.inbound_status("DE-SW", inbound(1).message_id) is not None
        assert upgraded.outbound_status(outbound(1).message_id) is not None
        upgraded.record_action(action(1))
        assert [e.action for e in upgraded.actions(since=0, limit=10).entries] == [action(1)]
        assert upgraded.enqueue(outbound(2), at=T0, idempotency=key()).replayed is False
        assert upgraded.enqueue(outbound(3), at=T0, idempotency=key()).message_id == outbound(2).message_id
        upgraded.check_writable(at=T0)
    assert _query(store_url, "SELECT version FROM schema_version ORDER BY version") == [
        (step.version,) for step in module.MIGRATIONS
    ]


def test_a_store_error_is_retryable_unless_said_otherwise() -> None:
    """StoreError's default is an outage (retryable): a refusal must say so."""
    assert StoreError("disk full").retryable is True
    assert StoreError("bad cursor", retryable=False).retryable is False


def test_a_malformed_postgres_url_is_refused_without_echoing_it() -> None:
    """A connection string libpq cannot parse is not an outage: a refusal, naming the bad parameter only."""
    with pytest.raises(StoreError, match="not valid") as info:
        PostgresStore("postgresql://secretuser@127.0.0.1:5432/secretdb?bogus=1")
    assert info.value.retryable is False
    for word in ("secretuser", "secretdb", "127.0.0.1", "5432"):
        assert word not in str(info.value)


def test_postgres_connections_terminated_by_the_server_are_retryable_and_replaced(store_url: str) -> None:
    """A server that ends the store's sessions (a restart, an administrator) fails the next call with a
    retryable StoreError; the broken connection is dropped, so the call after that works."""
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite has no server")
    name = f"px_terminated_{uuid.uuid4().hex[:8]}"
    with PostgresStore(f"{store_url}&application_name={name}", max_connections=1) as store:
        store.migrate()
        store.record_inbound(inbound(1), b"r")
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchall()
        assert ended == [(True,)]
        with pytest.raises(StoreError) as info:
            store.inbox(since=0, limit=10, at=T0)
        assert info.value.retryable is True
        assert name not in str(info.value)
        assert len(store.inbox(since=0, limit=10, at=T0).messages) == 1


SHARED_ALGORITHMS = (
    "migrate",
    "record_inbound",
    "inbox",
    "acknowledge_inbound",
    "inbound_status",
    "enqueue",
    "claim_due",
    "mark_receipted",
    "mark_retry",
    "mark_failed",
    "outbound_status",
    "counts",
    "audit",
    "actions",
)


@pytest.mark.parametrize("backend", [SqliteStore, PostgresStore], ids=["sqlite", "postgres"])
def test_the_backends_keep_no_copy_of_a_shared_algorithm(backend: type[Store]) -> None:
    """Paging, acknowledgement, claiming, outcomes and idempotent enqueue live once, in ``_common.SqlStore``.

    A backend overrides dialect and locking hooks only; a copied algorithm drifts (issue 9).
    """
    from picexchange.store._common import SqlStore

    copied = [name for name in SHARED_ALGORITHMS if getattr(backend, name) is not getattr(SqlStore, name)]
    assert copied == []


def test_a_driver_error_becomes_a_retryable_outage_or_a_refusal_alike_in_both_backends() -> None:
    """The translation skeleton is shared: an argument the driver cannot adapt and a refusal are not retryable."""
    from picexchange.store import postgres, sqlite

    for exc, retryable in [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.IntegrityError("NOT NULL constraint failed"), False),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), False),
        (ValueError("the query contains a null character"), False),
    ]:
        assert sqlite._error(exc).retryable is retryable, exc
    for pg_exc, retryable in [
        (psycopg.OperationalError("server closed the connection"), True),
        (psycopg.DataError("value too long"), False),
        (ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), False),
    ]:
        assert postgres._error(pg_exc, frozenset()).retryable is retryable, pg_exc
    assert str(sqlite._error(ValueError("x"))).startswith("SQLite refused an argument")
    assert str(postgres._error(ValueError("x"), frozenset())).startswith("PostgreSQL refused an argument")
