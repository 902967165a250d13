"""The packaged XSDs, compiled once per thread, and validation that reports every problem with line and path.

Two engines: libxml2 through lxml (the hot path: 30-65 times faster) and xmlschema (introspection and a
second opinion; imported only when asked for, it costs about half a second to load). Both see the same
schemas; a test holds them to the same verdict on every sample.

The envelope schema validates the routing data and leaves the Body's business document to a lax
wildcard, so a gateway can check who sent a message before it spends time on what it says
(docs/architecture.md, "The path of an inbound message"); the full schema validates the document too. For
libxml2 the full schema is the packaged driver ``picexchange.xsd``, the very file a vendor gives xmllint or
Xerces: it imports every Utility Block and makes the Body's wildcard strict, so a Body element that is not a
declared document is an XSD error. xmlschema loads the five namespace schemas from bytes instead (the driver's
``xs:redefine`` needs a file location, which ``allow="none"`` forbids); with their declarations loaded the lax
Body still validates every declared document, and decoding refuses an undeclared one at the same stage.

The XSDs reach this module from the shell :mod:`picexchange.resources`: their bytes, and for lxml the
location of the installed files as a string. libxml2 loads each ``xs:import`` of a schema itself, while
compiling; answering those imports from bytes through an lxml resolver works in one thread but not in the
gateway's worker threads (the import did not reach the resolver and the schema compiled without the imported
declarations), so libxml2 reads the installed XSD files that the shell names. This module opens no file
and imports no file-system module; xmlschema, pure Python, is handed the bytes with ``allow="none"``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from lxml import etree

from picexchange import resources
from picexchange.codec import DEFAULT_LIMITS, Limits, decode, document_classes, element_path, message_bytes, parse
from picexchange.errors import BusinessRuleError, Issue, MessageError, SchemaError
from picexchange.models.base import Binding, XmlModel, binding

if TYPE_CHECKING:
    import xmlschema

__all__ = [
    "Engine",
    "Report",
    "check_document",
    "check_envelope",
    "validate",
    "xsd_issues",
    "xmlschema_schema",
]

Engine = Literal["lxml", "xmlschema"]
_SCHEMA_PARSER_OPTIONS: Mapping[str, Any] = {"no_network": True, "resolve_entities": False, "load_dtd": False}
_Scope = Literal["envelope", "full"]
_per_thread = threading.local()
_compiling = threading.Lock()
"""One schema compilation at a time: libxml2 sets up its built-in XSD types at the first compilation in a process
without a lock, and two threads compiling at once there fail ("the given type 'anyURI' is not a built-in type")."""


def _lxml_schema(scope: _Scope) -> etree.XMLSchema:
    # Schemas are our own packaged files; still, no network and no DTDs while loading them. libxml2 loads each
    # xs:import itself, from the installed folder picexchange.resources names (see the module docstring).
    parser = etree.XMLParser(**_SCHEMA_PARSER_OPTIONS)
    name = "envelope.xsd" if scope == "envelope" else resources.DRIVER_XSD
    text = resources.xsd_bytes(name)
    tree = etree.fromstring(text, parser, base_url=resources.xsd_location(name)).getroottree()
    with _compiling:
        return etree.XMLSchema(tree)


def _compiled(scope: _Scope) -> etree.XMLSchema:
    """Return this thread's compiled schema for ``scope``, compiling it at the thread's first use.

    A compiled XMLSchema may be shared between threads (lxml FAQ, "Threading"), but it keeps the error log
    of its last validation on the object, so threads sharing one would read each other's issues, or wait
    for each other behind a lock. One per thread costs about 2.5 MB and 10 ms once per thread (both scopes).
    """
    compiled: dict[_Scope, etree.XMLSchema] | None = getattr(_per_thread, "schemas", None)
    if compiled is None:
        compiled = _per_thread.schemas = {}
    schema = compiled.get(scope)
    if schema is None:
        schema = compiled[scope] = _lxml_schema(scope)
    return schema


@cache
def xmlschema_schema() -> xmlschema.XMLSchema10:
    """Return the full schema as an xmlschema object (loaded on first use; slow to import)."""
    import xmlschema

    # Every XSD from its packaged bytes, imported ones first: each xs:import then names a namespace already
    # loaded, and allow="none" proves xmlschema opens no file or URL to find one.
    return xmlschema.XMLSchema10(
        [
            xmlschema.XMLResource(resources.xsd_bytes(name), allow="none", defuse="always")
            for name in resources.XSD_NAMES
        ],
        allow="none",
        defuse="always",
    )


# ------------------------------------------------------------------------------------------------ messages


_CLARK = re.compile(r"\{[^}]*\}")
_PREFIXED = re.compile(r"/[A-Za-z_][\w.\-]*:")
_INDEX = re.compile(r"\[[0-9]+\]")
_VALUE = re.compile(r"(?:The value |^)'(?P<value>[^']*)'")
_ATTRIBUTE = re.compile(r"^Element '[^']*', attribute '(?P<attr>[^']*)': ")
_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?(?P<name>[^']*)': ")
_FACET = re.compile(r"^\[facet '[^']*'\] ")
# libxml2's content-model messages; the expected names are listed after Clark names are removed.
_NOT_EXPECTED = re.compile(r"^This element is not expected\.(?: Expected is (?:one of )?\( (?P<expected>.*) \))?")
_MISSING = re.compile(r"^Missing child element\(s\)\. Expected is (?:one of )?\( (?P<expected>.*) \)")
# The driver's strict Body wildcard meeting an element of a UB namespace that is not one of its documents.
_UNDECLARED = re.compile(r"^No matching global element declaration available, but demanded by the strict wildcard")
_REQUIRED_ATTRIBUTE = re.compile(r"^The attribute '(?P<attr>[^']*)' is required but missing")
_NOT_ALLOWED_ATTRIBUTE = re.compile(r"^The attribute '(?P<attr>[^']*)' is not allowed")
# xmlschema's attribute messages.
_XS_ATTRIBUTE_VALUE = re.compile(r"^attribute (?:\w+:)?(?P<attr>[\w.\-]+)=(?P<value>'[^']*'|\"[^\"]*\"): ")
_XS_REQUIRED_ATTRIBUTE = re.compile(r"^missing required attribute '(?:\w+:)?(?P<attr>[^']*)'")
_XS_NOT_ALLOWED_ATTRIBUTE = re.compile(r"^'(?:\w+:)?(?P<attr>[^']*)' attribute not allowed for element")
# Python spellings in xmlschema's value messages, rewritten for a person.
_XS_REWRITES = (
    (re.compile(r"Decimal\('(?P<number>[^']*)'\)"), r"\g<number>"),
    (re.compile(r"^invalid literal for int\(\) with base 10: (?P<value>'.*')$"), r"\g<value> is not a whole number"),
)


@cache
def _roots() -> Mapping[str, type[XmlModel]]:
    return {cls.__name__: cls for cls in document_classes().values()}


def _binding_at(path: str) -> Binding | None:
    """Return the binding of the element or attribute at ``path`` (``/Envelope/Body/.../@unit``)."""
    names = _INDEX.sub("", path).strip("/").split("/")
    current = _roots().get(names[0])
    found = None
    for name in names[1:]:
        if current is None:
            return None
        attribute = name.startswith("@")
        found = next(
            (
                item
                for item in binding(current)
                if item.local_name == name.lstrip("@") and (item.kind == "attribute") == attribute
            ),
            None,
        )
        if found is None:
            return None
        current = found.model
    return found


def _value_text(path: str | None, value: str) -> str | None:
    """Return the sentence for a value its simple type refuses, naming the type in the domain's words."""
    item = _binding_at(path) if path else None
    if item is None:
        return None
    if item.enum is not None:
        allowed = ", ".join(str(member.value) for member in item.enum)
        return f"'{value}' is not one of {allowed}"
    facets = item.facets
    if facets is None:
        return None
    if facets.code_list is not None or facets.enumeration is not None:
        return f"'{value}' is not a {facets.describe()}"
    if facets.pattern is not None:
        return f"'{value}' is not a valid {facets.describe()}"
    return None


