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
already holds 10, 100 and 1,000 shipments (it must not grow with the case's history: the fold is cached and the
row is computed without a pass over the case). Each level's row is measured against the no-case ``receive`` of
the same moment, because this machine's speed drifts. For reference, the cost of folding the case again from the
store (a cache miss; that one grows with the case by design). Every ExportData is inside the consent, so no
automatic hold is written: the benchmark checks that nothing was queued.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
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
    calls = 20 if args.quick else 60
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

        def per_message(raws: list[bytes], work: object) -> float:
            start = time.perf_counter()
            for raw in raws:
                work(raw)  # type: ignore[operator]
            return (time.perf_counter() - start) / len(raws)

        def receive(raw: bytes) -> None:
            status, body = customs.receive(raw, dt.datetime.now(dt.UTC))
            assert status == 200, body

        def accept(raw: bytes) -> None:
            exchange.accept_for(raw, hosted=customs.hosted, trust=customs.trust, now=dt.datetime.now(dt.UTC))

        for raw in [export_data() for _ in range(5)]:  # warm up: schemas compiled, fold cached
            receive(raw)
        for raw in [export_data(test=True) for _ in range(5)]:
            receive(raw)
        queued = store.counts()
        print(
            f"{'shipments in the case':<22} {'receive + case':>14} {'receive, no case':>17} {'ratio':>6}"
            f" {'accept_for':>11} {'refold (miss)':>14}"
        )
        number = notification.notification_number
        for target in (10, 100, 1_000):
            row = store.case_summary(number)
            while row is None or row.shipments_used < target:
                receive(export_data())
                row = store.case_summary(number)
            row_before = row.shipments_used
            # Interleaved halves, so that a drift of the machine's speed hits both sides alike.
            half = calls // 2
            with_case = per_message([export_data() for _ in range(half)], receive)
            no_case = per_message([export_data(test=True) for _ in range(half)], receive)
            with_case = (with_case + per_message([export_data() for _ in range(half)], receive)) / 2
            no_case = (no_case + per_message([export_data(test=True) for _ in range(half)], receive)) / 2
            alone = per_message([export_data(test=True) for _ in range(half)], accept)
            start = time.perf_counter()
            customs.cases.forget(number)
            loaded = customs.cases.load(number)
            refold = time.perf_counter() - start
            customs.cases.remember(number, loaded.fold, loaded.version, loaded.held)
            print(
                f"{row_before:<22} {with_case * 1e3:>11.2f} ms {no_case * 1e3:>14.2f} ms {with_case / no_case:>6.2f}"
                f" {alone * 1e3:>8.2f} ms {refold * 1e3:>11.1f} ms"
            )
        print()
        alone = per_message([export_data() for _ in range(calls)], accept)
        stored = per_message([export_data(test=True) for _ in range(calls)], receive)
        with_case = per_message([export_data() for _ in range(calls)], receive)
        print(f"{'accept_for alone (verify, no store)':<44} {alone * 1e3:>8.2f} ms  1.00")
        print(f"{'receive, no case (test message)':<44} {stored * 1e3:>8.2f} ms  {stored / alone:.2f}")
        print(f"{'receive with case update':<44} {with_case * 1e3:>8.2f} ms  {with_case / alone:.2f}")
        print(f"{'accept plus case update / accept alone':<44} {with_case / stored:>11.2f}")
        row = store.case_summary(number)
        assert row is not None and row.violations == 0, "an ExportData broke a rule: the case is not clean"
        assert store.counts().outbound == queued.outbound, "an automatic hold was queued"
        store.close()


def _json(document: object) -> dict[str, object]:
    import json

    value: dict[str, object] = json.loads(codec.to_json(document))[type(document).__name__]  # type: ignore[arg-type]
    return value


if __name__ == "__main__":
    main()
