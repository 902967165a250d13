"""PIC case cost per message: does applying one more message grow with the case's history?

Run by hand: ``.venv/bin/python benchmarks/bench_cases.py [--quick]``. For cases that already hold 10, 100 and
1,000 shipments (each an ExportData, a ShipmentReceipt and a DisposalCertificate), it measures per message:
``apply`` of a new ExportData, ``clearance`` of one more ExportData (the gateway's call before it answers),
``apply`` of a ShipmentReceipt for an early shipment, ``findings_for`` (the check before accept or submit) of a
DisposalCertificate, and the whole ``case()`` view (one pass, for reference).
Each is printed with its ratio to decoding the same ExportData envelope (``codec.from_xml``, a floor the gateway
pays anyway, measured in the same run: this machine's speed drifts up to 2x within seconds). The per-message
rows must stay flat from 10 to 1,000 shipments; ``case()`` grows with the case by design.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from picexchange import codec
from picexchange.cases import Agency, CaseEvent, CaseFold, Direction, clearance
from picexchange.models.common import FormQuantity
from picexchange.models.envelope import Envelope

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "messages"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _event(name: str, agency: Agency) -> CaseEvent:
    envelope = codec.from_xml((SAMPLES / name).read_bytes(), Envelope)
    return CaseEvent.from_envelope(envelope, direction=Direction.INBOUND, sender_agency=agency)


CA, CUSTOMS = Agency.COMPETENT_AUTHORITY, Agency.CUSTOMS
NOTIFICATION = _event("plastic-au-my-01-notification.xml", CA)
CONSENT = _event("plastic-au-my-06-consent-decision.xml", CA)
EXPORT = _event("plastic-au-my-08-export-data.xml", CUSTOMS)
RECEIPT = _event("plastic-au-my-10-shipment-receipt.xml", CA)
DISPOSAL = _event("plastic-au-my-11-disposal-certificate.xml", CA)
BIG = 100_000  # shipments and tonnes notified, so no case here runs out of either


def _with(event: CaseEvent, serial: int, **fields: object) -> CaseEvent:
    return replace(
        event,
        message_id=str(uuid.uuid4()),
        document=event.document.model_copy(update={"shipment_serial": serial, **fields}),
    )


def _case(shipments: int) -> CaseFold:
    fold = CaseFold("AU2026-0042")
    fold.apply(
        replace(
            NOTIFICATION,
            document=NOTIFICATION.document.model_copy(
                update={
                    "intended_shipments": BIG,
                    "intended_quantity": FormQuantity(tonnes=Decimal(BIG)),
                }
            ),
        )
    )
    fold.apply(CONSENT)
    for serial in range(1, shipments + 1):
        fold.apply(_with(EXPORT, serial, total_shipments=BIG))
        fold.apply(_with(RECEIPT, serial))
        fold.apply(_with(DISPOSAL, serial))
    return fold


def _per_call(fn: Callable[[], object], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def _measure(shipments: int, raw: bytes, calls: int, rounds: int) -> None:
    fold = _case(shipments)
    floor = _per_call(lambda: codec.from_xml(raw, Envelope), calls, rounds)
    # The view first, while the case holds exactly ``shipments``; then each apply adds a new serial (calls x
    # rounds of them, small against 1,000) or a late receipt for an early shipment.
    view = _per_call(lambda: fold.case(now=NOW), max(1, calls // 20), rounds)
    first = shipments + 1
    fresh = iter([_with(EXPORT, serial, total_shipments=BIG) for serial in range(first, first + calls * rounds)])
    receipts = iter([_with(RECEIPT, 1 + n % shipments) for n in range(calls * rounds)])
    one_more = _with(EXPORT, BIG, total_shipments=BIG)
    certificate = _with(DISPOSAL, shipments)
    rows = [
        ("apply ExportData", lambda: fold.apply(next(fresh))),
        ("clearance ExportData", lambda: clearance(fold, one_more, now=NOW)),
        ("findings_for DisposalCertificate", lambda: fold.findings_for(certificate)),
        ("apply ShipmentReceipt (late)", lambda: fold.apply(next(receipts))),
    ]
    print(f"{shipments:>9} {'case() view':<34} {view * 1e6:>9.1f}us {view / floor:>9.3f}")
    for name, fn in rows:
        spent = _per_call(fn, calls, rounds)
        print(f"{shipments:>9} {name:<34} {spent * 1e6:>9.1f}us {spent / floor:>9.3f}")
    print(f"{shipments:>9} {'codec.from_xml (floor)':<34} {floor * 1e6:>9.1f}us {1:>9.3f}")


def main() -> None:
    """Print the per-message cost at 10, 100 and 1,000 shipments."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    args = parser.parse_args()
    calls, rounds = (50, 3) if args.quick else (200, 5)
    raw = (SAMPLES / "plastic-au-my-08-export-data.xml").read_bytes()
    print(f"{'shipments':>9} {'operation':<34} {'per call':>11} {'x decode':>9}")
    for shipments in (10, 100, 1_000):
        _measure(shipments, raw, calls, rounds)


if __name__ == "__main__":
    main()
