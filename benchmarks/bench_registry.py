"""Measure reading the partner registry: TOML, the pydantic shape check, and certificates with their policy.

Run by hand from the repository root:

    .venv/bin/python benchmarks/bench_registry.py [--partners 20] [--rounds 7] [--number 20]

A gateway reads ``partners.toml`` once at start (and the CLI on every ``keys``/``verify`` command), so this
is start-up cost, not per message. In the same run and interleaved (this machine's speed drifts up to 2x
within seconds, DESIGN §7) it times, per registry of ``--partners`` partners each with one RSA-2048
certificate file (read from memory, so no disk time):

- ``toml``: ``tomllib.loads`` alone, the floor;
- ``shape``: ``read_toml`` into :class:`~picexchange.files.registry.RegistryFile` (TOML + pydantic);
- ``registry``: :func:`~picexchange.files.registry.parse_registry`, the whole load (shape, PEM decoding,
  the certificate policy, the trust store).

It prints medians in microseconds and each as a multiple of ``toml``. Numbers go into notes, never into
assertions.

Measured 2026-11-29 on the 2-core machine shared with seven other engineers' runs (pydantic 2.14, Python
3.11, RSA-2048 test PKI), medians of 9 rounds of 20 loads; the hand-written parser it replaced
(``TrustStore.from_toml_text`` before the split, run by a one-off script on the same text) for comparison:

==========================  ==========  ======
case (20 partners)          median, us  x toml
==========================  ==========  ======
toml                        2 000       1
shape (pydantic)            2 529       1.3
registry                    6 774       3.4
registry, hand-written      7 804       3.9
==========================  ==========  ======

With one partner: toml 61 us, shape 274 us, registry 611 us (hand-written: 617 us). The pydantic shape
check costs about a quarter of tomllib itself (a pure-Python parser); the certificates and their policy cost
the rest; the whole load is no slower than before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tomllib
from collections.abc import Callable

from timing import per_call

from picexchange import testpki
from picexchange.files.document import read_toml
from picexchange.files.registry import FileContent, RegistryFile, parse_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20)
    options = parser.parse_args()

    start, end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
    ids = [f"MY:P{index:03d}" for index in range(options.partners)]
    pki = testpki.make_test_pki(ids, not_before=start, not_after=end)
    text = testpki.partners_toml(pki)
    files = {
        f"{testpki.file_stem(item.id)}.cert.pem": testpki.certificate_pem(item.certificate) for item in pki.participants
    }

    def read(name: str) -> FileContent:
        return FileContent(data=files[name], name=name)

    cases: dict[str, Callable[[], object]] = {
        "toml": lambda: tomllib.loads(text),
        "shape": lambda: read_toml(text, RegistryFile, source="bench"),
        "registry": lambda: parse_registry(text, read=read, source="bench"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.rounds):
        for name, work in cases.items():
            times[name].append(per_call(work, options.number))
    floor = statistics.median(times["toml"])
    print(f"registry of {options.partners} partners, {len(text)} characters, {options.rounds} rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:10s} {median:10.1f} us  {median / floor:6.1f} x toml")


if __name__ == "__main__":
    main()
