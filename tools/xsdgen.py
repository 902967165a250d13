"""Write the XSDs from the models, so the contract and the Python face cannot drift apart.

The generated files are committed in ``schemas/`` (the contract for vendors in any language); a test
regenerates them and fails if they differ, and another walks every element and attribute of the XSDs with
xmlschema and finds the model field that carries it. Run ``python -m tools.xsdgen`` from the repository root
after changing a model. XSD 1.0 only, so libxml2 and every vendor's toolkit can use the schemas.

Build-time code: it lives beside the package, not in it, so the wheel does not ship it.
"""

from __future__ import annotations

import enum
import inspect
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from lxml import etree

from picexchange import codes
from picexchange.models.base import (
    NS_COMMON,
    NS_ENVELOPE,
    NS_EXPORT,
    NS_PIC,
    Binding,
    Facets,
    XmlModel,
    binding,
    namespace_of,
)
from picexchange.models.envelope import Body, Envelope

__all__ = ["DRIVER_FILE", "NS_DSIG", "PACKAGED_XSD", "SCHEMA_FILES", "generate", "main", "type_ref"]

XS = "http://www.w3.org/2001/XMLSchema"
#: Where the wheel takes the XSDs from: ``src/picexchange/xsd/`` of this checkout (``schemas/`` links to it).
PACKAGED_XSD = Path(__file__).resolve().parents[1] / "src" / "picexchange" / "xsd"
NS_DSIG = "http://www.w3.org/2000/09/xmldsig#"

#: The file of each namespace, inside ``picexchange/xsd/`` (``schemas/`` in the repository).
SCHEMA_FILES: Mapping[str, str] = {
    NS_COMMON: "common.xsd",
    NS_ENVELOPE: "envelope.xsd",
    NS_PIC: "ub-pic.xsd",
    NS_EXPORT: "ub-export.xsd",
    NS_DSIG: "xmldsig-core-schema.xsd",
}
#: The driver schema: the one file a vendor's validator loads to check a whole envelope, Body included.
DRIVER_FILE = "picexchange.xsd"
_PREFIX: Mapping[str, str] = {
    NS_COMMON: "cmn",
    NS_ENVELOPE: "env",
    NS_PIC: "pic",
    NS_EXPORT: "exp",
    NS_DSIG: "ds",
}
_TITLE: Mapping[str, str] = {
    NS_COMMON: "picexchange common types",
    NS_ENVELOPE: "picexchange envelope and transport replies",
    NS_PIC: "GNC Utility Block for waste: exchange of PIC processes (Basel Convention prior informed consent)",
    NS_EXPORT: "GNC Utility Block for waste: exchange of export data for Customs clearance purposes",
}


def _x(tag: str) -> str:
    return f"{{{XS}}}{tag}"


def _doc(parent: etree._Element, text: str) -> None:
    if text:
        annotation = etree.SubElement(parent, _x("annotation"))
        etree.SubElement(annotation, _x("documentation")).text = " ".join(text.split())


def _first_paragraph(text: str | None) -> str:
    return inspect.cleandoc(text or "").split("\n\n")[0]


def _walk(cls: type[XmlModel], seen: dict[type[XmlModel], None]) -> Iterator[Binding]:
    if cls in seen:
        return
    seen[cls] = None
    for base in cls.__mro__[1:]:
        if isinstance(base, type) and issubclass(base, XmlModel) and base is not XmlModel:
            yield from _walk(base, seen)
    for item in binding(cls):
        yield item
        if item.model is not None:
            yield from _walk(item.model, seen)


def type_ref(item: Binding) -> str:
    """Return the XSD type of a field as the schemas name it (``cmn:HsCodeType``, ``xs:boolean``)."""
    if item.model is not None:
        return f"{_PREFIX[namespace_of(item.model)]}:{item.model.__name__}Type"
    if item.enum is not None:
        return f"{_PREFIX[namespace_of(item.enum)]}:{item.enum.__name__}Type"
    if item.facets is not None:
        return f"cmn:{item.facets.name}" if item.facets.name else item.facets.base
    if item.simple == "bool":
        return "xs:boolean"
    raise TypeError(f"field {item.field} has no XSD type: give it Facets")


