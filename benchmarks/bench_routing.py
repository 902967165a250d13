"""Measure what the one header reader and the one routing decision cost, next to a whole accept.

Run by hand from the repository root:

    .venv/bin/python benchmarks/bench_routing.py [--rounds 7] [--number 300]

``exchange.accept`` reads the header three times (the message id for its errors, the received tree after the
envelope schema, the signed tree after verification) and decides the routing three times (before the
signature in accept and in verify, then on the signed header). In the same run and interleaved (this
machine's speed drifts up to 2x within seconds, DESIGN §7) it times, per call:

- ``read_header``: :func:`picexchange.signing.read_header` of the parsed plastic-au-my Notification (8.7 KB);
- ``admit``: :func:`picexchange.signing.admit` of that header against a registry of four partners;
- ``accept``: ``exchange.accept`` of the same signed message (parse, schemas, signature, decode).

It prints medians in microseconds and the share of one accept. Numbers go into notes, never into assertions.

Measured 2026-11-29 on the 2-core machine shared with four other engineers' test runs (RSA-2048):

=============  ==========  ===============
case           median, us  share of accept
=============  ==========  ===============
read_header    23          0.8 %
admit          0.8         0.03 %
accept         3 090       100 %
=============  ==========  ===============

Three header reads and three routing decisions cost about 70 us, 2 % of an accept. Against main before the
one reader (five path lookups in exchange, five in signing), ``exchange.accept`` medians alternated
2 238 / 2 130 us (before) and 1 984 / 2 107 us (after), within this machine's drift.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
from collections.abc import Callable
from pathlib import Path

from timing import per_call

from picexchange import codec, exchange, signing, testpki
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "messages" / "plastic-au-my-01-notification.xml"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def main() -> None:
    """Time the header reader, the routing decision and a whole accept, interleaved; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=300)
    options = parser.parse_args()

    pki = testpki.make_test_pki(
        ["AU:DCCEEW", "MY:DOE", "MY:RMCD", "SG:NEA"],
        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2028, 1, 1, tzinfo=dt.UTC),
    )
    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    sealed = exchange.seal(document, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)
    trust, me = pki.trust(), pki["MY:DOE"].identity
    root = codec.parse(sealed.raw)
    header = signing.read_header(root)
    hosted = frozenset({"MY:DOE"})
    cases: dict[str, tuple[Callable[[], object], int]] = {
        "read_header": (lambda: signing.read_header(root), options.number * 10),
        "admit": (lambda: signing.admit(header, hosted=hosted, trust=trust), options.number * 10),
        "accept": (lambda: exchange.accept(sealed.raw, me=me, trust=trust, now=NOW), options.number),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.rounds):
        for name, (work, number) in cases.items():
            results[name].append(per_call(work, number))
    accept = statistics.median(results["accept"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:<12} {median:>10.1f} us  {median / accept * 100:6.2f} % of accept")


if __name__ == "__main__":
    main()
