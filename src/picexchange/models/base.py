"""The base of every message model and the XML binding it carries.

A model class is the Python face of one XSD complex type: each field is a child element (in declaration
order, which is the ``xs:sequence`` order), an attribute (marked :data:`Attribute`) or the simple content
(marked :data:`Text`). The element's namespace is the namespace of the module that declares the field
(``models.common`` → ``urn:picexchange:common:1``); its name is the field name in UpperCamelCase unless
:class:`XmlName` says otherwise. Simple values are constrained by :class:`Facets`, which both pydantic (here)
and the generated XSD (``tools/xsdgen.py``) enforce, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar, Literal
from uuid import UUID

import annotated_types
from pydantic import AwareDatetime, BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError, model_validator
from pydantic_core import PydanticCustomError, core_schema

from picexchange import codes

__all__ = [
    "Attribute",
    "Binding",
    "Facets",
    "NS_COMMON",
    "NS_ENVELOPE",
    "NS_EXPORT",
    "NS_PIC",
    "Rule",
    "Text",
    "XmlModel",
    "XmlName",
    "binding",
    "namespace_of",
    "schema_proven",
    "xml_name",
]

NS_COMMON = "urn:picexchange:common:1"
NS_ENVELOPE = "urn:picexchange:envelope:1"
NS_PIC = "urn:picexchange:ub:pic:1"
NS_EXPORT = "urn:picexchange:ub:export:1"

_MODULE_NAMESPACES: Mapping[str, str] = {
    "picexchange.models.common": NS_COMMON,
    "picexchange.models.envelope": NS_ENVELOPE,
    "picexchange.models.pic": NS_PIC,
    "picexchange.models.export": NS_EXPORT,
}


def namespace_of(obj: type[Any]) -> str:
    """Return the XML namespace of a model or enum class, from the module that defines it."""
    try:
        return _MODULE_NAMESPACES[obj.__module__]
    except KeyError:
        raise TypeError(f"{obj.__qualname__} is not defined in a picexchange.models module") from None


def xml_name(field_name: str) -> str:
    """Return the UpperCamelCase element name of a snake_case field name (``hs_code`` → ``HsCode``)."""
    return "".join(part[:1].upper() + part[1:] for part in field_name.split("_"))


@dataclass(frozen=True, slots=True)
class _Marker:
    kind: str


#: Marks a field as an XML attribute of its element.
Attribute = _Marker("attribute")
#: Marks a field as the simple content (text) of its element.
Text = _Marker("text")


@dataclass(frozen=True, slots=True)
class XmlName:
    """Overrides the element name derived from the field name."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Facets:
    """Constraints of a simple type, enforced by pydantic and written into the XSD.

    Attributes:
        name: the XSD simple type name in the common namespace, or None to use ``base`` as it is.
        base: the XSD built-in type restricted (``xs:string``, ``xs:decimal``, ...).
        doc: what the type is, for the XSD documentation.
        pattern: a regular expression in the common subset of XSD and Python, anchored at both ends.
        min_length: minimum length of the lexical value.
        max_length: maximum length of the lexical value.
        min_inclusive: lower bound of a number.
        min_exclusive: lower bound of a number, excluded.
        total_digits: most digits of a decimal.
        fraction_digits: most fraction digits of a decimal.
        enumeration: the closed list of allowed values.
        code_list: id of a packaged code list (``picexchange.codes``) whose codes are the allowed values.
        title: what a value of this type is called in an error message (``Basel Annex I/II code``).

    """

    name: str | None
    base: str
    doc: str = ""
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_inclusive: Decimal | None = None
    min_exclusive: Decimal | None = None
    total_digits: int | None = None
    fraction_digits: int | None = None
    enumeration: tuple[str, ...] | None = None
    code_list: str | None = None
    title: str | None = None

    def allowed_values(self) -> tuple[str, ...] | None:
        """Return the closed set of values, from ``enumeration`` or the code list."""
        if self.code_list is not None:
            return tuple(entry.code for entry in codes.code_list(self.code_list))
        return self.enumeration

    def describe(self) -> str:
        """Return what a value of this type is called, for error messages."""
        if self.title:
            return self.title
        if self.code_list is not None:
            return codes.code_list(self.code_list).title
        return self.name or self.base

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # The checks are closures over this type's facets, built once per model field: on the hot path
        # (an ExportData of 10 000 goods items runs them 200 000 times) they cost a few comparisons each.
        schema = handler(source)
        if self.pattern is not None:
            schema = core_schema.no_info_before_validator_function(self._lexical_check(), schema)
        return core_schema.no_info_after_validator_function(self._value_check(), schema)

    def _lexical_check(self) -> Any:
        regex = _compile(self.pattern or "")
        facets = self

        def check(value: Any) -> Any:
            if isinstance(value, str) and not regex.fullmatch(value):
                raise PydanticCustomError(
                    "xsd_pattern", "'{value}' is not a valid {title}", {"value": value, "title": facets.describe()}
                )
            return value

        return check

    def _value_check(self) -> Any:
        facets = self
        shortest, longest = self.min_length, self.max_length
        closed = self.code_list is not None or self.enumeration is not None
        allowed: list[frozenset[str] | None] = []  # loaded on first use: code lists are read lazily

        def check(value: Any) -> Any:
            if _SCHEMA_PROVEN.get():
                return value  # the full XSD checked these very facets on this very text (schema_proven)
            if isinstance(value, str):
                size = len(value)
                if shortest is not None and size < shortest:
                    raise PydanticCustomError(
                        "xsd_length", "must not be shorter than {limit} characters", {"limit": shortest}
                    )
                if longest is not None and size > longest:
                    raise PydanticCustomError(
                        "xsd_length", "must not be longer than {limit} characters", {"limit": longest}
                    )
                if closed:
                    if not allowed:
                        allowed.append(_allowed(facets))
                    values = allowed[0]
                    if values is not None and value not in values:
                        raise PydanticCustomError(
                            "code_list", "'{value}' is not a {title}", {"value": value, "title": facets.describe()}
                        )
            elif isinstance(value, Decimal | int) and not isinstance(value, bool):
                _check_number(facets, value)
            return value

        return check


