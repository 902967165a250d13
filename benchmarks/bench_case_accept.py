"""Accepting a message with its PIC case update, against accepting it alone; and does the cost grow with the case?

Run by hand: ``.venv/bin/python benchmarks/bench_case_accept.py [--quick]``. A Gateway of MY:RMCD on a SQLite
store in a temporary folder receives ExportData signed by AU:ABF, through :meth:`Gateway.receive` (verify,
receipt, store), in three ways:

- ``accept_for`` alone: the protocol checks without the store (parse, schema, signature, rules);
- ``receive`` of an integration-test message (``TestIndicator``): accepted, receipted and stored, no case;
- ``receive`` of a case message: the same, plus the case's fold, clearance decision and case row, written in
  the same transaction.

The issue's two figures: accept plus case update against accept alone (``receive`` with the case against
``receive`` of the same ExportData as a test message, which is verified, receipted and stored the same way but
belongs to no case), as a ratio; and the per-message cost of ``receive`` with the case update for a case that
already holds at least 10, 100 and 1,000 shipments (the row prints how many it held when its calls began; it
must not grow with the case's history: the fold is cached and the row is computed without a pass over the
case). Each figure is the median of calls taken in turn with the others of its row, wall time (the store's
fsync included) and this process's CPU, because this machine's speed drifts. For reference, the cost of
folding the case again from the store (a cache miss; that one grows with the case by design). Every ExportData
is inside the consent, so no automatic hold is written: the benchmark checks that nothing was queued.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from picexchange import codec, exchange
from picexchange.gateway import Gateway
from picexchange.models.common import FormQuantity
from picexchange.models.envelope import Envelope
from picexchange.store import open_store
from picexchange.testpki import make_test_pki
from picexchange.trust import TrustStore

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "messages"
DCCEEW, ABF, DOE, RMCD = "AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD"
BIG = 100_000


def _document(name: str) -> object:
    return codec.from_xml((SAMPLES / name).read_bytes(), Envelope).document


def main() -> None:
    """Print the three ways of accepting, then the per-message cost at 10, 100 and 1,000 shipments."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    args = parser.parse_args()
    calls = 20 if args.quick else 100
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(
        [DCCEEW, ABF, DOE, RMCD], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
    )
    partners = [item.partner for item in pki.participants]
    notification = _document("plastic-au-my-01-notification.xml").model_copy(  # type: ignore[attr-defined]
        update={"intended_shipments": BIG, "intended_quantity": FormQuantity(tonnes=Decimal(BIG))}
    )
    consent = _document("plastic-au-my-06-consent-decision.xml")
    export = _document("plastic-au-my-08-export-data.xml")
    serials = iter(range(1, 10 * BIG))

    def export_data(*, test: bool = False) -> bytes:
        document = export.model_copy(  # type: ignore[attr-defined]
            update={"shipment_serial": next(serials), "total_shipments": BIG}
        )
        return exchange.seal(document, me=pki[ABF].identity, to=RMCD, now=dt.datetime.now(dt.UTC), test=test).raw

    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'MY.db'}")
        store.migrate()
        authority = Gateway(me=pki[DOE].identity, trust=TrustStore.of(partners, me=pki[DOE].identity), store=store)
        customs = Gateway(me=pki[RMCD].identity, trust=TrustStore.of(partners, me=pki[RMCD].identity), store=store)
        sealed = exchange.seal(notification, me=pki[DCCEEW].identity, to=DOE, now=dt.datetime.now(dt.UTC))  # type: ignore[arg-type]
        assert authority.receive(sealed.raw, dt.datetime.now(dt.UTC))[0] == 200
        from picexchange.gateway import Submission

        authority.submit(
            Submission(receiver=DCCEEW, document={"ConsentDecision": _json(consent)}), dt.datetime.now(dt.UTC)
        )

        def receive(raw: bytes) -> None:
            status, body = customs.receive(raw, dt.datetime.now(dt.UTC))
            assert status == 200, body

        def accept(raw: bytes) -> None:
            exchange.accept_for(raw, hosted=customs.hosted, trust=customs.trust, now=dt.datetime.now(dt.UTC))

        with_case = ("receive with case update", export_data, receive)
        no_case = ("receive, no case (test message)", lambda: export_data(test=True), receive)
        alone = ("accept_for alone (verify, no store)", lambda: export_data(test=True), accept)

        for raw in [export_data() for _ in range(5)]:  # warm up: schemas compiled, fold cached
            receive(raw)
        for raw in [export_data(test=True) for _ in range(5)]:
            receive(raw)
        queued = store.counts()
        print("per message, medians of interleaved calls: wall (with the store's fsync) and CPU of this process")
        print(
            f"{'shipments':<10} {'with case':>10} {'no case':>10} {'ratio':>6} {'CPU with':>10} {'CPU no':>10}"
            f" {'ratio':>6} {'accept_for CPU':>15} {'refold (miss)':>14}"
        )
        number = notification.notification_number
        for target in (10, 100, 1_000):
            row = store.case_summary(number)
            while row is None or row.shipments_used < target:
                receive(export_data())
                row = store.case_summary(number)
            row_before = row.shipments_used
            measured = _interleaved((with_case, no_case, alone), calls)
            start = time.perf_counter()
            customs.cases.forget(number)
            loaded = customs.cases.load(number)
            refold = time.perf_counter() - start
            customs.cases.remember(number, loaded.fold, loaded.version, loaded.held)
            (case_wall, case_cpu), (plain_wall, plain_cpu), (_, alone_cpu) = measured
            print(
                f"{row_before:<10} {case_wall * 1e3:>7.2f} ms {plain_wall * 1e3:>7.2f} ms"
                f" {case_wall / plain_wall:>6.2f}"
                f" {case_cpu * 1e3:>7.2f} ms {plain_cpu * 1e3:>7.2f} ms {case_cpu / plain_cpu:>6.2f}"
                f" {alone_cpu * 1e3:>12.2f} ms {refold * 1e3:>11.1f} ms"
            )
        print()
        measured = _interleaved((alone, no_case, with_case), 2 * calls)
        (alone_wall, alone_cpu), (plain_wall, plain_cpu), (case_wall, case_cpu) = measured
        print(f"{'':<40} {'wall':>8} {'CPU':>8}")
        for (name, _, _), (wall, cpu) in zip((alone, no_case, with_case), measured, strict=True):
            print(f"{name:<40} {wall * 1e3:>5.2f} ms {cpu * 1e3:>5.2f} ms")
        print(
            f"{'accept plus case update / accept alone':<40} {case_wall / plain_wall:>8.2f}"
            f" {case_cpu / plain_cpu:>8.2f}"
        )
        row = store.case_summary(number)
        assert row is not None and row.violations == 0, "an ExportData broke a rule: the case is not clean"
        assert store.counts().outbound == queued.outbound, "an automatic hold was queued"
        store.close()


