"""The only module that parses XML: a safe, bounded parser and the model <-> XML and JSON mapping.

:func:`parse` is the one place bytes become an lxml tree (a test holds the package to it). It refuses
DTDs, never resolves entities, never touches the network, and bounds size, depth, element count, attributes
and namespace declarations (see :class:`Limits`) before anything else looks at the tree.

**What is shown and acted on is what was signed.** An envelope is signed with exclusive C14N *without
comments*, so comments and processing instructions are not signed: ``<IntendedQuantity>1<!---->60
</IntendedQuantity>`` is signed as ``160``, and a reader that stopped at the comment would show ``1``. One
rule closes this, in two parts that hold each other up:

- :func:`parse` refuses a comment or a processing instruction anywhere inside the root element
  (:class:`~picexchange.errors.ParseError` with the line and the path of the element that holds it). Before
  the root (the prolog, e.g. ``<?xml-stylesheet?>``) and after it they stay allowed here: they are no part of
  any element's content or of any value. (A signed message may not carry a processing instruction there:
  :mod:`picexchange.signing` refuses it, because XMLDSig libraries disagree on whether ``URI=""`` signs it.)
- every text read (:func:`decode` of every simple field, :func:`header_text` for the header readers of
  :mod:`picexchange.exchange` and :mod:`picexchange.signing`) takes the element's whole text, every text
  node in it (:func:`text_of`), which is the text C14N signs; so even if the first rule were relaxed, what
  is read could not differ from what was signed.

:func:`decode` maps a (schema-valid) tree to its model; :func:`encode` / :func:`to_xml` map a model back.
The mapping is driven by :func:`picexchange.models.base.binding`, so it follows the XSD exactly. Errors
carry the source line and the element path of every problem.
"""

from __future__ import annotations

import codecs
import datetime as dt
import enum
import itertools
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

import pydantic
from lxml import etree

from picexchange.errors import Issue, MessageTooLarge, ParseError, SchemaError
from picexchange.models.base import (
    NS_COMMON,
    NS_ENVELOPE,
    NS_EXPORT,
    NS_PIC,
    Binding,
    XmlModel,
    binding,
    namespace_of,
)
from picexchange.models.envelope import Body, Envelope
from picexchange.models.validation import Loc as _Loc
from picexchange.models.validation import refusal_of

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "NSMAP",
    "decode",
    "document_classes",
    "element_path",
    "encode",
    "from_json",
    "from_xml",
    "header_text",
    "lexical",
    "message_bytes",
    "parse",
    "text_of",
    "to_json",
    "to_xml",
]

M = TypeVar("M", bound=XmlModel)

