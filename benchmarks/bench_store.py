"""Message store throughput: record_inbound commits/s, outbox claim + mark cycles/s, and the back office's
calls (check_writable on every /healthz, record_action on every back-office request, enqueue with an
idempotency key), on both backends.

Run by hand: ``.venv/bin/python benchmarks/bench_store.py [--quick] [--postgres URL]``. Each row is measured
alternately with a bare floor of the same bytes in the same run (one INSERT + COMMIT on a connection with the
same settings, no store code), and printed as a rate and a ratio to that floor: this machine's speed drifts
up to 2x within seconds, so the ratio is the number to compare. PostgreSQL runs in a scratch schema that is
dropped at the end; SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count

import psycopg

from picexchange.store import BackofficeAction, Idempotency, InboundMessage, OutboundMessage, Store, open_store
from picexchange.testing import postgres_schema

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
PAYLOAD = os.urandom(5000)  # a 5 KB signed envelope
_ids = count()


def inbound_message() -> InboundMessage:
    return InboundMessage(
        sender="DE-SW",
        receiver="FR-SW",
        message_id=str(uuid.uuid4()),
        conversation_id="DE-2026-0001",
        message_type="Notification",
        utility_block="pic",
        created=T0,
        received_at=T0,
        data=PAYLOAD + str(next(_ids)).encode(),
    )


def outbound_message() -> OutboundMessage:
    return OutboundMessage(
        message_id=str(uuid.uuid4()),
        receiver="FR-SW",
        endpoint="default",
        conversation_id="DE-2026-0001",
        message_type="Notification",
        created=T0,
        data=PAYLOAD,
    )


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Call ``fn`` (which returns how many operations it did) for about ``seconds``; return operations/s."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += fn()
    return done / elapsed


def threaded(fn: Callable[[], int], threads: int) -> Callable[[], int]:
    """Return a function running ``fn`` once in each of ``threads`` threads; it returns the total count."""

    def run() -> int:
        results = [0] * threads

        def one(i: int) -> None:
            results[i] = fn()

        workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sum(results)

    return run


# ------------------------------------------------------------------------------------------ bare floors


def bare_sqlite(path: str) -> Callable[[], int]:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, k TEXT UNIQUE, data BLOB)")
    lock = threading.Lock()

    def insert() -> int:
        with lock:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO bare (k, data) VALUES (?, ?)", (str(uuid.uuid4()), PAYLOAD))
            db.execute("COMMIT")
        return 1

    return insert


def bare_postgres(url: str) -> Callable[[], int]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bare (id bigserial PRIMARY KEY, k text UNIQUE, data bytea)")
    local = threading.local()

    def insert() -> int:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(url, autocommit=True)
        with local.conn.transaction():
            local.conn.execute("INSERT INTO bare (k, data) VALUES (%s, %s)", (str(uuid.uuid4()), PAYLOAD))
        return 1

    return insert


# ------------------------------------------------------------------------------------------------- rows


def record(store: Store) -> Callable[[], int]:
    def one() -> int:
        store.record_inbound(inbound_message(), b"receipt")
        return 1

    return one


def check_writable(store: Store) -> Callable[[], int]:
    def one() -> int:
        store.check_writable(at=T0)
        return 1

    return one


def record_action(store: Store) -> Callable[[], int]:
    def one() -> int:
        store.record_action(
            BackofficeAction(at=T0, client="customs-app", action="inbox.read", target="since=12", outcome="ok")
        )
        return 1

    return one


def submit_with_key(store: Store) -> Callable[[], int]:
    def one() -> int:
        key = Idempotency(client="customs-app", key=str(uuid.uuid4()), fingerprint="0" * 64)
        store.enqueue(outbound_message(), at=T0, idempotency=key)
        return 1

    return one


def claim_and_mark(store: Store, batch: int) -> Callable[[], int]:
    def cycle() -> int:
        claimed = store.claim_due(now=T0, lease=dt.timedelta(minutes=5), limit=batch, worker="bench")
        for message in claimed:
            store.mark_receipted(message.message_id, b"receipt", at=T0)
        return len(claimed)

    return cycle


@contextmanager
def backends(postgres: str | None) -> Iterator[list[tuple[str, str, Callable[[], int]]]]:
    """Yield (name, store URL, bare floor) for each backend, in scratch places removed afterwards."""
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as schemas:
        found = [("sqlite", f"sqlite://{folder}/bench.db", bare_sqlite(f"{folder}/bare.db"))]
        if postgres:
            url = schemas.enter_context(postgres_schema(postgres, prefix="px_bench"))
            found.append(("postgres", url, bare_postgres(url)))
        yield found


def timed_drain(store: Store, batch: int, messages: int) -> float:
    """Enqueue ``messages``, then claim and receipt them ``batch`` at a time; return messages/s of the draining."""
    for _ in range(messages):
        store.enqueue(outbound_message(), at=T0)
    cycle = claim_and_mark(store, batch)
    start, done = time.perf_counter(), 0
    while done < messages:
        done += cycle()
    return messages / (time.perf_counter() - start)


def rate_n(fn: Callable[[], int], n: int) -> Callable[[], int]:
    """Return a function calling ``fn`` ``n`` times, returning the operations done."""
    return lambda: sum(fn() for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test", help="server URL ('' to skip)")
    args = parser.parse_args()
    seconds, rounds, messages = (0.5, 2, 500) if args.quick else (2.0, 3, 2000)

    print(f"{'backend':9} {'operation':40} {'ops/s':>8} {'bare/s':>8} {'ratio':>6}")
    with backends(args.postgres or None) as found:
        for name, url, bare in found:
            store = open_store(url)
            store.migrate()
            rows = [
                ("record_inbound, 1 thread", record(store), bare),
                ("record_inbound, 4 threads", threaded(rate_n(record(store), 50), 4), threaded(rate_n(bare, 50), 4)),
                ("check_writable (heartbeat), 1 thread", check_writable(store), bare),
                ("record_action, 1 thread", record_action(store), bare),
                ("enqueue with idempotency key, 1 thread", submit_with_key(store), bare),
            ]
            for label, ours, floor in rows:
                ours_best = bare_best = 0.0
                for _ in range(rounds):  # alternate, so that drift hits both alike
                    ours_best = max(ours_best, rate(ours, seconds))
                    bare_best = max(bare_best, rate(floor, seconds))
                print(f"{name:9} {label:40} {ours_best:8.0f} {bare_best:8.0f} {ours_best / bare_best:6.2f}")
            for batch in (1, 10):
                ours_best = bare_best = 0.0
                for _ in range(rounds):
                    ours_best = max(ours_best, timed_drain(store, batch, messages))
                    bare_best = max(bare_best, rate(bare, seconds))
                label = f"claim {batch} + mark_receipted, messages"
                print(f"{name:9} {label:40} {ours_best:8.0f} {bare_best:8.0f} {ours_best / bare_best:6.2f}")
            store.close()


if __name__ == "__main__":
    main()