def _is_value_error(message: str) -> bool:
    return "[facet 'enumeration']" in message or "[facet 'pattern']" in message or "is not a valid value of" in message


def _content_text(unexpected: str | None, expected: Iterable[str]) -> str:
    """Return the sentence for a content-model error, the same for both engines.

    Args:
        unexpected: the local name of the child that is not allowed where it is, or None if the content
            ended too early.
        expected: the local names the schema allowed there; ``*`` for the Body's document wildcard.

    """
    names = list(dict.fromkeys(name for name in expected if name != "*"))
    if "*" in expected:
        names.append("a document of the pic or export Utility Block")
    wanted = names[0] if len(names) == 1 else "one of " + ", ".join(names)
    if unexpected is None:
        if len(names) == 1:
            return f"required element {wanted} is missing"
        return f"a required element is missing: {wanted}" if names else "the content is incomplete"
    return f"unexpected element {unexpected}; expected {wanted}" if names else f"unexpected element {unexpected}"


def _human(message: str) -> tuple[str, str | None]:
    """Return (sentence without the element prefix, attribute name or None) for a libxml2 message."""
    match = _ATTRIBUTE.match(message)
    if match:
        text = _CLARK.sub("", message[match.end() :]).strip().rstrip(".")
        if _NOT_ALLOWED_ATTRIBUTE.match(text):
            return f"attribute {match['attr']} is not allowed", match["attr"]
        return _FACET.sub("", text), match["attr"]
    element = _ELEMENT.match(message)
    text = _CLARK.sub("", message[element.end() :] if element else message).strip()
    content = _NOT_EXPECTED.match(text)
    if content:
        listed = content["expected"]
        return _content_text(element["name"] if element else "", listed.split(", ") if listed else ()), None
    content = _MISSING.match(text)
    if content:
        return _content_text(None, content["expected"].split(", ")), None
    if _UNDECLARED.match(text):
        return _content_text(element["name"] if element else "", ["*"]), None
    required = _REQUIRED_ATTRIBUTE.match(text)
    if required:
        return f"required attribute {required['attr']} is missing", None
    return _FACET.sub("", text.rstrip(".")), None


