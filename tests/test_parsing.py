"""The safe parser: every hostile input ends in a clear ParseError, reads no file and touches no network.

One test per attack in ``samples/hostile/`` (its README says what each file tries and what must happen;
``expected.json`` says what ``exchange.accept`` raises for each, for a gateway run), the parse bounds on
attributes and namespace declarations reproduced through ``exchange.accept`` with the flood sizes that
cost tens of seconds before the bounds existed, plus properties that hold for any bytes and a guard that
``codec.parse`` stays the package's only XML parse. The timeouts are a guard against a hang, not a timing
assertion; the timings are in ``benchmarks/bench_hostile.py``.
"""

from __future__ import annotations

import ast
import datetime as dt
import errno
import http.server
import importlib.util
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from picexchange import codec, exchange, schemas
from picexchange.codec import DEFAULT_LIMITS, Limits, parse
from picexchange.errors import MessageError, MessageTooLarge, ParseError, SchemaError

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "samples" / "hostile"
PACKAGE = ROOT / "src" / "picexchange"
ATTACKER = b"http://attacker.example"
PASSWD = b"file:///etc/passwd"
FEW_ELEMENTS = Limits(max_elements=1000)
EXPECTED: dict[str, dict[str, Any]] = json.loads((HOSTILE / "expected.json").read_text())
# A minute after the Created of the base message (plastic-au-my-01), inside the validity of the TEST keys.
ACCEPTED_AT = dt.datetime(2026, 1, 20, 22, 16, tzinfo=dt.UTC)
ALL_FILES = sorted(
    path.name for path in HOSTILE.iterdir() if path.is_file() and path.name not in ("README.md", "expected.json")
)


def hostile(name: str) -> bytes:
    return (HOSTILE / name).read_bytes()