def _simple_type(schema: etree._Element, facets: Facets) -> None:
    simple = etree.SubElement(schema, _x("simpleType"), name=str(facets.name))
    doc = facets.doc
    if facets.code_list is not None:
        listing = codes.code_list(facets.code_list)
        doc = f"{doc} Code list {listing.id}: {listing.source}, version {listing.version}."
    _doc(simple, doc)
    restriction = etree.SubElement(simple, _x("restriction"), base=facets.base)
    for tag, value in (
        ("minInclusive", facets.min_inclusive),
        ("minExclusive", facets.min_exclusive),
        ("totalDigits", facets.total_digits),
        ("fractionDigits", facets.fraction_digits),
        ("minLength", facets.min_length),
        ("maxLength", facets.max_length),
        ("pattern", facets.pattern),
    ):
        if value is not None:
            etree.SubElement(restriction, _x(tag), value=str(value))
    if facets.code_list is not None:
        for entry in codes.code_list(facets.code_list):
            enumeration = etree.SubElement(restriction, _x("enumeration"), value=entry.code)
            validity = "" if entry.valid_from is None and entry.valid_to is None else f" ({entry.validity_text()})"
            _doc(enumeration, entry.label + validity)
    elif facets.enumeration is not None:
        for value in facets.enumeration:
            etree.SubElement(restriction, _x("enumeration"), value=value)


def _enum_type(schema: etree._Element, enum_cls: type[enum.Enum]) -> None:
    simple = etree.SubElement(schema, _x("simpleType"), name=f"{enum_cls.__name__}Type")
    _doc(simple, _first_paragraph(enum_cls.__doc__))
    restriction = etree.SubElement(simple, _x("restriction"), base="xs:string")
    for member in enum_cls:
        etree.SubElement(restriction, _x("enumeration"), value=str(member.value))


def _attribute(parent: etree._Element, item: Binding, cls: type[XmlModel]) -> None:
    attribute = etree.SubElement(parent, _x("attribute"), name=item.local_name, type=type_ref(item))
    default = cls.model_fields[item.field].default
    if item.min_occurs:
        attribute.set("use", "required")
    elif isinstance(default, str):
        attribute.set("default", default)
    _doc(attribute, item.doc)


def _element(parent: etree._Element, item: Binding) -> None:
    element = etree.SubElement(parent, _x("element"), name=item.local_name, type=type_ref(item))
    if item.min_occurs != 1:
        element.set("minOccurs", str(item.min_occurs))
    if item.repeated:
        element.set("maxOccurs", "unbounded")
    _doc(element, item.doc)


def _complex_type(schema: etree._Element, cls: type[XmlModel]) -> None:
    complex_type = etree.SubElement(schema, _x("complexType"), name=f"{cls.__name__}Type")
    _doc(complex_type, _first_paragraph(cls.__doc__))
    own = [item for item in binding(cls) if item.field in cls.__dict__.get("__annotations__", {})]
    text = [item for item in own if item.kind == "text"]
    attributes = [item for item in own if item.kind == "attribute"]
    elements = [item for item in own if item.kind == "element"]
    base = cls.__mro__[1]
    if text:
        content = etree.SubElement(complex_type, _x("simpleContent"))
        holder = etree.SubElement(content, _x("extension"), base=type_ref(text[0]))
    elif base is not XmlModel:
        content = etree.SubElement(complex_type, _x("complexContent"))
        holder = etree.SubElement(content, _x("extension"), base=f"{_PREFIX[namespace_of(base)]}:{base.__name__}Type")
    else:
        holder = complex_type
    if elements and all(item.model is not None and item.model.xml_root for item in elements):
        # The Body: exactly one document. Receipt and Error are declared here; the business documents
        # are validated lax, so the envelope schema checks routing before anyone reads the document
        # (docs/architecture.md: envelope schema -> ... -> signature -> business-document schema).
        choice = etree.SubElement(holder, _x("choice"))
        namespaces = []
        for item in elements:
            if item.namespace == NS_ENVELOPE:
                _doc(etree.SubElement(choice, _x("element"), ref=f"env:{item.local_name}"), item.doc)
            elif item.namespace not in namespaces:
                namespaces.append(item.namespace)
        any_document = etree.SubElement(choice, _x("any"), namespace=" ".join(namespaces), processContents="lax")
        _doc(
            any_document,
            "One business document of a Utility Block: "
            + ", ".join(
                f"{_PREFIX[item.namespace]}:{item.local_name}" for item in elements if item.namespace != NS_ENVELOPE
            )
            + ".",
        )
    elif elements:
        sequence = etree.SubElement(holder, _x("sequence"))
        for item in elements:
            _element(sequence, item)
        if cls is Envelope:
            signature = etree.SubElement(sequence, _x("element"), ref="ds:Signature", minOccurs="0")
            _doc(
                signature,
                "Enveloped XML signature over the whole envelope by the sender; required on the wire.",
            )
    for item in attributes:
        _attribute(holder, item, cls)


def _body_namespaces() -> list[str]:
    """Return the namespaces of the Body's business documents, in the Body's order (pic, then export)."""
    namespaces: list[str] = []
    for item in binding(Body):
        if item.namespace != NS_ENVELOPE and item.namespace not in namespaces:
            namespaces.append(item.namespace)
    return namespaces