_STEP = re.compile(r"(?:(?P<prefix>[A-Za-z_][\w.\-]*):)?(?P<name>\*|[A-Za-z_][\w.\-]*)(?:\[(?P<index>[0-9]+)\])?")


class _Locator:
    """Find the element a libxml2 error path points at and name it as :func:`element_path` does.

    libxml2 writes ``*`` for an element in a default namespace (``/*/*[2]/*``), so its paths cannot be
    used as they are. Children are grouped once per parent, so each error costs O(depth), not O(siblings):
    a document with thousands of errors among thousands of goods items stays linear.
    """

    def __init__(self, root: etree._Element) -> None:
        self._root = root
        self._groups: dict[etree._Element, dict[tuple[str | None, str], list[etree._Element]]] = {}
        self._names: dict[etree._Element, str] = {}

    def _children(self, parent: etree._Element) -> dict[tuple[str | None, str], list[etree._Element]]:
        groups = self._groups.get(parent)
        if groups is None:
            groups = {}
            by_tag: dict[str, list[etree._Element]] = {}
            for child in parent:
                if isinstance(child.tag, str):
                    local = etree.QName(child).localname
                    groups.setdefault(("*", "*"), []).append(child)
                    groups.setdefault((child.prefix, local), []).append(child)
                    by_tag.setdefault(child.tag, []).append(child)
            for same in by_tag.values():
                for position, child in enumerate(same, start=1):
                    local = etree.QName(child).localname
                    self._names[child] = f"{local}[{position}]" if len(same) > 1 else local
            self._groups[parent] = groups
        return groups

    def find(self, path: str | None) -> tuple[etree._Element, str] | None:
        """Return the element at a libxml2 error path and its path by local names, or None."""
        steps = path.split("/") if path and path.startswith("/") else []
        if len(steps) < 2 or not _STEP.fullmatch(steps[1]):
            return None
        element = self._root
        names = [etree.QName(element).localname]
        for step in steps[2:]:
            match = _STEP.fullmatch(step)
            if match is None:
                return None
            key = ("*", "*") if match["name"] == "*" else (match["prefix"], match["name"])
            candidates = self._children(element).get(key, [])
            index = int(match["index"] or 1) - 1
            if not 0 <= index < len(candidates):
                return None
            element = candidates[index]
            names.append(self._names[element])
        return element, "/" + "/".join(names)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    # libxml2 reports a refused value twice (the facet, then the type); keep one issue per place and text.
    seen: set[tuple[int | None, str | None, str]] = set()
    unique = []
    for issue in issues:
        key = (issue.line, issue.path, issue.text)
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return unique


def _lxml_issues(scope: _Scope, root: etree._Element) -> list[Issue]:
    schema = _compiled(scope)
    valid = schema.validate(root)
    log = list(schema.error_log)
    if valid:
        return []
    issues = []
    locator = _Locator(root)
    for entry in log:
        text, attribute = _human(entry.message)
        found = locator.find(entry.path)
        path = found[1] if found is not None else _PREFIXED.sub("/", entry.path or "") or None
        if path and attribute:
            path += f"/@{attribute}"
        if _is_value_error(entry.message):
            value = _VALUE.search(text)
            text = (_value_text(path, value["value"]) if value else None) or text
        issues.append(Issue(text=text, path=path, line=entry.line or None, rule_id="xsd"))
    return _dedupe(issues) or [Issue(text="document is not valid against its schema", rule_id="xsd")]