def refused(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ParseError:
    """Return the ParseError parse raises for ``raw`` (exactly that class, not a subclass or another error)."""
    with pytest.raises(ParseError) as caught:
        parse(raw, limits=limits)
    assert type(caught.value) is ParseError
    return caught.value


def everything_said(error: BaseException) -> str:
    """Return every text the error and its chain of causes carry."""
    texts = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


def passwd_lines() -> list[str]:
    try:
        return [line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()]
    except OSError:
        pytest.skip("no /etc/passwd on this machine")


class OpenWatch:
    """A FIFO that records every attempt to open it for reading.

    A reader blocks in ``open`` until a writer appears; a thread keeps trying a non-blocking open for
    writing, which succeeds only while someone is opening the FIFO to read. It then answers with a marker,
    so a parser that did open the file is never left hanging.
    """

    MARKER = b"SECRET-MARKER-root:x:0:0"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "secret"
        os.mkfifo(self.path)
        self.url = self.path.as_uri().encode()
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO  # no reader yet
                time.sleep(0.001)
                continue
            self.opened += 1
            try:
                os.write(descriptor, self.MARKER)
            except BrokenPipeError:
                pass  # the reader gave up first; the open is what counts
            finally:
                os.close(descriptor)
            time.sleep(0.01)

    def __enter__(self) -> OpenWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        time.sleep(0.05)  # let the watcher see an open that started just before the parse returned
        self._stop.set()
        self._thread.join()


class LoopbackServer(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records every connection and would serve the attacker's DTD."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        super().__init__(("127.0.0.1", 0), _AttackerHandler)

    @property
    def url(self) -> bytes:
        return f"http://127.0.0.1:{self.server_port}".encode()


class _AttackerHandler(http.server.BaseHTTPRequestHandler):
    server: LoopbackServer

    def handle(self) -> None:
        self.server.connections.append(self.client_address)
        super().handle()

    def do_GET(self) -> None:
        body = b'<!ENTITY send "exfiltrated">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ------------------------------------------------------------------------------------------- entity attacks


def test_billion_laughs_is_refused_as_a_doctype() -> None:
    """Nested internal entities (10**9 "lol") are refused for their DOCTYPE, never expanded."""
    error = refused(hostile("billion-laughs.xml"))
    assert "DOCTYPE declarations are not allowed" in error.text
    assert "lol" not in everything_said(error)
    assert error.line == 2


def test_quadratic_blowup_is_refused_as_a_doctype() -> None:
    """One large entity referenced thousands of times is refused for its DOCTYPE, never expanded."""
    error = refused(hostile("quadratic-blowup.xml"))
    assert "DOCTYPE" in error.text
    assert "AAAA" not in everything_said(error)


def test_xxe_file_entity_is_refused_and_leaks_nothing() -> None:
    """An external entity on /etc/passwd is refused; no line of the file appears in the error or a report."""
    raw = hostile("xxe-file.xml")
    error = refused(raw)
    assert "DOCTYPE" in error.text
    said = everything_said(error) + "\n".join(map(str, schemas.validate(raw).issues))
    for line in passwd_lines():
        assert line not in said


def test_xxe_http_entity_is_refused_without_a_request(attacker: LoopbackServer) -> None:
    """An external entity over http is refused and nothing connects to its server."""
    raw = hostile("xxe-http.xml").replace(ATTACKER, attacker.url)
    assert attacker.url in raw
    assert "DOCTYPE" in refused(raw).text
    assert attacker.connections == []


def test_external_dtd_over_http_is_refused_without_a_request(attacker: LoopbackServer) -> None:
    """An external DTD (``<!DOCTYPE x SYSTEM "http://...">``) is refused and not fetched."""
    raw = hostile("external-dtd-http.xml").replace(ATTACKER, attacker.url)
    assert attacker.url in raw
    assert "DOCTYPE" in refused(raw).text
    assert attacker.connections == []


def test_external_dtd_file_is_refused_and_leaks_nothing() -> None:
    """An external DTD on /etc/passwd is refused; the file's content appears nowhere."""
    error = refused(hostile("external-dtd-file.xml"))
    assert "DOCTYPE" in error.text
    for line in passwd_lines():
        assert line not in everything_said(error)


def test_parameter_entities_are_refused_without_a_request(attacker: LoopbackServer) -> None:
    """The out-of-band exfiltration pattern (%file; then %exfil; from the attacker) fetches nothing."""
    raw = hostile("parameter-entities.xml").replace(ATTACKER, attacker.url)
    assert attacker.url in raw
    assert "DOCTYPE" in refused(raw).text
    assert attacker.connections == []


@pytest.mark.parametrize("name", ["xxe-file.xml", "external-dtd-file.xml", "parameter-entities.xml", "xinclude.xml"])
def test_no_file_is_opened(name: str, tmp_path: Path) -> None:
    """Parsing, validating and decoding a document that points at a local file never opens that file."""
    with OpenWatch(tmp_path) as watch:
        raw = hostile(name).replace(PASSWD, watch.url)
        assert watch.url in raw
        try:
            codec.decode(parse(raw))
        except (ParseError, SchemaError) as exc:
            assert OpenWatch.MARKER.decode() not in everything_said(exc)
        report = schemas.validate(raw)
    assert watch.opened == 0
    assert all(OpenWatch.MARKER.decode() not in issue.text for issue in report.issues)


def test_external_dtd_hidden_by_utf7_is_not_opened(tmp_path: Path) -> None:
    """A DOCTYPE no byte scan can see (UTF-7) still opens no file and is refused once parsed."""
    with OpenWatch(tmp_path) as watch:
        raw = b"<?xml version='1.0' encoding='UTF-7'?>\n+ADw-!DOCTYPE x SYSTEM \"" + watch.url + b'"+AD4-\n<x>y</x>'
        error = refused(raw)
    assert watch.opened == 0
    assert "DOCTYPE" in error.text


# ------------------------------------------------------------------------------------------- XInclude


def test_xinclude_is_not_processed() -> None:
    """Parse leaves ``xi:include`` as a plain element; nothing is included."""
    root = parse(hostile("xinclude.xml"))
    includes = root.findall(".//{http://www.w3.org/2001/XInclude}include")
    assert len(includes) == 1
    assert includes[0].get("href") == "file:///etc/passwd"
    serialised = etree.tostring(root).decode()
    for line in passwd_lines():
        assert line not in serialised


def test_xinclude_is_refused_by_decoding() -> None:
    """An ``xi:include`` where the model expects a Name is an unexpected element, not data."""
    with pytest.raises(SchemaError) as caught:
        codec.decode(parse(hostile("xinclude.xml")))
    assert any("unexpected element include" in issue.text for issue in caught.value.issues)
    assert any((issue.path or "").endswith("/Exporter/include") for issue in caught.value.issues)


@pytest.mark.parametrize("engine", ["lxml", "xmlschema"])
def test_xinclude_is_refused_by_validation(engine: schemas.Engine) -> None:
    """Both validation engines refuse the ``xi:include`` element at the Exporter."""
    report = schemas.validate(hostile("xinclude.xml"), engine=engine)
    assert report.stage == "schema"
    assert report.document is None
    assert any("Exporter" in (issue.path or "") for issue in report.issues)


# ------------------------------------------------------------------------------------------- shape attacks


def test_deep_nesting_is_refused() -> None:
    """100 000 nested elements are refused as too deep, with our bound in the text, not libxml2's advice."""
    error = refused(b"<a>" * 100_000 + b"</a>" * 100_000)
    assert "nested deeper than 32" in error.text
    assert "XML_PARSE_HUGE" not in error.text


def test_depth_bound_is_exact() -> None:
    """A document exactly ``max_depth`` deep parses; one level more is refused."""
    assert parse(b"<a>" * 32 + b"</a>" * 32).tag == "a"
    assert "nested deeper than 32" in refused(b"<a>" * 33 + b"</a>" * 33).text


def test_truncated_document_is_not_well_formed() -> None:
    """An envelope cut off mid-element is not well-formed, with the line where the data ended."""
    error = refused(hostile("truncated.xml"))
    assert "not well-formed" in error.text
    assert error.line == 32


@pytest.mark.parametrize("name", ["binary-png.bin", "binary-random.bin"])
def test_binary_input_is_not_well_formed(name: str) -> None:
    """Binary input (an image, random bytes) is not well-formed XML."""
    assert "not well-formed" in refused(hostile(name)).text


@pytest.mark.parametrize("data", [b"<a>\x00</a>", b"<a><b></a>", b"<a>&bogus;</a>", b"<a", b"\xff\xfe<a/>"])
def test_a_parse_error_is_one_line_of_text(data: bytes) -> None:
    """libxml2 ends some of its texts in a line break ("Char 0x0 out of allowed range\\n"): the error is one line,
    so a report printed as file:line: message stays one line per problem."""
    error = refused(data)
    assert "\n" not in error.text and error.text == error.text.strip()


@pytest.mark.parametrize("name", ["empty.xml", "whitespace-only.xml"])
def test_empty_input_is_refused_as_empty(name: str) -> None:
    """No bytes, or only white space, is an empty document."""
    assert refused(hostile(name)).text == "document is empty"


def test_long_leading_white_space_is_not_called_empty() -> None:
    """White space before the root is allowed (XML 1.0 Misc); past 4 KB it still is not an empty document."""
    assert parse(b" " * 5000 + b"<a/>").tag == "a"
    assert "not well-formed" in refused(b" " * 5000 + b"junk").text


@pytest.mark.parametrize("name", ["utf16-doctype.xml", "utf8-bom-doctype.xml", "utf7-doctype.xml"])
def test_doctype_in_another_encoding_is_refused(name: str) -> None:
    """A DOCTYPE behind a byte order mark or in UTF-16 or UTF-7 is refused all the same."""
    error = refused(hostile(name))
    assert "DOCTYPE" in error.text
    assert "Southern Plastics" not in everything_said(error)


def test_stylesheet_processing_instruction_is_harmless(attacker: LoopbackServer) -> None:
    """``<?xml-stylesheet href=...?>`` is kept as a processing instruction and never fetched."""
    raw = hostile("stylesheet-pi.xml").replace(ATTACKER, attacker.url)
    root = parse(raw)
    pi = root.getprevious()
    assert isinstance(pi, etree._ProcessingInstruction)
    assert pi.target == "xml-stylesheet"
    assert schemas.validate(raw).stage == "ok"
    assert attacker.connections == []


def test_cdata_wrapped_envelope_is_not_well_formed() -> None:
    """An envelope hidden in a CDATA section outside any element is not a document."""
    assert "not well-formed" in refused(hostile("cdata-wrapped-envelope.xml")).text


def test_too_many_elements_is_refused() -> None:
    """A document over ``Limits.max_elements`` is refused with the count and the limit."""
    error = refused(hostile("too-many-elements.xml"), limits=FEW_ELEMENTS)
    assert "1583 elements, more than the limit of 1000" in error.text


def test_too_many_elements_parses_under_the_default_limit() -> None:
    """The same document is within the default element bound (the bound, not the shape, refused it)."""
    assert parse(hostile("too-many-elements.xml")).tag == "{urn:picexchange:envelope:1}Envelope"


def test_oversize_input_is_refused_before_parsing() -> None:
    """Input over ``max_bytes`` raises MessageTooLarge even when it is also an entity bomb."""
    raw = hostile("billion-laughs.xml")
    with pytest.raises(MessageTooLarge) as caught:
        parse(raw, limits=Limits(max_bytes=len(raw) - 1))
    assert f"{len(raw)} bytes exceeds the limit of {len(raw) - 1} bytes" in caught.value.text
    assert caught.value.__cause__ is None


def test_str_input_is_a_type_error() -> None:
    """A str is refused: it would be ambiguous (text, path or URL) and its encoding is not the document's."""
    with pytest.raises(TypeError, match="takes bytes, not str"):
        parse("<a/>")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- attributes, namespaces


@cache
def hostile_script() -> ModuleType:
    """Return scripts/make_hostile_samples.py as a module: it signs with the TEST keys in samples/keys."""
    spec = importlib.util.spec_from_file_location("make_hostile_samples", ROOT / "scripts" / "make_hostile_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def accept(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> exchange.Inbound:
    """Accept ``raw`` as MY:DOE, the receiver of every hostile sample, with the samples' registry."""
    script = hostile_script()
    return exchange.accept(
        raw,
        me=script.identity("MY:DOE"),
        trust=script.trust(),
        now=ACCEPTED_AT,
        policy=exchange.AcceptPolicy(limits=limits),
    )


def refused_by_accept(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ParseError:
    with pytest.raises(ParseError) as caught:
        accept(raw, limits=limits)
    assert type(caught.value) is ParseError
    return caught.value


def flood_root(count: int) -> bytes:
    """A genuine signed Notification with ``count`` extra namespace declarations on its root."""
    signed: bytes = hostile_script().sign(hostile_script().base_tree())
    declarations = b"".join(b' xmlns:n%d="urn:n:%d"' % (i, i) for i in range(count))
    return signed.replace(b"<env:Envelope ", b"<env:Envelope" + declarations + b" ", 1)


def test_the_base_of_the_floods_is_accepted() -> None:
    """The genuine message every flood starts from is accepted: the refusals below are the floods' doing."""
    assert accept(hostile_script().sign(hostile_script().base_tree())).signer.id == "AU:DCCEEW"
    assert accept(flood_root(29)).signer.id == "AU:DCCEEW"  # unused declarations are not signed


@pytest.mark.timeout(60)
def test_a_namespace_flood_with_a_garbage_signature_is_refused_before_signature_processing() -> None:
    """80 000 declarations on the root and a garbage SignatureValue cost 49 s in signxml; now a ParseError.

    The keyless attacker of issue 7: only the partner's public certificate (in every message it sends).
    """
    raw = hostile_script().namespace_flood(80_000)
    error = refused_by_accept(raw)
    assert error.text == "element Envelope declares 80003 namespaces, more than the limit of 32 per element"
    assert (error.path, error.line) == ("/Envelope", 2)
    assert error.message_id is None  # refused before anything was read from the header


@pytest.mark.timeout(60)
def test_a_namespace_flood_on_a_genuine_signature_is_refused() -> None:
    """Unused declarations are not signed, so a replayed genuine message carries a flood with a valid signature."""
    error = refused_by_accept(flood_root(40_000))
    assert "more than the limit of 32 per element" in error.text
    assert error.path == "/Envelope"


@pytest.mark.timeout(60)
def test_an_attribute_flood_on_one_element_is_refused_before_signature_processing() -> None:
    """100 000 attributes on one element of a signed message ran past 120 s (C14N); now a ParseError."""
    signed: bytes = hostile_script().sign(hostile_script().base_tree())
    attributes = b"".join(b' a%d="1"' % i for i in range(100_000))
    raw = signed.replace(b"<cmn:Tonnes", b"<cmn:Tonnes" + attributes, 1)
    assert raw != signed
    error = refused_by_accept(raw)
    assert error.text == "element Tonnes has 100000 attributes, more than the limit of 32 per element"
    assert (error.path, error.line) == ("/Envelope/Body/Notification/IntendedQuantity/Tonnes", 47)


@pytest.mark.timeout(60)
def test_attributes_spread_over_many_elements_are_refused_at_the_default_total() -> None:
    """200 001 attributes, none of the 6 251 elements over the per-element bound, pass the default total."""
    assert DEFAULT_LIMITS.max_attributes == 200_000
    per_element = DEFAULT_LIMITS.max_attributes_per_element
    element = b"<pic:Padding" + b"".join(b' a%d="1"' % i for i in range(per_element)) + b"/>"
    padding = element * (DEFAULT_LIMITS.max_attributes // per_element + 1)
    signed: bytes = hostile_script().sign(hostile_script().base_tree())
    raw = signed.replace(b"</pic:Notification>", padding + b"</pic:Notification>", 1)
    error = refused_by_accept(raw)
    assert error.text == "document has 200038 attributes, more than the limit of 200000"  # 6 in the message itself
    assert error.path is not None and error.path.startswith("/Envelope/Body/Notification/Padding[")
    assert error.line is not None


def small_document(*, attributes: int = 0, declarations: int = 0, elements: int = 1) -> bytes:
    """``elements`` children of a root, each with the given numbers of attributes and namespace declarations."""
    child = (
        b"<c"
        + b"".join(b' xmlns:p%d="urn:%d"' % (i, i) for i in range(declarations))
        + b"".join(b' a%d="1"' % i for i in range(attributes))
        + b"/>"
    )
    return b"<?xml version='1.0'?>\n<root>\n" + b"\n".join([child] * elements) + b"\n</root>"


def test_the_per_element_attribute_bound_is_exact() -> None:
    """32 attributes on an element parse; 33 are refused with the count, the bound, the path and the line."""
    assert parse(small_document(attributes=32, elements=3)).tag == "root"
    error = refused(small_document(attributes=33, elements=3))
    assert error.text == "element c has 33 attributes, more than the limit of 32 per element"
    assert (error.path, error.line) == ("/root/c[1]", 3)


def test_the_per_element_namespace_bound_is_exact() -> None:
    """32 namespace declarations on an element parse; 33 are refused with the path and the line."""
    assert parse(small_document(declarations=32, elements=3)).tag == "root"
    error = refused(small_document(declarations=33, elements=3))
    assert error.text == "element c declares 33 namespaces, more than the limit of 32 per element"
    assert (error.path, error.line) == ("/root/c[1]", 3)


def test_the_total_attribute_bound_is_exact_and_names_where_it_is_crossed() -> None:
    """The total counts every attribute; the error points at the element that carries the first one too many."""
    limits = Limits(max_attributes=100)
    assert parse(small_document(attributes=10, elements=10), limits=limits).tag == "root"
    error = refused(small_document(attributes=10, elements=11), limits=limits)
    assert error.text == "document has 110 attributes, more than the limit of 100"
    assert (error.path, error.line) == ("/root/c[11]", 13)


def test_the_total_namespace_bound_is_exact_and_names_where_it_is_crossed() -> None:
    """The total counts every declaration, the root's included; the error points at the element crossing it."""
    limits = Limits(max_namespace_declarations=100)
    assert parse(small_document(declarations=10, elements=10), limits=limits).tag == "root"
    error = refused(small_document(declarations=10, elements=11), limits=limits)
    assert error.text == "document declares 110 namespaces, more than the limit of 100"
    assert (error.path, error.line) == ("/root/c[11]", 13)


def test_namespace_declarations_are_not_attributes_and_the_reverse() -> None:
    """Each bound counts only its own kind: 32 of each on one element is within both bounds."""
    assert parse(small_document(attributes=32, declarations=32)).tag == "root"


def test_only_real_declarations_are_counted() -> None:
    """Text, CDATA and attribute values that look like declarations are not counted; real ones after them are."""
    fake = " ".join(f'xmlns:f{i}="urn:f{i}"' for i in range(40))
    looks_like = (
        f"<root xmlns:q=\"urn:it's\"><a t='&lt;b {fake}&gt;'>&lt;b {fake}&gt;</a><![CDATA[<b {fake}>]]>"
        f'<c u="&gt;"/></root>'
    ).encode()
    assert parse(looks_like).tag == "root"
    real = looks_like.replace(b'<c u="&gt;"/>', b'<c u="&gt;" ' + fake.encode() + b"/>")
    error = refused(real)
    assert error.text == "element c declares 40 namespaces, more than the limit of 32 per element"
    assert error.path == "/root/c"


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),
        lambda text: ("<?xml version='1.0' encoding='UTF-16'?>\n" + text).encode("utf-16"),
        lambda text: ("<?xml version='1.0' encoding='UTF-16BE'?>\n" + text).encode("utf-16-be"),
        lambda text: ("<?xml version='1.0' encoding='ISO-8859-1'?>\n" + text).encode("latin-1"),
    ],
    ids=["utf-16-bom", "utf-16-declared", "utf-16be-no-bom", "latin-1"],
)
def test_bounds_hold_in_any_encoding(encode: Any) -> None:
    """A byte count is only a shortcut for UTF-8: in UTF-16 no byte reads ``xmlns`` or ``=``, yet both bounds hold."""
    declarations = "<r>" + "<c" + "".join(f' xmlns:p{i}="urn:{i}"' for i in range(33)) + "/></r>"
    attributes = "<r>" + "<c" + "".join(f' a{i}="1"' for i in range(33)) + "/></r>"
    assert "declares 33 namespaces" in refused(encode(declarations)).text
    assert "has 33 attributes" in refused(encode(attributes)).text
    assert parse(encode(declarations.replace(' xmlns:p32="urn:32"', ""))).tag == "r"


def test_declarations_are_located_among_elements_with_any_names() -> None:
    """Names outside ASCII, and attribute values holding `>`, do not shift the element a refusal names."""
    declarations = "".join(f' xmlns:p{i}="urn:{i}"' for i in range(33))
    raw = f'<rôle a="&gt;"><été b="x&gt;y"/><été/><straße{declarations}/></rôle>'.encode()
    error = refused(raw)
    assert error.text == "element straße declares 33 namespaces, more than the limit of 32 per element"
    assert error.path == "/rôle/straße"


def test_in_scope_namespaces_are_not_declarations() -> None:
    """Only an element's own declarations count toward its bound, not those it inherits."""
    inherited = b"<r" + b"".join(b' xmlns:p%d="urn:%d"' % (i, i) for i in range(30)) + b">"
    raw = inherited + b"<c" + b"".join(b' xmlns:q%d="urn:q%d"' % (i, i) for i in range(30)) + b"/></r>"
    assert parse(raw).tag == "r"


def declarations_per_element(root: etree._Element) -> list[int]:
    """Return how many namespaces each element declares itself (its start-ns events come before its start)."""
    counts, pending = [], 0
    for event, _ in etree.iterwalk(root, events=("start-ns", "start")):
        if event == "start-ns":
            pending += 1
        else:
            counts.append(pending)
            pending = 0
    return counts


def test_the_default_bounds_are_comfortably_above_what_the_samples_use() -> None:
    """Every message sample, signed or not, is far within the defaults (measured here, not assumed)."""
    most = {"attributes": 0, "attributes per element": 0, "declarations": 0, "declarations per element": 0}
    samples = [*(ROOT / "samples" / "messages").glob("*.xml"), *(ROOT / "samples" / "signed").glob("*.xml")]
    for path in samples:
        root = parse(path.read_bytes())
        attributes = [len(element.attrib) for element in root.iter()]
        declarations = declarations_per_element(root)
        most["attributes"] = max(most["attributes"], sum(attributes))
        most["attributes per element"] = max(most["attributes per element"], *attributes)
        most["declarations"] = max(most["declarations"], sum(declarations))
        most["declarations per element"] = max(most["declarations per element"], *declarations)
    assert most == {"attributes": 12, "attributes per element": 1, "declarations": 4, "declarations per element": 4}
    assert DEFAULT_LIMITS.max_attributes_per_element >= 8 * most["attributes per element"]
    assert DEFAULT_LIMITS.max_namespace_declarations_per_element >= 8 * most["declarations per element"]
    assert DEFAULT_LIMITS.max_attributes >= 10_000 * most["attributes"]
    # A writer that declares each element's namespace on the element itself declares one per element.
    assert DEFAULT_LIMITS.max_namespace_declarations >= DEFAULT_LIMITS.max_elements


# ------------------------------------------------------------------------------------------- comments and PIs


@pytest.mark.parametrize(
    ("raw", "text", "path", "line"),
    [
        (b"<a>\n<b>1<!---->60</b></a>", "a comment inside the document is not allowed (in b)", "/a/b", 2),
        (b"<a><b/>\n<?pi data?></a>", "a processing instruction inside the document is not allowed (in a)", "/a", 2),
        (b"<a><!--first--><b/></a>", "a comment inside the document is not allowed (in a)", "/a", 1),
    ],
    ids=["comment-in-text", "pi-between-elements", "comment-before-first-child"],
)
def test_comments_and_processing_instructions_inside_the_root_are_refused(
    raw: bytes, text: str, path: str, line: int
) -> None:
    """Anything inside the root that C14N without comments does not sign is refused, with where it is."""
    error = refused(raw)
    assert error.text.startswith(text)
    assert "XML signatures do not cover comments" in error.text
    assert (error.path, error.line) == (path, line)


def test_comments_and_processing_instructions_outside_the_root_stay_allowed() -> None:
    """The prolog and the end of the document are no part of any element: a comment or PI there is harmless."""
    raw = b"<?xml version='1.0'?>\n<!-- made by hand -->\n<?app data?>\n<a><b>1</b></a>\n<!-- end -->\n<?end?>"
    assert parse(raw).tag == "a"


# ------------------------------------------------------------------------------------------- the corpus through accept


def test_expected_json_describes_every_hostile_file() -> None:
    """expected.json has one entry per file, each with a code, an HTTP status and a phrase of the text."""
    assert sorted(EXPECTED) == ALL_FILES
    for name, expected in EXPECTED.items():
        assert set(expected) <= {"code", "http_status", "text", "path", "line", "limits"}, name
        assert expected["code"] in ("parse", "too-large", "signature"), name
        assert isinstance(expected["text"], str) and expected["text"], name


@pytest.mark.parametrize("name", ALL_FILES)
def test_accept_refuses_every_hostile_file_as_expected_json_says(name: str) -> None:
    """What a gateway answers for each file: the error's code, status, text and, where given, path and line."""
    expected = EXPECTED[name]
    with pytest.raises(MessageError) as caught:
        accept(hostile(name), limits=Limits(**expected.get("limits", {})))
    error = caught.value
    assert (error.code, error.http_status) == (expected["code"], expected["http_status"])
    assert expected["text"] in error.text
    assert error.path == expected.get("path", error.path)
    assert error.line == expected.get("line", error.line)


def test_every_signed_hostile_file_carries_a_valid_signature() -> None:
    """The comment and PI files verify with signxml alone, and the floods of attributes too: only the rules refuse."""
    from signxml.verifier import SignatureConfiguration, XMLVerifier

    script = hostile_script()
    certificate = script.identity("AU:DCCEEW").certificate
    config = SignatureConfiguration(location="./", expect_references=1, verification_time=ACCEPTED_AT)
    plain = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    for name in ("comment-in-quantity.xml", "comment-in-receiver.xml", "pi-in-business-content.xml"):
        root = etree.fromstring(hostile(name), plain)
        XMLVerifier().verify(root, x509_cert=certificate, expect_config=config)


@pytest.mark.timeout(120)
def test_the_generated_hostile_files_are_what_the_script_writes() -> None:
    """samples/hostile/expected.json and the signed attack files are what scripts/make_hostile_samples.py writes."""
    files: dict[Path, bytes] = hostile_script().build()
    stale = sorted(path.name for path, data in files.items() if not path.exists() or path.read_bytes() != data)
    assert not stale, f"re-run scripts/make_hostile_samples.py; out of date: {', '.join(stale)}"


# ------------------------------------------------------------------------------------------- validate

VALIDATE_STAGE = {"xinclude.xml": "schema", "stylesheet-pi.xml": "ok", "stylesheet-pi-signed.xml": "ok"}


def test_every_hostile_file_is_in_the_readme() -> None:
    """Each file in samples/hostile/ is described in its README, so none is there without a reason."""
    readme = (HOSTILE / "README.md").read_text()
    assert len(ALL_FILES) >= 19
    assert [name for name in ALL_FILES if f"`{name}`" not in readme] == []


@pytest.mark.parametrize("name", ALL_FILES)
def test_validate_reports_instead_of_raising(name: str) -> None:
    """``schemas.validate`` answers every hostile file with a report: stage parse and one issue."""
    limits = Limits(**EXPECTED[name].get("limits", {}))
    report = schemas.validate(hostile(name), limits=limits)
    stage = VALIDATE_STAGE.get(name, "parse")
    assert report.stage == stage
    if stage == "parse":
        assert len(report.issues) == 1
        assert report.issues[0].rule_id == "parse"
        assert report.document is None


def test_validate_reports_deep_nesting() -> None:
    """``schemas.validate`` answers the 100 000-deep document with one parse issue."""
    report = schemas.validate(b"<a>" * 100_000 + b"</a>" * 100_000)
    assert (report.stage, len(report.issues)) == ("parse", 1)
    assert "nested deeper" in report.issues[0].text


# ------------------------------------------------------------------------------------------- any bytes

XML_PIECES = [
    b"<?xml version='1.0'?>",
    b"<?xml version='1.0' encoding='UTF-16'?>",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"<!DOCTYPE a [",
    b"<!DOCTYPE a SYSTEM 'file:///etc/passwd'>",
    b"<!ENTITY e 'x'>",
    b"<!ENTITY % p 'x'>",
    b"%p;",
    b"]>",
    b"&e;",
    b"&lt;",
    b"&#0;",
    b"&#x10FFFF;",
    b"<a>",
    b"</a>",
    b"<b x='1'>",
    b"</b>",
    b"<c/>",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?pi data?>",
    b" ",
    b"\n",
    b"\x00",
    b"\x80",
    b"text",
    b'<a xmlns="urn:x">',
    b'<x:a xmlns:x="urn:x">',
    b"</x:a>",
    b'<b x="1" y="2" z="3">',
    b'<c xmlns:p="urn:p" xmlns:q="urn:q" p:a="1"/>',
    b"<c a='1' b='2'/>",
]


@pytest.mark.timeout(60)
@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.lists(st.sampled_from(XML_PIECES), max_size=40).map(b"".join),
    )
)
def test_any_bytes_give_an_element_or_a_parse_error(raw: bytes) -> None:
    """Whatever the bytes, parse returns a bounded, DTD-free element or raises ParseError / MessageTooLarge."""
    limits = Limits(
        max_bytes=400,
        max_depth=4,
        max_elements=12,
        max_attributes_per_element=2,
        max_attributes=4,
        max_namespace_declarations_per_element=1,
        max_namespace_declarations=2,
    )
    try:
        root = parse(raw, limits=limits)
    except MessageTooLarge:
        assert len(raw) > limits.max_bytes
        return
    except ParseError as exc:
        assert len(raw) <= limits.max_bytes
        assert exc.text
        return
    assert isinstance(root, etree._Element)
    tree = root.getroottree()
    assert not tree.docinfo.doctype
    assert tree.docinfo.internalDTD is None
    assert len(root.xpath("//*")) <= limits.max_elements
    assert not root.xpath("/*/*/*/*/*")
    attributes = [len(element.attrib) for element in root.iter()]
    assert max(attributes) <= 2 and sum(attributes) <= 4
    declarations = declarations_per_element(root)
    assert max(declarations) <= 1 and sum(declarations) <= 2
    assert not root.xpath("descendant::comment() | descendant::processing-instruction()")


