"""The case change feed (``Store.case_changes``, ``GET /api/v1/cases?changed_after=``) on both backends.

Run by hand: ``.venv/bin/python benchmarks/bench_case_feed.py [--cases N] [--postgres URL]``. A store holding
``N`` cases (10,000 by default), each written once and never read by the feed, is read:

- the first feed read, which numbers every row (at most ``NUMBER_CHANGES`` of them) and returns a page of 100;
- a back office far behind paging the whole feed, 100 rows a page;
- the steady state: a poller at the end of the feed reading after 5 new case writes (median of 50 polls).

PostgreSQL runs in a scratch schema that is dropped at the end; SQLite in a temporary folder. What a case write
costs with the feed's column and index is ``bench_case_accept.py``'s figure (the row's number is cleared by the
same UPDATE that writes the row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from picexchange.store import CaseUpdate, InboundMessage, Store, open_store

# The tests' helpers (case rows; a scratch PostgreSQL schema per run, PICEXCHANGE_TEST_POSTGRES): not in the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from case_rows import listed_in, summary  # noqa: E402
from postgres_server import PG_SERVER, postgres_schema  # noqa: E402

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def write_new_case(store: Store, number: str) -> None:
    """Store a Notification that opens case ``number``."""
    message = InboundMessage(
        sender="AU:DCCEEW",
        receiver="MY:DOE",
        message_id=str(uuid.uuid4()),
        conversation_id=number,
        message_type="Notification",
        utility_block="pic",
        created=T0,
        received_at=T0,
        data=b"<Envelope/>",
    )
    update = CaseUpdate(summary=summary(case=number, blocked=True), messages=(listed_in(message),), expected_version=0)
    store.record_inbound(message, b"receipt", case=update)


def measure(store: Store, cases: int) -> str:
    """Return one line of figures for ``store`` filled with ``cases`` cases."""
    for n in range(cases):
        write_new_case(store, f"AU2026-{n:07d}")
    start = time.perf_counter()
    page = store.case_changes(after=0, limit=100)
    first = time.perf_counter() - start

    start, after, rows = time.perf_counter(), 0, 0
    while True:
        page = store.case_changes(after=after, limit=100)
        rows, after = rows + len(page.cases), page.next
        if not page.has_more:
            break
    whole = time.perf_counter() - start

    polls = []
    for poll in range(50):
        for n in range(5):
            write_new_case(store, f"JP2026-{poll * 5 + n:07d}")
        start = time.perf_counter()
        page = store.case_changes(after=after, limit=100)
        polls.append(time.perf_counter() - start)
        assert len(page.cases) == 5 and not page.has_more, "the poll did not see exactly the five new cases"
        after = page.next
    return (
        f"first read (numbers {min(cases, 10_000):,} rows) {first * 1e3:7.1f} ms   "
        f"whole feed, {rows:,} rows by 100: {whole * 1e3:7.1f} ms   "
        f"poll after 5 writes: {statistics.median(polls) * 1e3:5.2f} ms"
    )


@contextmanager
def backends(postgres: str | None) -> Iterator[list[tuple[str, str]]]:
    """Yield (name, store URL) for SQLite in a temporary folder and, if given, a scratch PostgreSQL schema."""
    with tempfile.TemporaryDirectory() as folder:
        found = [("sqlite", f"sqlite://{Path(folder) / 'feed.db'}")]
        if postgres is None:
            yield found
            return
        with postgres_schema(postgres, prefix="px_bench") as url:
            yield [*found, ("postgres", url)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000, help="cases in the store before the feed is read")
    parser.add_argument("--postgres", default=PG_SERVER, help="server URL ('' to skip)")
    args = parser.parse_args()
    with backends(args.postgres or None) as found:
        for name, url in found:
            with open_store(url) as store:
                store.migrate()
                print(f"{name:9} {measure(store, args.cases)}")


if __name__ == "__main__":
    main()
