"""Measure what compiling the packaged XSDs costs, as shipped and as compiled before picexchange.resources.

Run by hand from the repository root:

    .venv/bin/python benchmarks/bench_resources.py [--rounds 5] [--number 20]

The pure core finds no file itself: :mod:`picexchange.resources` hands :mod:`picexchange.schemas` the XSDs'
bytes (and, for libxml2's imports, their installed location). Compiling happens once per thread (lxml) or
once per process (xmlschema), so this is a start-up cost, not a per-message one. In the same run and
interleaved (this machine's speed drifts up to 2x within seconds) it times, per compile:

- ``lxml full, shipped``: ``schemas._lxml_schema("full")`` (driver bytes, location from resources);
- ``lxml full, files``: the same driver parsed with a ``file://`` base URL built with pathlib (before);
- ``xmlschema, bytes`` / ``xmlschema, files``: the full xmlschema object from the five XSDs' bytes with
  ``allow="none"`` (shipped), and from their paths with ``allow="local"`` (before).

It prints medians in milliseconds. Numbers go into notes, never into assertions.

Measured 2026-11-29 on the 2-core machine shared with four other engineers' test runs:

====================  ==========
case                  median, ms
====================  ==========
lxml full, shipped    4.2
lxml full, files      4.3
xmlschema, bytes      301.7
xmlschema, files      316.8
====================  ==========

Handing the core bytes instead of paths costs nothing measurable (within this machine's drift).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import xmlschema
from lxml import etree

from picexchange import resources, schemas

XSD = Path(str(resources.schema_dir()))


def _lxml_from_files() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    root = etree.fromstring(schemas._driver(), parser, base_url=(XSD / "driver.xsd").as_uri())
    return etree.XMLSchema(root.getroottree())


def _xmlschema_from_bytes() -> xmlschema.XMLSchema10:
    schemas.xmlschema_schema.cache_clear()
    return schemas.xmlschema_schema()


def _xmlschema_from_files() -> xmlschema.XMLSchema10:
    names = ("envelope.xsd", "ub-pic.xsd", "ub-export.xsd")
    return xmlschema.XMLSchema10([str(XSD / name) for name in names], allow="local", defuse="always")


def _per_call(work: Callable[[], object], number: int) -> float:
    started = time.perf_counter()
    for _ in range(number):
        work()
    return (time.perf_counter() - started) / number * 1e3


def main() -> None:
    """Time each way of compiling the schemas, interleaved; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20)
    args = parser.parse_args()
    cases: dict[str, Callable[[], object]] = {
        "lxml full, shipped": lambda: schemas._lxml_schema("full"),
        "lxml full, files": _lxml_from_files,
        "xmlschema, bytes": _xmlschema_from_bytes,
        "xmlschema, files": _xmlschema_from_files,
    }
    for work in cases.values():
        work()  # warm up: imports, caches
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, work in cases.items():
            number = args.number if name.startswith("lxml") else max(1, args.number // 10)
            times[name].append(_per_call(work, number))
    print(f"{'case':<20} {'median, ms':>10}")
    for name, values in times.items():
        print(f"{name:<20} {statistics.median(values):>10.1f}")


if __name__ == "__main__":
    main()