def _interleaved(
    kinds: tuple[tuple[str, Callable[[], bytes], Callable[[bytes], None]], ...], calls: int
) -> list[tuple[float, float]]:
    """Return the median (wall, CPU) seconds per call of each kind, its calls taken in turn with the others'.

    The messages are sealed before the clock starts. Taking the kinds in turn, one message each, puts a drift of
    this shared machine's speed on every kind alike; the turn's order is shuffled, because a call right after a
    commit pays more of the disk's write-back than the first of a turn; the median drops the calls a
    neighbour's burst slowed.
    """
    raws = [[make() for _ in range(calls)] for _, make, _ in kinds]
    spent: list[list[tuple[float, float]]] = [[] for _ in kinds]
    order = list(range(len(kinds)))
    shuffle = random.Random(20261129).shuffle
    for index in range(calls):
        shuffle(order)
        for kind in order:
            work = kinds[kind][2]
            wall, cpu = time.perf_counter(), time.process_time()
            work(raws[kind][index])
            spent[kind].append((time.perf_counter() - wall, time.process_time() - cpu))
    return [(statistics.median(wall for wall, _ in each), statistics.median(cpu for _, cpu in each)) for each in spent]


def _json(document: object) -> dict[str, object]:
    import json

    value: dict[str, object] = json.loads(codec.to_json(document))[type(document).__name__]  # type: ignore[arg-type]
    return value


if __name__ == "__main__":
    main()