def _xmlschema_issues(root: etree._Element) -> list[Issue]:
    import xmlschema

    issues = []
    # Only an already-parsed element, never bytes or a str: xmlschema would take those as a path or URL.
    resource = xmlschema.XMLResource(root, allow="none", defuse="always")
    for error in xmlschema_schema().iter_errors(resource, use_location_hints=False):
        element = error.elem if isinstance(error.elem, etree._Element) else None
        text = _CLARK.sub("", str(error.reason or error.message)).strip().rstrip(".")
        for pattern, replacement in _XS_REWRITES:
            text = pattern.sub(replacement, text)
        obj = error.obj
        attribute: str | None = None
        if isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
            # Like libxml2: an unexpected child is reported at the child, missing content at the parent.
            child = error.invalid_child
            unexpected = None
            if isinstance(child, etree._Element):
                element, unexpected = child, etree.QName(child).localname
            expected = [getattr(item, "local_name", None) or "*" for item in error.expected or ()]
            text = _content_text(unexpected, expected)
            obj = None
        elif match := _XS_ATTRIBUTE_VALUE.match(text):
            attribute, text = match["attr"], text[match.end() :]
        elif match := _XS_REQUIRED_ATTRIBUTE.match(text):
            text, obj = f"required attribute {match['attr']} is missing", None
        elif match := _XS_NOT_ALLOWED_ATTRIBUTE.match(text):
            attribute, text, obj = match["attr"], f"attribute {match['attr']} is not allowed", None
        elif isinstance(obj, str) and isinstance(error.validator, xmlschema.validators.XsdAttribute):
            attribute = error.validator.local_name
        path = element_path(element) if element is not None else error.path
        if path and attribute:
            path += f"/@{attribute}"
        if isinstance(obj, str) or (element is not None and len(element) == 0 and "value" in text):
            value = obj if isinstance(obj, str) else (element.text or "" if element is not None else "")
            text = _value_text(path, value) or text
        issues.append(
            Issue(text=text, path=path, line=element.sourceline if element is not None else None, rule_id="xsd")
        )
    return _dedupe(issues)


def xsd_issues(root: etree._Element, *, engine: Engine = "lxml") -> list[Issue]:
    """Return every XSD problem of a parsed document (Envelope or bare business document)."""
    if engine == "xmlschema":
        return _xmlschema_issues(root)
    return _lxml_issues("full", root)


def check_envelope(root: etree._Element) -> None:
    """Check the envelope's routing part against the envelope schema (the document is left for later).

    Raises:
        SchemaError: with every problem found.

    """
    issues = _lxml_issues("envelope", root)
    if issues:
        raise SchemaError(issues)


def check_document(root: etree._Element) -> None:
    """Check a whole document, the Body's business document included, against the full schema.

    Raises:
        SchemaError: with every problem found.

    """
    issues = _lxml_issues("full", root)
    if issues:
        raise SchemaError(issues)


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of :func:`validate`.

    Attributes:
        issues: every problem found, in document order within each stage (parse, schema, rules).
        document: the decoded model when the document is valid, else None.
        stage: the stage that found the problems: ``parse``, ``schema``, ``rules``, or ``ok``.

    """

    issues: tuple[Issue, ...]
    document: XmlModel | None
    stage: Literal["parse", "schema", "rules", "ok"]

    @property
    def ok(self) -> bool:
        """Return whether the document is valid."""
        return not self.issues

    def lines(self, name: str = "") -> Iterable[str]:
        """Yield one ``name:line: path: text`` line per issue (``name: path: text`` without a line), like compilers."""
        for issue in self.issues:
            # No line 0 for a problem of the whole input (its size, its encoding): just the name.
            where = f"{name}:{issue.line}" if issue.line else name
            yield f"{where}: {issue.path or '/'}: {issue.text}"


def validate(raw: bytes | str, *, engine: Engine = "lxml", limits: Limits = DEFAULT_LIMITS) -> Report:
    """Validate a document against its schema and its model rules; return every problem found.

    The document may be an Envelope or a bare business document. Stages stop at the first that finds
    problems: a document that breaks the schema is not also checked against the rules.

    Args:
        raw: the document's bytes, or its text (a str is encoded UTF-8; one whose XML declaration names
            another encoding is a parse-stage problem, see :func:`picexchange.codec.message_bytes`).
        engine: ``lxml`` (fast) or ``xmlschema`` for the schema stage.
        limits: parsing bounds.

    """
    try:
        root = parse(message_bytes(raw), limits=limits)
    except MessageError as exc:
        return Report((Issue(text=exc.text, path=exc.path, line=exc.line, rule_id=exc.code),), None, "parse")
    issues = xsd_issues(root, engine=engine)
    if issues:
        return Report(tuple(issues), None, "schema")
    try:
        document: XmlModel = decode(root)
    except SchemaError as exc:
        return Report(exc.issues, None, "schema")
    except BusinessRuleError as exc:
        return Report(exc.violations, None, "rules")
    return Report((), document, "ok")