_SCHEMA_PROVEN: ContextVar[bool] = ContextVar("picexchange_schema_proven", default=False)


@contextmanager
def schema_proven() -> Iterator[None]:
    """Skip the value facets while decoding a tree the full XSD has just validated; they are proven there.

    The XSD is generated from these same :class:`Facets` (lengths, code lists as enumerations, ranges, total and
    fraction digits) on ``xs:string`` and numeric types whose values are the text as written, so a schema-valid
    tree meets every value facet; checking them again is a fifth of decoding a large document
    (``Decimal.normalize().as_tuple()`` per amount). Patterns and every cross-field rule still run.
    Use it only around :func:`picexchange.codec.decode` of a tree that passed ``schemas.check_document``.
    """
    token = _SCHEMA_PROVEN.set(True)
    try:
        yield
    finally:
        _SCHEMA_PROVEN.reset(token)


def _check_number(facets: Facets, value: Decimal | int) -> None:
    number = Decimal(value)
    if facets.min_inclusive is not None and number < facets.min_inclusive:
        raise PydanticCustomError("xsd_range", "must be at least {limit}", {"limit": str(facets.min_inclusive)})
    if facets.min_exclusive is not None and number <= facets.min_exclusive:
        raise PydanticCustomError("xsd_range", "must be greater than {limit}", {"limit": str(facets.min_exclusive)})
    if isinstance(value, Decimal):
        _check_digits(facets, value)


def _check_digits(facets: Facets, value: Decimal) -> None:
    sign, digits, exponent = value.normalize().as_tuple()
    if not isinstance(exponent, int):
        raise PydanticCustomError("xsd_decimal", "must be a finite number", {})
    fraction = max(0, -exponent)
    integer = max(len(digits) + exponent, 0) if exponent < 0 else len(digits) + exponent
    if facets.fraction_digits is not None and fraction > facets.fraction_digits:
        raise PydanticCustomError(
            "xsd_decimal", "must not have more than {limit} decimal places", {"limit": facets.fraction_digits}
        )
    if facets.total_digits is not None and integer + fraction > facets.total_digits:
        raise PydanticCustomError(
            "xsd_decimal", "must not have more than {limit} digits", {"limit": facets.total_digits}
        )


@cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@cache
def _allowed(facets: Facets) -> frozenset[str] | None:
    values = facets.allowed_values()
    return frozenset(values) if values is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A violated rule that belongs to one document, found by a model's own validator.

    Attributes:
        field: the path of the offending field below the model (``("last_departure",)``).
        rule_id: the rule's stable id, usually its source (``V-A 6``, ``Art. 6(8)``).
        text: the sentence a person reads.

    """

    field: tuple[str | int, ...]
    rule_id: str
    text: str


class XmlModel(BaseModel):
    """Base of every message model: frozen, no unknown fields, one docstring per field."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    #: True for a document that is a global element of its schema (a message body or the envelope).
    xml_root: ClassVar[bool] = False

    def __init__(self, /, **values: Any) -> None:
        """Build the model from its fields; refuse bad values with the library's own error.

        Raises:
            SchemaError: a value of the wrong form, a missing or an unknown field (each with its element path).
            BusinessRuleError: only cross-field rules are broken.

        """
        try:
            super().__init__(**values)
        except ValidationError as exc:
            from picexchange.models.validation import refusal_of  # below this module: it reads the bindings

            raise refusal_of(exc, type(self), values) from exc

    # pydantic calls a model's own __init__ for every nested model it validates unless told the __init__ is its
    # base one; this one only translates the error of the outermost call, so nested ones keep their locations.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> typing.Self:
        """Build the model from a mapping of its fields (the shape of its JSON form); refuse as :meth:`__init__`."""
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            from picexchange.models.validation import refusal_of

            raise refusal_of(exc, cls, obj) from exc

    def rule_violations(self) -> list[Rule]:
        """Return the violated cross-field rules of this model (not of its children); override to add."""
        return []

    @model_validator(mode="after")
    def _check_rules(self) -> typing.Self:
        # All violations travel in one error's context, so a validator can report every one of them.
        violations = self.rule_violations()
        if violations:
            raise PydanticCustomError(
                "business_rule",
                "{texts}",
                {"texts": "; ".join(v.text for v in violations), "violations": tuple(violations)},
            )
        return self


