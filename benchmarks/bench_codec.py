"""Parse + validate + model mapping per message type, next to bare lxml parse + validate of the same bytes.

Run by hand: ``.venv/bin/python benchmarks/bench_codec.py [--quick]``. Prints a table; the numbers go into the
issue notes. Ratios matter more than absolute times: this machine's speed drifts up to 2x within seconds,
so every row measures ours and the bare floor alternately, best of several rounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from picexchange import codec, schemas
from picexchange.models.envelope import Envelope
from picexchange.models.export import ExportData

ROOT = Path(__file__).resolve().parent.parent


def best(fn: Callable[[], Any], *, budget: float, rounds: int = 5) -> float:
    """Return the best per-call time in seconds over ``rounds`` rounds of about ``budget`` seconds each."""
    fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        spent = time.perf_counter() - start
        if spent > budget / 10 or calls > 1_000_000:
            break
        calls *= 4
    per_round = max(1, int(calls * (budget / max(spent, 1e-9)) / 10))
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            fn()
        results.append((time.perf_counter() - start) / per_round)
    return min(results)


def export_data(items: int) -> bytes:
    """Return a signed-size-realistic ExportData envelope with ``items`` goods items."""
    sample = ROOT / "samples" / "messages"
    base = next(iter(sorted(sample.glob("*export-data*.xml"))), None)
    if base is None:
        sys.exit("no ExportData sample in samples/messages; run scripts/make_samples.py")
    envelope = codec.from_xml(base.read_bytes(), Envelope)
    document = envelope.document
    assert isinstance(document, ExportData)
    first = document.goods_item[0]
    goods = tuple(first.model_copy(update={"item_number": n + 1, "quantity": None}) for n in range(items))
    bigger = document.model_copy(update={"goods_item": goods})
    rebuilt = Envelope.wrap(
        ExportData.model_validate(bigger.model_dump()),
        message_id=uuid.UUID(int=items),
        conversation_id=envelope.header.conversation_id,
        sender=envelope.header.sender,
        receiver=envelope.header.receiver,
        created=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
    )
    return codec.to_xml(rebuilt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    args = parser.parse_args()
    budget = 0.2 if args.quick else 1.0
    full = schemas._lxml_schema("full")  # the same compiled schema our validation uses
    cases: list[tuple[str, bytes]] = [
        (path.stem, path.read_bytes()) for path in sorted((ROOT / "samples" / "messages").glob("*.xml"))
    ]
    cases += [(f"ExportData x{n} items", export_data(n)) for n in (1, 100, 10_000)]
    print(
        f"{'message':44} {'bytes':>9} {'bare lxml':>11} {'parse+xsd':>11} {'+model':>11} {'xmlschema':>11} "
        f"{'ours/bare':>9} {'xs/bare':>8}"
    )
    for name, raw in cases:
        n_budget = budget * (3 if len(raw) > 1_000_000 else 1)

        def bare(raw: bytes = raw) -> None:
            full.validate(etree.fromstring(raw))

        def checked(raw: bytes = raw) -> None:
            schemas.check_document(codec.parse(raw))

        def ours(raw: bytes = raw) -> None:
            root = codec.parse(raw)
            schemas.check_document(root)
            codec.decode(root)

        def second_engine(raw: bytes = raw) -> None:
            schemas.xsd_issues(codec.parse(raw), engine="xmlschema")

        t_bare = best(bare, budget=n_budget)
        t_checked = best(checked, budget=n_budget)
        t_ours = best(ours, budget=n_budget)
        t_bare = min(t_bare, best(bare, budget=n_budget))  # measure the floor again after ours
        t_xs = best(second_engine, budget=n_budget, rounds=2 if len(raw) > 1_000_000 else 3)
        print(
            f"{name[:44]:44} {len(raw):>9} {t_bare * 1e3:>9.3f}ms {t_checked * 1e3:>9.3f}ms {t_ours * 1e3:>9.3f}ms "
            f"{t_xs * 1e3:>9.2f}ms {t_ours / t_bare:>8.1f}x {t_xs / t_bare:>7.0f}x"
        )


if __name__ == "__main__":
    main()