def _driver() -> etree._Element:
    """Return the driver schema: envelope.xsd with a strict Body, and every Utility Block imported.

    envelope.xsd leaves the Body's document to a lax wildcard, so the gateway can check the routing before it
    reads the document; loaded alone it checks nothing in the Body. The driver redefines the Body's type as
    a restriction whose wildcard is strict (an XSD 1.0 restriction: strict narrows lax) and imports every
    Utility Block, so one call of xmllint, Xerces or .NET checks the whole envelope and refuses an element
    that is not a declared document. It is in the envelope namespace because xs:redefine requires it.
    """
    namespaces = _body_namespaces()
    nsmap = {"xs": XS, "env": NS_ENVELOPE}
    schema = etree.Element(
        _x("schema"),
        nsmap=nsmap,
        targetNamespace=NS_ENVELOPE,
        elementFormDefault="qualified",
        attributeFormDefault="unqualified",
        version="1.0",
    )
    _doc(
        schema,
        "picexchange driver schema: load this file to validate a whole Envelope, its Body's business document "
        "included, or a bare business document, in one call (xmllint --schema picexchange.xsd, Xerces, "
        "XmlSchemaSet). envelope.xsd alone validates the routing only: its Body is lax. Some rules are beyond "
        "XSD 1.0 and only picexchange checks them (see the vendor guide). Generated from the picexchange "
        "models; do not edit by hand.",
    )
    for namespace in namespaces:
        etree.SubElement(schema, _x("import"), namespace=namespace, schemaLocation=SCHEMA_FILES[namespace])
    redefine = etree.SubElement(schema, _x("redefine"), schemaLocation=SCHEMA_FILES[NS_ENVELOPE])
    body = etree.SubElement(redefine, _x("complexType"), name="BodyType")
    _doc(body, "Exactly one business document or transport reply, checked strictly against its Utility Block.")
    restriction = etree.SubElement(etree.SubElement(body, _x("complexContent")), _x("restriction"), base="env:BodyType")
    choice = etree.SubElement(restriction, _x("choice"))
    for item in binding(Body):
        if item.namespace == NS_ENVELOPE:
            _doc(etree.SubElement(choice, _x("element"), ref=f"env:{item.local_name}"), item.doc)
    any_document = etree.SubElement(choice, _x("any"), namespace=" ".join(namespaces), processContents="strict")
    _doc(
        any_document,
        "One business document of a Utility Block, which must be declared there (the only global elements "
        "of ub-pic.xsd and ub-export.xsd are their documents): an unknown element is refused.",
    )
    return schema


def generate() -> dict[str, bytes]:
    """Return the generated XSD text of each namespace, by file name."""
    classes: dict[type[XmlModel], None] = {}
    items = list(_walk(Envelope, classes))
    facets: dict[str, Facets] = {}
    enums: dict[type[enum.Enum], None] = {}
    for item in items:
        if item.facets is not None and item.facets.name is not None:
            other = facets.setdefault(item.facets.name, item.facets)
            if other != item.facets:
                raise TypeError(f"two different simple types are named {item.facets.name}")
        if item.enum is not None:
            enums[item.enum] = None
    documents = [cls for cls in classes if cls.xml_root]
    out: dict[str, bytes] = {}
    for namespace in (NS_COMMON, NS_ENVELOPE, NS_PIC, NS_EXPORT):
        nsmap = {"xs": XS, _PREFIX[namespace]: namespace}
        imports = [NS_COMMON] if namespace != NS_COMMON else []
        if namespace == NS_ENVELOPE:
            imports.append(NS_DSIG)
        for imported in imports:
            nsmap[_PREFIX[imported]] = imported
        schema = etree.Element(
            _x("schema"),
            nsmap=nsmap,
            targetNamespace=namespace,
            elementFormDefault="qualified",
            attributeFormDefault="unqualified",
            version="1.0",
        )
        _doc(schema, f"{_TITLE[namespace]}. Generated from the picexchange models; do not edit by hand.")
        for imported in imports:
            etree.SubElement(schema, _x("import"), namespace=imported, schemaLocation=SCHEMA_FILES[imported])
        for cls in documents:
            if namespace_of(cls) == namespace:
                element = etree.SubElement(
                    schema, _x("element"), name=cls.__name__, type=f"{_PREFIX[namespace]}:{cls.__name__}Type"
                )
                _doc(element, _first_paragraph(cls.__doc__))
        for cls in classes:
            if namespace_of(cls) == namespace:
                _complex_type(schema, cls)
        for enum_cls in enums:
            if namespace_of(enum_cls) == namespace:
                _enum_type(schema, enum_cls)
        if namespace == NS_COMMON:
            for name in sorted(facets):
                _simple_type(schema, facets[name])
        out[SCHEMA_FILES[namespace]] = etree.tostring(schema, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    out[DRIVER_FILE] = etree.tostring(_driver(), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the generated XSDs into the checkout's ``src/picexchange/xsd/`` (or the directory given)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else PACKAGED_XSD
    for name, text in generate().items():
        (target / name).write_bytes(text)
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
