"""Cost of exchange.accept for a message at every parse bound (just under it) and just over it.

Run by hand from the repository root:

    .venv/bin/python benchmarks/bench_hostile.py [--rounds 5] [--small]

Every message starts from ``samples/messages/plastic-au-my-01-notification.xml`` (AU:DCCEEW to MY:DOE),
signed with the TEST ONLY key of AU:DCCEEW in ``samples/keys`` (``scripts/make_hostile_samples.py``), and is
accepted as MY:DOE. The attacks carry a *genuine* signature wherever one can be made, so that every stage
runs that can (signxml's full digest over the document; the full schema, which refuses the padding
elements; decoding where the message is valid): unused namespace declarations are added to the signed
bytes (exclusive C14N does not sign them), everything else is signed as it is. ``--small`` leaves out the
three messages of 10-32 MB (elements, bytes, namespace declarations in total).

Each row is timed in interleaved rounds (every message once per round, small ones in batches), in CPU time
of this process, and the median is reported as:

- ``× normal``: the cost as a multiple of accepting the normal sealed Notification;
- ``/KB × normal``: the cost per kilobyte as a multiple of the normal message's cost per kilobyte — about 1
  or below where the cost is linear in the document;
- ``× parse``: the cost as a multiple of a bare libxml2 parse of the same bytes in the same round (this
  machine's speed drifts up to 2x within seconds, DESIGN §7).

Measured 2026-11-29 (libxml2 2.14.6, lxml 6.1, signxml 5.2), CPU time, 3 rounds, the two cores shared with
four other test suites. Normal sealed Notification (10 KB, accepted): 6.5 ms CPU (2.2 ms wall when quiet).

=====================================  ========  =========  ============  ========================
message                                bytes     × normal   /KB × normal  outcome
=====================================  ========  =========  ============  ========================
depth 32 / 33                          11 KB     0.9 / 0.3  0.81 / 0.28   schema / parse
attributes on one element 32 / 33      10 KB     0.9 / 0.3  0.85 / 0.32   schema / parse
attributes in total 200 000 / +1       1.6 MB    78 / 14    0.48 / 0.08   schema / parse
declarations on one element 32 / 33    10 KB     1.0 / 0.3  0.97 / 0.32   accepted / parse
elements 1 000 000 / +1                14 MB     945 / 64   0.68 / 0.05   schema / parse
bytes 32 MiB / +1                      32 MB     442 / 0    0.13 / 0      schema / too-large
declarations in total 1 000 000 / +1   21 MB     478 / 191  0.23 / 0.09   schema / parse
comment in IntendedQuantity            10 KB     0.3        0.33          parse
valid ExportData, 1 000 / 10 000 items 1.4/14 MB 49 / 456   0.36 / 0.34   accepted
=====================================  ========  =========  ============  ========================

Every message at a bound costs at most what its size costs (per KB at most the normal message's); every
message over one is refused by the parse for a fraction of that. Before the bounds, 80 000 declarations on
the root cost 49-118 s and 100 000 attributes on one element more than 120 s. libxml2's own parse is linear
in declarations and attributes on one element (25 000 to 400 000: 12-432 ms and 8-196 ms CPU, ordinary
content of the same bytes 15-294 ms), so nothing is refused before it. Left as found: a schema error costs
lxml a path (xmlGetNodePath counts preceding siblings), so ExportData with one error in each of 2 000 / 4 000
goods items costs 556 / 1 470 ms, 8 000 about 4.4 s in libxml2's validation alone (after the signature).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from lxml import etree

from picexchange import exchange, signing
from picexchange.codec import DEFAULT_LIMITS
from picexchange.errors import MessageError

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 1, 20, 22, 16, tzinfo=dt.UTC)  # a minute after the base message's Created
EXPORT_NOW = dt.datetime(2026, 5, 12, 5, 1, tzinfo=dt.UTC)  # a minute after max-export-data's Created
PADDING = b"pic:Padding"


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_hostile_samples", ROOT / "scripts" / "make_hostile_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


HOSTILE = script()
PLAIN = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def signed_base() -> bytes:
    data: bytes = HOSTILE.sign(HOSTILE.base_tree())
    return data


def count(raw: bytes, xpath: str) -> int:
    return int(etree.fromstring(raw, PLAIN).xpath(xpath))


BASE = signed_base()
BASE_ELEMENTS = count(BASE, "count(//*)")
BASE_ATTRIBUTES = count(BASE, "count(//@*)")
BASE_ROOT = etree.fromstring(BASE, PLAIN)
BASE_DECLARATIONS = sum(1 for _ in etree.iterwalk(BASE_ROOT, events=("start-ns",)))  # the root's and ds
ROOT_DECLARATIONS = len(BASE_ROOT.nsmap)


def signed_with(build: Callable[[etree._Element], None]) -> bytes:
    root = HOSTILE.base_tree()
    build(root)
    data: bytes = HOSTILE.sign(root)
    return data


def notification(root: etree._Element) -> etree._Element:
    found = root.find(".//{urn:picexchange:ub:pic:1}Notification")
    assert found is not None
    return found


def nested(levels: int) -> bytes:
    """Padding nested ``levels`` deep under the Notification (at depth 3)."""

    def build(root: etree._Element) -> None:
        parent = notification(root)
        for _ in range(levels):
            parent = etree.SubElement(parent, "{urn:picexchange:ub:pic:1}Padding")

    return signed_with(build)


def padded(elements: int, *, attributes: int = 0, text: str | None = None) -> bytes:
    """``elements`` empty Padding children of the Notification, each with ``attributes`` attributes."""

    def build(root: etree._Element) -> None:
        parent = notification(root)
        names = [f"a{i}" for i in range(attributes)]
        for _ in range(elements):
            child = etree.SubElement(parent, "{urn:picexchange:ub:pic:1}Padding", dict.fromkeys(names, "1"))
            child.text = text

    return signed_with(build)


def attributes_on_quantity(total: int) -> bytes:
    def build(root: etree._Element) -> None:
        quantity = root.find(".//{urn:picexchange:ub:pic:1}IntendedQuantity")
        assert quantity is not None
        for i in range(total - len(quantity.attrib)):
            quantity.set(f"a{i}", "1")

    return signed_with(build)


def attributes_in_total(total: int) -> bytes:
    per_element = DEFAULT_LIMITS.max_attributes_per_element
    extra = total - BASE_ATTRIBUTES
    full, rest = divmod(extra, per_element)

    def build(root: etree._Element) -> None:
        parent = notification(root)
        names = [f"a{i}" for i in range(per_element)]
        for _ in range(full):
            etree.SubElement(parent, "{urn:picexchange:ub:pic:1}Padding", dict.fromkeys(names, "1"))
        if rest:
            etree.SubElement(parent, "{urn:picexchange:ub:pic:1}Padding", dict.fromkeys(names[:rest], "1"))

    return signed_with(build)


def declarations_on_root(total: int) -> bytes:
    extra = total - ROOT_DECLARATIONS
    declarations = b"".join(b' xmlns:n%d="urn:n:%d"' % (i, i) for i in range(extra))
    return BASE.replace(b"<env:Envelope ", b"<env:Envelope" + declarations + b" ", 1)


def declarations_in_total(total: int) -> bytes:
    """Unused declarations, 32 to an element, on signed Padding elements: the signature stays valid."""
    per_element = DEFAULT_LIMITS.max_namespace_declarations_per_element
    full, rest = divmod(total - BASE_DECLARATIONS, per_element)
    signed = padded(full + (1 if rest else 0))
    empty = b"<" + PADDING + b"/>"

    def block(size: int) -> bytes:
        return b"<" + PADDING + b"".join(b' xmlns:n%d="urn:n:%d"' % (i, i) for i in range(size)) + b"/>"

    # bytes.replace with a count replaces the first ones; the replaced ones no longer match.
    data = signed.replace(empty, block(per_element), full)
    return data.replace(empty, block(rest), 1) if rest else data


def at_size(size: int) -> bytes:
    """A signed message of exactly ``size`` bytes: text-filled Padding, then white space after the root."""
    text = "x" * 120
    each = len(b"<%s>%s</%s>" % (PADDING, text.encode(), PADDING))
    signed = padded((size - len(BASE)) // each - 1, text=text)
    assert len(signed) <= size
    return signed + b" " * (size - len(signed))


def elements_in_total(total: int) -> bytes:
    data = padded(total - BASE_ELEMENTS)
    assert count(data, "count(//*)") == total
    return data


def export_data(goods_items: int, *, invalid: bool = False) -> bytes:
    """A valid ExportData (CH:BAZG to NL:DOUANE) with ``goods_items`` goods items: a large message decoded whole.

    With ``invalid``, every goods item's ItemNumber is ``x``: one schema error per goods item, genuinely signed.
    """
    root = etree.fromstring((ROOT / "samples" / "messages" / "max-export-data.xml").read_bytes(), PLAIN)
    item = "{urn:picexchange:ub:export:1}GoodsItem"
    originals = root.findall(f".//{item}")
    parent = originals[0].getparent()
    assert parent is not None
    at = parent.index(originals[-1]) + 1
    for n in range(goods_items - len(originals)):
        parent.insert(at + n, copy.deepcopy(originals[n % len(originals)]))
    for number, element in enumerate(parent.iter(item), start=1):
        element.findall("{urn:picexchange:ub:export:1}ItemNumber")[0].text = "x" if invalid else str(number)
    quantity = root.find(".//{urn:picexchange:ub:export:1}ActualQuantity")
    assert quantity is not None
    # The goods items may not add up to more than the shipment: the original two are its whole quantity.
    quantity.text = str(Decimal(quantity.text or "0") * goods_items)
    data: bytes = signing.sign(root, HOSTILE.identity("CH:BAZG"))
    return data


@dataclass
class Case:
    name: str
    raw: bytes
    me: str = "MY:DOE"
    now: dt.datetime = NOW
    outcome: str = ""
    times: list[float] | None = None
    parse_times: list[float] | None = None

    def accept(self) -> object:
        try:
            return exchange.accept(self.raw, me=HOSTILE.identity(self.me), trust=HOSTILE.trust(), now=self.now)
        except MessageError as exc:
            return exc


def outcome_of(case: Case) -> str:
    result = case.accept()
    return f"{result.code}: {result.text[:70]}" if isinstance(result, MessageError) else "accepted"


def build_cases(small: bool) -> list[Case]:
    limits = DEFAULT_LIMITS
    cases = [Case("normal sealed Notification", BASE)]
    pairs: list[tuple[str, Callable[[int], bytes], int]] = [
        ("depth", lambda n: nested(n - 3), limits.max_depth),
        ("attributes per element", attributes_on_quantity, limits.max_attributes_per_element),
        ("attributes in total", attributes_in_total, limits.max_attributes),
        ("declarations per element", declarations_on_root, limits.max_namespace_declarations_per_element),
    ]
    if not small:
        pairs += [
            ("elements", elements_in_total, limits.max_elements),
            ("bytes", at_size, limits.max_bytes),
            ("declarations in total", declarations_in_total, limits.max_namespace_declarations),
        ]
    for name, build, limit in pairs:
        print(f"building {name} ({limit}) ...", file=sys.stderr, flush=True)
        cases.append(Case(f"{name} = {limit}", build(limit)))
        cases.append(Case(f"{name} = {limit + 1}", build(limit + 1)))
    comment = HOSTILE.text_split(".//pic:IntendedQuantity", "160", HOSTILE._comment_inside(1))
    cases.append(Case("comment in IntendedQuantity", comment))
    # Large valid messages, decoded whole: what a partner legitimately sends, for the cost per KB.
    for goods_items in (1_000,) if small else (1_000, 10_000):
        print(f"building ExportData ({goods_items} goods items) ...", file=sys.stderr, flush=True)
        raw = export_data(goods_items)
        cases.append(Case(f"valid ExportData, {goods_items} goods items", raw, me="NL:DOUANE", now=EXPORT_NOW))
    # Left as found (schemas.py): lxml records libxml2's path of every schema error (xmlGetNodePath, which counts
    # the preceding siblings of each ancestor), so n errors among n sibling goods items cost n².
    for goods_items in (2_000, 4_000):
        print(f"building ExportData ({goods_items} goods items, each with an error) ...", file=sys.stderr, flush=True)
        raw = export_data(goods_items, invalid=True)
        name = f"ExportData, {goods_items} items, 1 error each"
        cases.append(Case(name, raw, me="NL:DOUANE", now=EXPORT_NOW))
    return cases


def libxml2_scaling() -> None:
    """Print libxml2's parse time of floods on one element, doubling, next to ordinary content of the same size.

    CPU time of this process (``time.process_time``), so that other processes on the machine blur it less.
    Linear if each row about doubles the one above and the flood costs about what ordinary content does.
    """
    shapes: dict[str, Callable[[int], bytes]] = {
        "declarations": lambda n: b"<r" + b"".join(b' xmlns:n%x="u:%x"' % (i, i) for i in range(n)) + b"/>",
        "attributes": lambda n: b"<r" + b"".join(b' a%x="1"' % i for i in range(n)) + b"/>",
        "prefixed attributes": lambda n: (
            b"<r" + b"".join(b' xmlns:n%x="u:%x" n%x:a="1"' % (i, i, i) for i in range(n // 2)) + b"/>"
        ),
        "ordinary, same bytes": lambda n: b"<r>" + b'<e a="1">t</e>' * (n * 22 // 16) + b"</r>",
    }
    parser = etree.XMLParser(resolve_entities=False, no_network=True)

    def cpu(raw: bytes) -> float:
        times = []
        for _ in range(5):
            started = time.process_time()
            etree.fromstring(raw, parser)
            times.append(time.process_time() - started)
        return statistics.median(times)

    print("libxml2 parse, N on one element, CPU ms (median of 5):")
    print(f"{'N':>8} " + " ".join(f"{name:>21}" for name in shapes))
    for n in (25_000, 50_000, 100_000, 200_000, 400_000):
        print(f"{n:>8} " + " ".join(f"{cpu(build(n)) * 1000:>21.1f}" for build in shapes.values()))
    print()


def timed(function: Callable[[], object], calls: int) -> float:
    # CPU time of this process: four other test suites share the two cores, and wall-clock time of a 2 ms
    # call varied 10x between runs under that load; CPU time much less.
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="leave out the 10-32 MB messages")
    options = parser.parse_args()
    libxml2_scaling()
    cases = build_cases(options.small)
    batches = {}
    for case in cases:
        case.outcome = outcome_of(case)
        case.times, case.parse_times = [], []
        once = timed(case.accept, 1)
        batches[case.name] = max(1, min(200, int(0.05 / max(once, 1e-6))))
    for _ in range(options.rounds):
        for case in cases:
            calls = batches[case.name]
            assert case.times is not None and case.parse_times is not None
            case.times.append(timed(case.accept, calls))
            case.parse_times.append(timed(lambda raw=case.raw: etree.fromstring(raw, PLAIN), calls))
    normal = cases[0]
    assert normal.times is not None
    normal_ms = statistics.median(normal.times) * 1000
    normal_per_kb = normal_ms / (len(normal.raw) / 1024)
    header = (
        f"{'message':<38} {'bytes':>10} {'accept ms':>10} {'× normal':>9} {'/KB × normal':>12} {'× parse':>8}  outcome"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        assert case.times is not None and case.parse_times is not None
        ms = statistics.median(case.times) * 1000
        parse_ms = statistics.median(case.parse_times) * 1000
        per_kb = ms / (len(case.raw) / 1024) / normal_per_kb
        print(
            f"{case.name:<38} {len(case.raw):>10} {ms:>10.2f} {ms / normal_ms:>9.1f} {per_kb:>12.2f} "
            f"{ms / parse_ms:>8.1f}  {case.outcome}"
        )


if __name__ == "__main__":
    main()