# --------------------------------------------------------------------------------------------------------
# The binding: what XML each field of a model class maps to. Pure, computed once per class.

SimpleKind = Literal["str", "int", "bool", "decimal", "date", "datetime", "uuid", "enum"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """How one model field maps to XML.

    Attributes:
        field: the Python field name.
        local_name: the element or attribute local name.
        namespace: the element's namespace ("" for attributes).
        kind: ``element``, ``attribute`` or ``text``.
        model: the model class of a complex element, else None.
        facets: the simple type constraints, if any.
        enum: the Enum class of an enumerated value, if any.
        simple: the Python kind of a simple value.
        min_occurs: 0 or 1.
        repeated: whether the element may occur more than once.
        doc: the field's docstring.

    """

    field: str
    local_name: str
    namespace: str
    kind: Literal["element", "attribute", "text"]
    model: type[XmlModel] | None
    facets: Facets | None
    enum: type[enum.Enum] | None
    simple: SimpleKind | None
    min_occurs: int
    repeated: bool
    doc: str

    @property
    def tag(self) -> str:
        """Return the Clark-notation tag (``{namespace}Local``)."""
        return f"{{{self.namespace}}}{self.local_name}" if self.namespace else self.local_name


_SIMPLE_KINDS: Mapping[type[Any], SimpleKind] = {
    str: "str",
    int: "int",
    bool: "bool",
    Decimal: "decimal",
    dt.date: "date",
    dt.datetime: "datetime",
    UUID: "uuid",
}


def _declaring_class(cls: type[XmlModel], field: str) -> type[XmlModel]:
    for klass in reversed(cls.__mro__):
        if (
            isinstance(klass, type)
            and issubclass(klass, XmlModel)
            and field in klass.__dict__.get("__annotations__", {})
        ):
            return klass
    return cls


@cache
def binding(cls: type[XmlModel]) -> tuple[Binding, ...]:
    """Return the XML binding of every field of ``cls``, in XSD order (base class fields first)."""
    result = []
    for name, info in cls.model_fields.items():
        annotation: Any = info.annotation
        metadata: list[Any] = list(info.metadata)
        optional = False
        repeated = False
        while True:
            origin = typing.get_origin(annotation)
            if origin is typing.Annotated:
                metadata.extend(annotation.__metadata__)
                annotation = annotation.__origin__
            elif origin in (typing.Union, types.UnionType):
                args = [a for a in typing.get_args(annotation) if a is not type(None)]
                optional = True
                annotation = args[0]
            elif origin is tuple:
                repeated = True
                annotation = typing.get_args(annotation)[0]
            else:
                break
        kind: Literal["element", "attribute", "text"] = "element"
        local = xml_name(name)
        facets = None
        for item in metadata:
            if item is Attribute:
                kind = "attribute"
                local = name
            elif item is Text:
                kind = "text"
            elif isinstance(item, XmlName):
                local = item.name
            elif isinstance(item, Facets):
                facets = item
        min_occurs = 0 if optional else 1
        if repeated:
            min_occurs = 0
            for item in metadata:
                if isinstance(item, annotated_types.MinLen):
                    min_occurs = item.min_length
        model = annotation if isinstance(annotation, type) and issubclass(annotation, XmlModel) else None
        enum_cls = annotation if isinstance(annotation, type) and issubclass(annotation, enum.Enum) else None
        simple: SimpleKind | None = None
        if enum_cls is not None:
            simple = "enum"
        elif model is None:
            base = annotation
            if base is dt.datetime or base is AwareDatetime:
                simple = "datetime"
            else:
                simple = _SIMPLE_KINDS[base]
        namespace = namespace_of(_declaring_class(cls, name)) if kind == "element" else ""
        if model is not None and model.xml_root:
            # A global element keeps its own name and namespace wherever it is placed (the Body).
            local, namespace = model.__name__, namespace_of(model)
        result.append(
            Binding(
                field=name,
                local_name=local,
                namespace=namespace,
                kind=kind,
                model=model,
                facets=facets,
                enum=enum_cls,
                simple=simple,
                min_occurs=min_occurs,
                repeated=repeated,
                doc=info.description or "",
            )
        )
    return tuple(result)