#: Prefixes used when writing; any prefixes are accepted when reading.
NSMAP: Mapping[str, str] = {"env": NS_ENVELOPE, "pic": NS_PIC, "exp": NS_EXPORT, "cmn": NS_COMMON}


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds applied to every document before it is looked at.

    :func:`parse` checks them in this order, right after libxml2 has built the tree (its parse is linear in
    all of these, measured up to 320 000 attributes or declarations on one element) and before anything else
    walks it. They exist because later stages are not linear in them: serialising an element copies every
    namespace in scope (signxml does it for the signature, so N declarations on the root cost N² there: 49 s
    for 80 000), and C14N sorts each element's attributes by insertion (100 000 attributes on one element
    ran past 120 s). With every bound below held, each stage of :func:`picexchange.exchange.accept` costs
    time linear in the document (``benchmarks/bench_hostile.py``).

    Attributes:
        max_bytes: largest document accepted, in bytes; larger input raises MessageTooLarge unparsed.
        max_depth: deepest element nesting accepted (the envelope needs about 8).
        max_elements: most elements accepted (an ExportData with 10 000 goods items has about 300 000).
        max_attributes_per_element: most attributes on one element, namespace declarations not counted (the
            XSDs put at most two on an element, the maximal samples one).
        max_attributes: most attributes in the whole document (the maximal samples carry at most 13; an
            ExportData with 10 000 goods items about 30 000).
        max_namespace_declarations_per_element: most ``xmlns``/``xmlns:p`` declarations on one element (the
            maximal samples declare 4 on the root; a sender declaring every namespace it knows there stays far
            below). Also bounds what one element has in scope: ``max_depth`` times this.
        max_namespace_declarations: most namespace declarations in the whole document (the samples declare at
            most 4). As many as ``max_elements``: many XML libraries declare each element's namespace as the
            default on the element itself, one declaration per element, and such a message is as valid as a
            prefixed one. What is costly is many declarations on one element, bounded above.

    """

    max_bytes: int = 32 * 1024 * 1024
    max_depth: int = 32
    max_elements: int = 1_000_000
    max_attributes_per_element: int = 32
    max_attributes: int = 200_000
    max_namespace_declarations_per_element: int = 32
    max_namespace_declarations: int = 1_000_000


DEFAULT_LIMITS = Limits()

_PARSER_OPTIONS: Mapping[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_blank_text": False,
    "collect_ids": False,
}
_local = threading.local()


class _NoExternalResources(etree.Resolver):  # type: ignore[misc]
    """Answer every request for an external DTD, entity or XInclude with nothing.

    The options above do not stop libxml2 from opening files: with lxml 6.1 / libxml2 2.14,
    ``collect_ids=False`` sets ``XML_SKIP_IDS`` in ``ctxt->loadsubset``, which libxml2 reads as "load
    the external subset", so ``<!DOCTYPE x SYSTEM "file:///etc/passwd">`` and external parameter entities
    were opened (seen with strace). A resolver is asked before libxml2's loader, so no file is opened.
    """

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> object:
        return self.resolve_string(b"", context)


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads; one per thread, reused.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(**_PARSER_OPTIONS)
        parser.resolvers.add(_NoExternalResources())
        _local.parser = parser
    return parser


# Encodings a DOCTYPE could hide behind from a byte scan, by their first bytes (UTF-32 before UTF-16:
# their byte order marks share a prefix). Others (e.g. UTF-7) reach the check on the parsed tree.
_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_SPACE = re.compile(rb"[ \t\r\n]*")
# One step of the prolog (XML 1.0 [22]-[27]): white space, then the declaration, a PI or a comment.
_PROLOG_ITEM = re.compile(rb"[ \t\r\n]*(?:<\?.*?\?>|<!--.*?-->)?", re.DOTALL)
# libxml2's own nesting bound without XML_PARSE_HUGE (huge_tree=False).
_LIBXML2_MAX_DEPTH = 256


def _doctype_line(data: bytes) -> int | None:
    """Return the line of a DOCTYPE in the prolog of ``data``, or None if the prolog has none.

    Refusing it here keeps libxml2 from ever reading a DTD (entity bombs, external subsets, parameter
    entities); linear, because each prolog item ends at the first terminator after it.
    """
    for mark, encoding in _WIDE_ENCODINGS:
        if data.startswith(mark):
            data = data.decode(encoding, errors="replace").encode()
            break
    data = data.removeprefix(codecs.BOM_UTF8)
    position = 0
    while True:
        step = _PROLOG_ITEM.match(data, position)
        if step is None or step.end() == position:
            break
        position = step.end()
    return data.count(b"\n", 0, position) + 1 if data.startswith(b"<!DOCTYPE", position) else None


@cache
def _depth_probe(depth: int) -> etree.XPath:
    # True if any element sits deeper than `depth`; evaluated in C, linear in the document.
    return etree.XPath("boolean(/" + "/".join(["*"] * (depth + 1)) + ")")


_COUNT = etree.XPath("count(//*)")
_COUNT_ATTRIBUTES = etree.XPath("count(//@*)")  # XPath: namespace declarations are not attributes
# The first comment or processing instruction inside the root element, in document order.
_FIRST_UNSIGNED_NODE = etree.XPath("(descendant::comment() | descendant::processing-instruction())[1]")
_POSITION = re.compile(r", line \d+, column \d+$")


@cache
def _crowded_probe(limit: int) -> etree.XPath:
    # True if some element has more than `limit` attributes: its attribute number limit+1 exists. In C, linear.
    return etree.XPath(f"boolean(//@*[{limit + 1}])")


@cache
def _first_crowded(limit: int) -> etree.XPath:
    return etree.XPath(f"(//*[@*[{limit + 1}]])[1]")


@cache
def _owner_of_attribute(position: int) -> etree.XPath:
    # The element carrying the document's attribute number `position`, in document order.
    return etree.XPath(f"(//@*)[{position}]/..")


def _located(text: str, element: etree._Element) -> ParseError:
    return ParseError(text, path=element_path(element), line=element.sourceline)


# libxml2 reads a document as UTF-8 when it starts with the UTF-8 byte order mark, `<` or white space and its
# XML declaration, if any, names no other encoding. Every ASCII character of such a document is then its own
# byte, so a count of bytes bounds a count of markup from above (UTF-16, UTF-7, EBCDIC: not this shortcut).
_UTF8_START = re.compile(rb"(?:\xef\xbb\xbf)?(?:<\?xml\s(?P<declaration>[^>]*)>|[<\s])")
_ENCODING = re.compile(rb"\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_UTF8_NAMES = (b"utf-8", b"utf8", b"us-ascii", b"ascii")


def _read_as_utf8(data: bytes) -> bool:
    start = _UTF8_START.match(data)
    if start is None:
        return False
    declared = _ENCODING.search(start["declaration"] or b"")
    return declared is None or declared[1].lower() in _UTF8_NAMES


def _at_most(data: bytes, marker: bytes, limit: int) -> bool:
    """Return True if ``data``, read as UTF-8, holds ``marker`` at most ``limit`` times: a cheap upper bound."""
    return _read_as_utf8(data) and data.count(marker) <= limit


def _check_attributes(root: etree._Element, data: bytes, limits: Limits) -> None:
    """Refuse an element with too many attributes, then a document with too many; two passes in C."""
    per_element = limits.max_attributes_per_element
    if _at_most(data, b"=", min(per_element, limits.max_attributes)):
        return  # every attribute has its `=`: too few of them to pass either bound
    if _crowded_probe(per_element)(root):
        found = _first_crowded(per_element)(root)
        assert isinstance(found, list) and found  # the probe said it exists
        element = found[0]
        raise _located(
            f"element {etree.QName(element).localname} has {len(element.attrib)} attributes, "
            f"more than the limit of {per_element} per element",
            element,
        )
    total = _COUNT_ATTRIBUTES(root)
    if isinstance(total, float) and total > limits.max_attributes:
        owners = _owner_of_attribute(limits.max_attributes + 1)(root)
        assert isinstance(owners, list) and owners
        raise _located(
            f"document has {int(total)} attributes, more than the limit of {limits.max_attributes}", owners[0]
        )


# In libxml2's serialisation of a tree, an element's own namespace declarations open its start tag, each as
# ` xmlns:p="..."` (in single quotes if the value held a `"`, which libxml2 2.14 refuses in a namespace name);
# `<` is escaped in every text and attribute value, and CDATA is written as text. So outside quoted values, a
# `<` opens a tag, and a start tag is the only place `<name xmlns` appears (comments and PIs inside the root
# are refused before this is looked at).
_QUOTED = rb"(?:\"[^\"]*\"|'[^']*')"
_DECLARATION = re.compile(rb" xmlns(?::[^\s=\"']+)?=" + _QUOTED)
_DECLARATIONS = re.compile(rb"<[^\s/>!?]+((?:" + _DECLARATION.pattern + rb")+)")
_START_TAG = re.compile(rb"<(?![/!?])[^\s/>]+(?:\s+[^\s=]+=" + _QUOTED + rb")*\s*/?>")


def _element_at(root: etree._Element, serialised: bytes, position: int) -> etree._Element:
    """Return the element whose start tag begins at ``position`` of ``serialised`` (root's own serialisation)."""
    index = len(_START_TAG.findall(serialised, 0, position))  # start tags before it: its place in document order
    return next(itertools.islice(root.iter(etree.Element), index, None))


def _declared(block: bytes) -> int:
    # The block is declarations one after the other; each match takes a whole one, its quoted value included.
    return len(_DECLARATION.findall(block))


def _check_namespace_declarations(root: etree._Element, data: bytes, limits: Limits) -> None:
    """Refuse an element declaring too many namespaces, then a document declaring too many.

    lxml shows an element's own declarations only through tree walks whose cost is quadratic in the
    declarations on one element (``iterwalk`` start-ns events: 0.75 s for 80 000; the XPath namespace axis:
    57 s; ``nsmap`` is what is in scope, gathered through every ancestor). libxml2's serialisation is linear,
    so the declarations are counted in it, once two cheap upper bounds have not already cleared the document.
    """
    per_element, most = limits.max_namespace_declarations_per_element, limits.max_namespace_declarations
    fewest = min(per_element, most)
    if _at_most(data, b"xmlns", fewest):
        return  # the usual case: a handful of declarations on the root
    serialised = etree.tostring(root, encoding="UTF-8")  # no XML declaration; names as they are
    if serialised.count(b" xmlns") <= fewest:
        return  # each declaration is written as ` xmlns`
    declared = 0
    matches = _DECLARATIONS.finditer(serialised)
    for match in matches:
        count = _declared(match[1])
        declared += count
        if count > per_element:
            element = _element_at(root, serialised, match.start())
            raise _located(
                f"element {etree.QName(element).localname} declares {count} namespaces, "
                f"more than the limit of {per_element} per element",
                element,
            )
        if declared > most:
            element = _element_at(root, serialised, match.start())
            total = declared + sum(_declared(rest[1]) for rest in matches)
            raise _located(f"document declares {total} namespaces, more than the limit of {most}", element)


def _check_unsigned_nodes(root: etree._Element) -> None:
    """Refuse a comment or processing instruction inside the root: it is not signed and splits a text."""
    found = _FIRST_UNSIGNED_NODE(root)
    if not (isinstance(found, list) and found):
        return
    node = found[0]
    what = "comment" if isinstance(node, etree._Comment) else "processing instruction"
    holder = node.getparent()
    assert holder is not None  # a descendant of the root
    raise ParseError(
        f"a {what} inside the document is not allowed (in {etree.QName(holder).localname}): XML signatures "
        "do not cover comments and processing instructions, and they would split the text that is signed",
        path=element_path(holder),
        line=node.sourceline,
    )


# The encoding an XML declaration names: <?xml version="1.0" encoding="ISO-8859-1"?>.
_DECLARED_ENCODING = re.compile(r"""\ufeff?[ \t\r\n]*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def message_bytes(raw: bytes | str) -> bytes:
    """Return the bytes of a message given as bytes, or as a ``str`` encoded UTF-8.

    A ``str`` is text already decoded from whatever bytes it came in; encoding it UTF-8 is right unless its XML
    declaration names another encoding, which would then be false (libxml2 and lxml refuse a str with an
    encoding declaration for the same reason). Such a str is refused rather than silently re-encoded: pass
    the bytes as they were received, or drop the encoding from the declaration.

    Raises:
        ParseError: a str whose XML declaration names an encoding other than UTF-8, or that holds a lone
            surrogate (no UTF-8 encoding exists).

    """
    if not isinstance(raw, str):
        return raw
    declared = _DECLARED_ENCODING.match(raw)
    if declared is not None and declared.group(1).strip().lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ParseError(
            f"the message was given as text (str), but its XML declaration names the encoding "
            f"{declared.group(1)!r}: a str is encoded UTF-8, so the declaration would be false; pass the bytes as "
            "received, or a str whose declaration names UTF-8 or no encoding",
            line=1,
        )
    try:
        return raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError(
            f"the message text cannot be encoded UTF-8: {exc.reason} at character {exc.start + 1}"
        ) from exc


def parse(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Parse ``raw`` into an element tree, safely.

    After libxml2 has built the tree, and before anything else walks it, the bounds of ``limits`` are checked
    in this order: depth, elements, attributes (per element, in total); no comment or processing instruction
    inside the root element; namespace declarations (per element, in total).

    Args:
        raw: the document's bytes (never a str, path or URL).
        limits: size, depth, element, attribute and namespace-declaration bounds.

    Returns:
        The root element.

    Raises:
        MessageTooLarge: ``raw`` is longer than ``limits.max_bytes``.
        ParseError: empty, not well-formed, carries a DOCTYPE, is over one of the bounds (with the line and the
            path of the element where it is crossed), or holds a comment or processing instruction inside the
            root element.

    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse() takes bytes, not {type(raw).__name__}")
    if len(raw) > limits.max_bytes:
        raise MessageTooLarge(f"document of {len(raw)} bytes exceeds the limit of {limits.max_bytes} bytes")
    data = bytes(raw)
    if _SPACE.fullmatch(data):
        raise ParseError("document is empty")
    doctype = _doctype_line(data)
    if doctype is not None:
        raise ParseError("DOCTYPE declarations are not allowed", line=doctype)
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        if "Excessive depth" in str(exc.msg):
            depth = min(limits.max_depth, _LIBXML2_MAX_DEPTH)
            raise ParseError(f"document is nested deeper than {depth} elements", line=line) from exc
        # lxml appends ", line N, column M" to libxml2's text; the line travels in the error's own field.
        # Some of libxml2's texts end in a line break ("Char 0x0 out of allowed range\n"): one line, no break.
        text = " ".join(_POSITION.sub("", str(exc.msg)).split())
        raise ParseError(f"not well-formed XML: {text}", line=line) from exc
    except (ValueError, etree.LxmlError) as exc:
        raise ParseError(f"not a parsable XML document: {exc}") from exc
    if root is None:
        raise ParseError("document has no root element")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ParseError("DOCTYPE declarations are not allowed", line=1)
    if _depth_probe(limits.max_depth)(root):
        raise ParseError(f"document is nested deeper than {limits.max_depth} elements")
    count = _COUNT(root)
    if isinstance(count, float) and count > limits.max_elements:
        raise ParseError(f"document has {int(count)} elements, more than the limit of {limits.max_elements}")
    _check_attributes(root, data, limits)
    _check_unsigned_nodes(root)  # first: a comment could hold text that looks like a declaration
    _check_namespace_declarations(root, data, limits)
    return root


# ------------------------------------------------------------------------------------------------ registry


@cache
def document_classes() -> Mapping[str, type[XmlModel]]:
    """Return every global element by Clark tag: the Envelope, each business document, Receipt and Error."""
    found: dict[str, type[XmlModel]] = {f"{{{NS_ENVELOPE}}}Envelope": Envelope}
    for item in binding(Body):
        assert item.model is not None
        found[item.tag] = item.model
    return found


@cache
def _children(cls: type[XmlModel]) -> Mapping[str, Binding]:
    return {item.tag: item for item in binding(cls) if item.kind == "element"}


# ------------------------------------------------------------------------------------------------ decoding

_DS_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"


def text_of(element: etree._Element) -> str:
    """Return the whole text of ``element``: every text node inside it, in document order.

    This is the text exclusive C14N without comments signs (the XPath string-value): comments and processing
    instructions are left out and the text on both sides of them is kept, never only the text before the
    first child node. Every value read from a message is read through here.
    """
    if len(element) == 0:  # no child node of any kind: the one text node is the whole text
        return element.text or ""
    return "".join(element.itertext())


def header_text(root: etree._Element, name: str) -> str | None:
    """Return the whole text of the envelope header's element ``name``, stripped; None if absent or empty.

    The one reader of header values from a tree, for the routing checks of :mod:`picexchange.exchange` and
    :mod:`picexchange.signing`, so that they and :func:`decode` can never read two different values.
    """
    element = root.find(f"{{{NS_ENVELOPE}}}Header/{{{NS_ENVELOPE}}}{name}")
    return (text_of(element).strip() or None) if element is not None else None


def _simple_text(element: etree._Element, issues: list[Issue]) -> str:
    """Return the whole text of a simple-typed element; an element child in it is an unexpected element."""
    if len(element) == 0:
        return element.text or ""
    for child in element:
        if isinstance(child.tag, str):
            issues.append(
                Issue(
                    text=f"unexpected element {etree.QName(child).localname}",
                    path=element_path(child),
                    line=child.sourceline,
                    rule_id="xsd",
                )
            )
    return text_of(element)


def _read(
    element: etree._Element, cls: type[XmlModel], loc: _Loc, lines: dict[_Loc, int] | None, issues: list[Issue]
) -> dict[str, Any]:
    """Collect the values of ``element`` for ``cls``; record each field's source line in ``lines`` if given."""
    values: dict[str, Any] = {}
    children = _children(cls)
    for item in binding(cls):
        if item.kind == "attribute":
            attribute = element.get(item.local_name)
            if attribute is not None:
                values[item.field] = attribute
        elif item.kind == "text":
            values[item.field] = text_of(element)  # an element child is reported by the loop below
    counters: dict[str, int] = {}
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions carry no data (and parse refuses them)
        if tag == _DS_SIGNATURE and cls is Envelope:
            continue  # the envelope's XML signature is checked by picexchange.signing; no model carries it
        found = children.get(tag)
        if found is None:
            issues.append(
                Issue(
                    text=f"unexpected element {etree.QName(tag).localname}",
                    path=element_path(child),
                    line=child.sourceline,
                    rule_id="xsd",
                )
            )
            continue
        item = found
        where: _Loc = loc
        if lines is not None:  # only when reporting problems: the bookkeeping halves the speed
            if item.repeated:
                index = counters.get(item.field, 0)
                counters[item.field] = index + 1
                where = (*loc, item.field, index)
            else:
                where = (*loc, item.field)
            if child.sourceline is not None:
                lines[where] = child.sourceline
        value: Any = (
            _read(child, item.model, where, lines, issues) if item.model is not None else _simple_text(child, issues)
        )
        if item.repeated:
            values.setdefault(item.field, []).append(value)
        else:
            values[item.field] = value
    return values


def element_path(element: etree._Element) -> str:
    """Return the path of ``element`` by local names, with [n] where a name repeats among siblings."""
    parts = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def decode(root: etree._Element, cls: type[M] | None = None) -> M:
    """Map a parsed document to its model, checking every field and cross-field rule.

    Args:
        root: the root element, from :func:`parse` (ideally already schema-valid).
        cls: the expected model class; by default the class of the root element's tag.

    Raises:
        SchemaError: an element is unknown, missing or of the wrong form (every problem in ``issues``).
        BusinessRuleError: the document is well-formed but breaks a rule of its own (``violations``).

    """
    expected = document_classes().get(root.tag) if cls is None else cls
    tag = etree.QName(root)
    if expected is None or (cls is not None and root.tag != f"{{{namespace_of(cls)}}}{cls.__name__}"):
        wanted = cls.__name__ if cls is not None else "Envelope or a business document"
        raise SchemaError(
            [
                Issue(
                    text=f"root element {{{tag.namespace}}}{tag.localname} is not {wanted}",
                    path=f"/{tag.localname}",
                    line=root.sourceline,
                    rule_id="xsd",
                )
            ]
        )
    issues: list[Issue] = []
    values = _read(root, expected, (), None, issues)
    if issues:
        raise SchemaError(issues)
    try:
        # pydantic's own validator, not the model's model_validate: its error still holds the locations that
        # become the lines of the document's elements.
        document: M = expected.__pydantic_validator__.validate_python(values)
    except pydantic.ValidationError as exc:
        lines: dict[_Loc, int] = {}
        _read(root, expected, (), lines, [])  # again, now noting where each value came from
        raise refusal_of(exc, expected, values, lines=lines, root_line=root.sourceline) from exc
    return document


def from_xml(raw: bytes | str, cls: type[M] | None = None, *, limits: Limits = DEFAULT_LIMITS) -> M:
    """Parse and decode ``raw`` (no XSD validation; see :func:`picexchange.schemas.validate`).

    Args:
        raw: the document's bytes, or its text (encoded UTF-8; see :func:`message_bytes`).
        cls: the expected model class; by default the class of the root element's tag.
        limits: parsing bounds.

    Raises:
        MessageTooLarge, ParseError: as :func:`parse` (and :func:`message_bytes` for a str).
        SchemaError, BusinessRuleError: as :func:`decode`.

    """
    return decode(parse(message_bytes(raw), limits=limits), cls)


# ------------------------------------------------------------------------------------------------ encoding


def lexical(value: Any) -> str:
    """Return ``value`` as :func:`encode` writes it: its XML Schema lexical form (a UTC timestamp ends in Z)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date | UUID | int):
        return str(value) if not isinstance(value, dt.date) else value.isoformat()
    return str(value)


def _fill(element: etree._Element, model: XmlModel) -> None:
    for item in binding(type(model)):
        value = getattr(model, item.field)
        if value is None:
            continue
        if item.kind == "attribute":
            element.set(item.local_name, lexical(value))
        elif item.kind == "text":
            element.text = lexical(value)
        else:
            for one in value if item.repeated else (value,):
                child = etree.SubElement(element, item.tag)
                if item.model is not None:
                    _fill(child, one)
                else:
                    child.text = lexical(one)


def encode(model: XmlModel) -> etree._Element:
    """Return ``model`` as a new element tree (the root is the model's global element)."""
    cls = type(model)
    if not cls.xml_root:
        raise TypeError(f"{cls.__name__} is not a document; encode its Envelope or document")
    root = etree.Element(f"{{{namespace_of(cls)}}}{cls.__name__}", nsmap=dict(NSMAP))
    _fill(root, model)
    return root


def to_xml(model: XmlModel, *, pretty: bool = True) -> bytes:
    """Return ``model`` as UTF-8 XML bytes with an XML declaration."""
    text: bytes = etree.tostring(encode(model), xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
    return text


# ------------------------------------------------------------------------------------------------ JSON


def to_json(model: XmlModel, *, indent: int | None = 2) -> bytes:
    """Return ``model`` as JSON: ``{"<RootName>": {fields in snake_case}}``; decimals as strings."""
    cls = type(model)
    if not cls.xml_root:
        raise TypeError(f"{cls.__name__} is not a document")
    payload = {cls.__name__: model.model_dump(mode="json", exclude_none=True)}
    return json.dumps(payload, indent=indent, ensure_ascii=False).encode("utf-8")


def from_json(raw: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> XmlModel:
    """Read JSON written by :func:`to_json` back into its model (bytes, or text encoded UTF-8).

    Raises:
        MessageTooLarge: the input is over the size bound.
        ParseError: not JSON, or not one object keyed by a document name.
        SchemaError, BusinessRuleError: as :func:`decode`, with paths and without lines.

    """
    if isinstance(raw, str):
        raw = message_bytes(raw)
    if len(raw) > limits.max_bytes:
        raise MessageTooLarge(f"document of {len(raw)} bytes exceeds the limit of {limits.max_bytes} bytes")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not valid JSON: {exc}") from exc
    classes = {cls.__name__: cls for cls in document_classes().values()}
    if not isinstance(payload, dict) or len(payload) != 1 or next(iter(payload)) not in classes:
        raise ParseError(f"JSON must be one object keyed by a document name ({', '.join(sorted(classes))})")
    name, values = next(iter(payload.items()))
    cls = classes[name]
    return cls.model_validate(values)  # refuses with SchemaError or BusinessRuleError (models.validation)