# ------------------------------------------------------------------------------------------- one parser

PARSE_CALL = re.compile(
    r"etree\.(?:fromstring|fromstringlist|parse|XML|iterparse|XMLParser|XMLPullParser)\s*\("
    r"|from\s+lxml\.etree\s+import"
)


def _parse_calls() -> dict[str, set[str]]:
    """Return, for each module with an XML-parsing call, the functions that hold one."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        functions = [
            node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for number, line in enumerate(source.splitlines(), start=1):
            if not PARSE_CALL.search(line):
                continue
            around = [f for f in functions if f.lineno <= number <= (f.end_lineno or f.lineno)]
            inner = max(around, key=lambda f: f.lineno).name if around else "<module>"
            found.setdefault(path.relative_to(PACKAGE).as_posix(), set()).add(inner)
    return found


@pytest.mark.timeout(120)  # a scan of the source tree, not a parse of hostile input: the hang guard is not for it
def test_codec_is_the_only_parser_of_input() -> None:
    """XML is parsed in codec.py only, plus schemas.py compiling the packaged XSDs' bytes in ``_lxml_schema``."""
    calls = _parse_calls()
    assert set(calls) == {"codec.py", "schemas.py"}, f"XML parsed outside codec.parse (STYLE 7): {calls}"
    assert calls["schemas.py"] == {"_lxml_schema"}
    schema_source = (PACKAGE / "schemas.py").read_text()
    assert sorted(set(PARSE_CALL.findall(schema_source))) == [
        "etree.XMLParser(",
        "etree.fromstring(",
    ]
