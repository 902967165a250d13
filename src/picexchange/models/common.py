"""Types shared by both Utility Blocks and the envelope (namespace ``urn:picexchange:common:1``).

Block references: "V-A 14" is block 14 of the Basel notification document (Annex V-A), "V-B 8" block 8 of
the movement document (Annex V-B).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field

from picexchange import codes
from picexchange.models.base import Attribute, Facets, Rule, Text, XmlModel

__all__ = [
    "Address",
    "Attachment",
    "BaselCode",
    "Carrier",
    "CountryCode",
    "CustomsOffices",
    "Day",
    "Digest",
    "Email",
    "EwcCode",
    "FormQuantity",
    "HCode",
    "HsCode",
    "Identifier",
    "Locode",
    "LongText",
    "Mass",
    "NotificationNumber",
    "NotifiedQuantity",
    "OecdCode",
    "OfficeCode",
    "OperationCode",
    "PackagingCode",
    "Party",
    "ParticipantId",
    "PhysicalCharacteristicCode",
    "PositiveCount",
    "Role",
    "StateConcerned",
    "Telephone",
    "TextLine",
    "Timestamp",
    "TransportModeCode",
    "UnClass",
    "UnNumber",
    "Uuid",
    "WasteIdentification",
    "YCode",
    "code_validity",
    "specify_violations",
]

# ---------------------------------------------------------------------------------------------- simple types

TextLine = Annotated[
    str,
    Facets(name="TextType", base="xs:string", min_length=1, max_length=512, doc="Free text, 1 to 512 characters."),
]
LongText = Annotated[
    str,
    Facets(
        name="LongTextType",
        base="xs:string",
        min_length=1,
        max_length=4000,
        doc="Free text, 1 to 4000 characters.",
    ),
]
Identifier = Annotated[
    str,
    Facets(
        name="IdentifierType",
        base="xs:string",
        pattern=r"[A-Za-z0-9]([A-Za-z0-9 ./:_\-]{0,33}[A-Za-z0-9])?",
        title="identifier (1-35 letters, digits and . / : _ - inside)",
        doc="A reference number or code: 1 to 35 characters, letters and digits at both ends.",
    ),
]
NotificationNumber = Annotated[
    str,
    Facets(
        name="NotificationNumberType",
        base="xs:string",
        pattern=r"[A-Za-z0-9]([A-Za-z0-9 ./_\-]{0,68}[A-Za-z0-9])?",
        title="notification number",
        doc="Notification number assigned under the national numbering system of the State of export (V-A 3).",
    ),
]
ParticipantId = Annotated[
    str,
    Facets(
        name="ParticipantIdType",
        base="xs:string",
        pattern=r"[A-Z]{2}:[A-Z0-9][A-Z0-9_\-]{0,31}",
        title="participant id (CC:AUTHORITY, e.g. MY:DOE)",
        doc="A Single Window, competent authority or Customs administration: ISO 3166-1 alpha-2 country, "
        "colon, authority code (AU:DCCEEW, MY:DOE, MY:RMCD).",
    ),
]
Uuid = Annotated[
    UUID,
    Facets(
        name="UuidType",
        base="xs:string",
        pattern=r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        title="UUID (lower-case hexadecimal)",
        doc="A UUID in its lower-case 8-4-4-4-12 hexadecimal form.",
    ),
]
Day = Annotated[
    dt.date,
    Facets(
        name="DateType",
        base="xs:date",
        pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
        title="date (YYYY-MM-DD, no time zone)",
        doc="A calendar date without time zone.",
    ),
]
Timestamp = Annotated[
    AwareDatetime,
    Facets(
        name="DateTimeType",
        base="xs:dateTime",
        pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+\-][0-9]{2}:[0-9]{2})",
        title="date and time with time zone",
        doc="A date and time with an explicit time zone (Z or +hh:mm).",
    ),
]
PositiveCount = Annotated[
    int,
    Facets(name=None, base="xs:positiveInteger", min_inclusive=Decimal(1), doc="A whole number of at least 1."),
]
CountryCode = Annotated[
    str,
    Facets(
        name="CountryCodeType",
        base="xs:string",
        code_list="iso-3166-1",
        title="country code (ISO 3166-1 alpha-2)",
        doc="ISO 3166-1 alpha-2 country code.",
    ),
]
YCode = Annotated[
    str,
    Facets(
        name="YCodeType",
        base="xs:string",
        code_list="basel-annex-i-ii",
        doc="Basel Annex I category (Y1-Y45) or Annex II category (Y46-Y49) (V-A 14(vii)).",
    ),
]
HCode = Annotated[
    str,
    Facets(
        name="HCodeType",
        base="xs:string",
        code_list="basel-annex-iii",
        doc="Basel Annex III hazardous characteristic (V-A 14(viii)).",
    ),
]
OperationCode = Annotated[
    str,
    Facets(
        name="OperationCodeType",
        base="xs:string",
        code_list="basel-annex-iv",
        doc="Basel Annex IV disposal (D1-D15) or recovery (R1-R13) operation (V-A 11).",
    ),
]
BaselCode = Annotated[
    str,
    Facets(
        name="BaselCodeType",
        base="xs:string",
        code_list="basel-annex-viii-ix",
        doc="Basel Annex VIII (A) or Annex IX (B) entry, or Annex II category Y46-Y49 (V-A 14(i)).",
    ),
]
OecdCode = Annotated[
    str,
    Facets(
        name="OecdCodeType",
        base="xs:string",
        pattern=r"[A-Z]{2}[0-9]{2,4}",
        title="OECD or EU waste code (e.g. GC010, AA010, RB020, EU48, EU3011)",
        doc="OECD Decision C(2001)107 Appendix 3/4 Part II code (GC010, AA010, RB020), or an EU code of "
        "Regulation (EC) No 1013/2006 Annex IIIA/IIIB/IV used in the same box (EU48, EU3011): two capital "
        "letters and 2 to 4 digits (V-A 14(ii)).",
    ),
]
EwcCode = Annotated[
    str,
    Facets(
        name="EwcCodeType",
        base="xs:string",
        pattern=r"[0-9]{6}\*?",
        title="EC list of wastes code (6 digits, * if hazardous)",
        doc="EC list of wastes code, six digits, an asterisk marking a hazardous entry (V-A 14(iii)).",
    ),
]
HsCode = Annotated[
    str,
    Facets(
        name="HsCodeType",
        base="xs:string",
        pattern=r"[0-9]{6,10}",
        title="HS code (6 to 10 digits)",
        doc="Harmonized System code, six digits plus up to four national digits (V-A 14(xii); WCO 145).",
    ),
]
UnNumber = Annotated[
    str,
    Facets(
        name="UnNumberType",
        base="xs:string",
        pattern=r"[0-9]{4}",
        title="UN number (4 digits)",
        doc="UN number of the UN Model Regulations, four digits (V-A 14(x); WCO 506).",
    ),
]
UnClass = Annotated[
    str,
    Facets(
        name="UnClassType",
        base="xs:string",
        code_list="un-class",
        doc="UN Model Regulations class or division (V-A 14(ix)).",
    ),
]
PackagingCode = Annotated[
    str,
    Facets(
        name="PackagingTypeCodeType",
        base="xs:string",
        code_list="basel-packaging",
        doc="Packaging type code of the notification document (V-A 7): 1 drum ... 9 other.",
    ),
]
PhysicalCharacteristicCode = Annotated[
    str,
    Facets(
        name="PhysicalCharacteristicCodeType",
        base="xs:string",
        code_list="basel-physical",
        doc="Physical characteristic code of the notification document (V-A 13): 1 powdery ... 7 other.",
    ),
]
TransportModeCode = Annotated[
    str,
    Facets(
        name="TransportModeCodeType",
        base="xs:string",
        code_list="basel-transport",
        doc="Means of transport (V-A 8): R road, T rail, S sea, A air, W inland waterway.",
    ),
]
Locode = Annotated[
    str,
    Facets(
        name="LocodeType",
        base="xs:string",
        pattern=r"[A-Z]{2}[A-Z2-9]{3}",
        title="UN/LOCODE (country and 3 letters or digits 2-9, e.g. AUMEL)",
        doc="A UN/LOCODE: ISO 3166-1 alpha-2 country and a three-character location code.",
    ),
]
OfficeCode = Annotated[
    str,
    Facets(
        name="OfficeCodeType",
        base="xs:string",
        pattern=r"[A-Z]{2}[A-Z0-9]{1,15}",
        title="office code (country prefix, e.g. MYPKG or GB000041)",
        doc="A Customs office or point of entry/exit: UN/LOCODE or national office reference, "
        "starting with the ISO country code (V-A 15(c), 16).",
    ),
]
Email = Annotated[
    str,
    Facets(
        name="EmailType",
        base="xs:string",
        pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+",
        max_length=254,
        title="e-mail address",
        doc="An e-mail address.",
    ),
]
Telephone = Annotated[
    str,
    Facets(
        name="TelephoneType",
        base="xs:string",
        pattern=r"\+?[0-9][0-9 ()\-]{2,29}",
        title="telephone number",
        doc="A telephone or fax number, digits with optional +, spaces, dashes and parentheses.",
    ),
]
_Sha256 = Annotated[
    str,
    Facets(
        name="Sha256Type",
        base="xs:string",
        pattern=r"[A-Za-z0-9+/]{43}=",
        title="SHA-256 digest (base64)",
        doc="A SHA-256 digest, base64-encoded (44 characters).",
    ),
]
_NotifiedUnit = Annotated[
    str,
    Facets(
        name="NotifiedUnitType",
        base="xs:string",
        enumeration=("TNE", "MTQ"),
        title="unit of a notified quantity (TNE or MTQ)",
        doc="UN/ECE Rec 20 unit of a notified quantity: TNE tonnes (Mg) or MTQ cubic metres (V-A 5).",
    ),
]
_MassUnit = Annotated[
    str,
    Facets(name="MassUnitType", base="xs:string", enumeration=("KGM",), title="mass unit (KGM)", doc="Kilograms."),
]
_QuantityValue = Annotated[
    Decimal,
    Facets(
        name="QuantityValueType",
        base="xs:decimal",
        min_exclusive=Decimal(0),
        total_digits=18,
        fraction_digits=6,
        doc="A quantity greater than zero, at most 18 digits of which 6 after the decimal point.",
    ),
]

# ---------------------------------------------------------------------------------------------- enumerations


class Role(enum.StrEnum):
    """Role of a State concerned in a transboundary movement (V-A 15)."""

    EXPORT = "export"
    TRANSIT = "transit"
    IMPORT = "import"


# ---------------------------------------------------------------------------------------------- complex types


class NotifiedQuantity(XmlModel):
    """A quantity of waste as the notification and movement documents state it: tonnes or cubic metres."""

    value: Annotated[_QuantityValue, Text]
    """The amount, greater than zero (V-A 5, V-B 5)."""
    unit: Annotated[_NotifiedUnit, Attribute]
    """TNE (tonnes, Mg) or MTQ (m³)."""


class FormQuantity(XmlModel):
    """A quantity as the Basel forms ask for it: tonnes (Mg) and/or m³, at least one of the two (V-A 5, V-B 5, 18).

    The forms have a box for each unit; a notifier fills one or both. Each unit is checked on its own: a running
    total in tonnes against the tonnes notified, in m³ against the m³ notified.
    """

    tonnes: _QuantityValue | None = None
    """Quantity in tonnes (Mg), UN/ECE Rec 20 TNE (V-A 5, V-B 5)."""
    cubic_metres: _QuantityValue | None = None
    """Quantity in cubic metres, UN/ECE Rec 20 MTQ (V-A 5, V-B 5)."""

    def by_unit(self) -> dict[str, Decimal]:
        """Return the amounts given, by UN/ECE Rec 20 unit (``{"TNE": 19.84}``), tonnes first."""
        found = {}
        if self.tonnes is not None:
            found["TNE"] = self.tonnes
        if self.cubic_metres is not None:
            found["MTQ"] = self.cubic_metres
        return found

    def describe(self) -> str:
        """Return the quantity in words for a finding (``19.84 TNE``, ``19.84 TNE / 40 MTQ``)."""
        return " / ".join(f"{value} {unit}" for unit, value in self.by_unit().items())

    def rule_violations(self) -> list[Rule]:
        """Return a violation if neither tonnes nor m³ is given (V-A 5, V-B 5)."""
        if self.tonnes is None and self.cubic_metres is None:
            return [
                Rule(
                    field=("tonnes",),
                    rule_id="V-A 5",
                    text="a quantity needs tonnes or cubic metres (or both)",
                )
            ]
        return []


class Mass(XmlModel):
    """A mass in kilograms (WCO 126, 131)."""

    value: Annotated[_QuantityValue, Text]
    """The mass, greater than zero."""
    unit: Annotated[_MassUnit, Attribute] = "KGM"
    """Always KGM."""


class Digest(XmlModel):
    """A digest of some bytes with the algorithm that made it."""

    value: Annotated[_Sha256, Text]
    """The digest, base64."""
    algorithm: Annotated[
        str,
        Facets(
            name="DigestAlgorithmType",
            base="xs:string",
            enumeration=("sha256",),
            title="digest algorithm (sha256)",
            doc="The digest algorithm: sha256.",
        ),
        Attribute,
    ] = "sha256"
    """The digest algorithm; only sha256."""


class Address(XmlModel):
    """A postal address (WCO 239-245)."""

    street: TextLine | None = None
    """Street and number or post office box (WCO 239)."""
    city: TextLine
    """City or town (WCO 241)."""
    postal_code: (
        Annotated[
            str,
            Facets(name="PostalCodeType", base="xs:string", min_length=1, max_length=17, doc="A postal code."),
        ]
        | None
    ) = None
    """Postal code (WCO 245)."""
    country: CountryCode
    """Country, ISO 3166-1 alpha-2 (WCO 242)."""


class Party(XmlModel):
    """A person or organisation as the Basel forms record it (V-A 1, 2, 8, 9, 10; V-B 3, 4, 8, 10)."""

    registration_number: Identifier | None = None
    """Registration number of the party, where the country registers waste operators (V-A 1-2, 8-10)."""
    name: TextLine
    """Name of the organisation (V-A 1-2, 8-10)."""
    address: Address
    """Address (V-A 1-2, 8-10)."""
    contact_person: TextLine | None = None
    """Contact person (V-A 1-2, 8-10)."""
    telephone: Telephone | None = None
    """Telephone number (V-A 1-2, 8-10)."""
    fax: Telephone | None = None
    """Fax number (V-A 1-2, 8-10)."""
    email: Email | None = None
    """E-mail address (V-A 1-2, 8-10)."""


class Carrier(Party):
    """An intended carrier and the means of transport it uses (V-A 8)."""

    transport_mode: Annotated[tuple[TransportModeCode, ...], Field(min_length=1)]
    """Means of transport: R road, T rail, S sea, A air, W inland waterway (V-A 8)."""


class WasteIdentification(XmlModel):
    """The codes that identify the waste (V-A 14, V-B 14); at least one of BaselCode, OecdCode, YCode."""

    basel_code: BaselCode | None = None
    """Basel Annex VIII or IX entry, or Annex II Y46-Y49 (V-A 14(i))."""
    oecd_code: OecdCode | None = None
    """OECD code, if different from the Basel code (V-A 14(ii))."""
    ewc_code: EwcCode | None = None
    """EC list of wastes code (V-A 14(iii))."""
    national_export_code: Identifier | None = None
    """National code in the country of export (V-A 14(iv))."""
    national_import_code: Identifier | None = None
    """National code in the country of import (V-A 14(v))."""
    other_code: Identifier | None = None
    """Other code (V-A 14(vi))."""
    y_code: tuple[YCode, ...] = ()
    """Basel Annex I/II categories (V-A 14(vii))."""
    h_code: tuple[HCode, ...] = ()
    """Basel Annex III hazardous characteristics (V-A 14(viii))."""
    un_class: UnClass | None = None
    """UN class (V-A 14(ix))."""
    un_number: UnNumber | None = None
    """UN number (V-A 14(x))."""
    un_shipping_name: TextLine | None = None
    """UN shipping name (V-A 14(xi))."""
    hs_code: Annotated[tuple[HsCode, ...], Field(min_length=1)]
    """Customs codes, HS (V-A 14(xii))."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if no Basel, OECD or Y code identifies the waste (V-A 14)."""
        if self.basel_code is None and self.oecd_code is None and not self.y_code:
            return [
                Rule(
                    field=("basel_code",),
                    rule_id="V-A 14",
                    text="the waste must be identified by at least one BaselCode, OecdCode or YCode",
                )
            ]
        return []

    def codes_with_lists(self) -> list[tuple[str, str, str]]:
        """Return ``(field, code, code list id)`` for every code whose validity depends on the date."""
        found = [("basel_code", self.basel_code, "basel-annex-viii-ix")] if self.basel_code else []
        found += [("y_code", code, "basel-annex-i-ii") for code in self.y_code]
        return found


class StateConcerned(XmlModel):
    """A State concerned by the movement and its competent authority (V-A 15)."""

    role: Role
    """Export, transit or import (V-A 15)."""
    country: CountryCode
    """The State, ISO 3166-1 alpha-2 (V-A 15(a))."""
    competent_authority: ParticipantId
    """Participant id of its competent authority (V-A 15(b))."""
    exit_point: TextLine | None = None
    """Point of exit: border crossing or port, UN/LOCODE where there is one (V-A 15(c))."""
    entry_point: TextLine | None = None
    """Point of entry: border crossing or port, UN/LOCODE where there is one (V-A 15(c))."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if the competent authority is not of this State (V-A 15(b))."""
        if not self.competent_authority.startswith(self.country + ":"):
            return [
                Rule(
                    field=("competent_authority",),
                    rule_id="V-A 15",
                    text=f"competent authority {self.competent_authority} is not of the State {self.country}",
                )
            ]
        return []


class CustomsOffices(XmlModel):
    """Customs offices of entry, exit and export (V-A 16)."""

    entry_office: OfficeCode | None = None
    """Customs office of entry (V-A 16)."""
    exit_office: OfficeCode | None = None
    """Customs office of exit (V-A 16)."""
    export_office: OfficeCode | None = None
    """Customs office of export (V-A 16)."""


class Attachment(XmlModel):
    """An annex attached to a document, identified by its digest (V-A 18)."""

    title: TextLine
    """What the annex is (V-A 18)."""
    media_type: Annotated[
        str,
        Facets(
            name="MediaTypeType",
            base="xs:string",
            pattern=r"[a-z]+/[A-Za-z0-9.+\-]+",
            title="media type (e.g. application/pdf)",
            doc="An IANA media type.",
        ),
    ]
    """IANA media type of the annex (V-A 18)."""
    digest: Digest
    """SHA-256 of the annex's bytes (V-A 18)."""
    content: (
        Annotated[
            str,
            Facets(
                name="InlineContentType",
                base="xs:base64Binary",
                pattern=r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?",
                title="base64 content (one line)",
                doc="Inline content, base64 on one line.",
            ),
        ]
        | None
    ) = None
    """The annex itself, base64, when sent inline (V-A 18)."""


def code_validity(
    identification: WasteIdentification, day: dt.date, where: tuple[str | int, ...], what: str
) -> list[Rule]:
    """Return a violation for every code of ``identification`` not valid on ``day`` (the document's date).

    Args:
        identification: the waste identification to check.
        day: the date of the document that uses the codes.
        where: the field path of ``identification`` below the model that reports.
        what: what ``day`` is, in words (``the notifier's declaration``).

    """
    found = []
    for field, code, list_id in identification.codes_with_lists():
        entry = codes.code_list(list_id).get(code)
        if entry is not None and not entry.valid_on(day):
            found.append(
                Rule(
                    field=(*where, field),
                    rule_id="code-validity",
                    text=f"{code} is not valid on {day.isoformat()}, the date of {what}: {entry.validity_text()}",
                )
            )
    return found


def specify_violations(
    chosen: tuple[str, ...], other: str, text: str | None, *, code_field: str, text_field: str, block: str
) -> list[Rule]:
    """Return a violation where an "other (specify)" code and its text disagree (V-A 7 packaging 9, V-A 13 7).

    The forms' last code of a list is "other (specify)": the text is required exactly when that code is ticked.

    Args:
        chosen: the codes ticked.
        other: the code that means "other (specify)" (``9`` for packaging, ``7`` for physical characteristics).
        text: the specification given, if any.
        code_field: the field that holds the codes, for the error text.
        text_field: the field that holds the text (the error's path).
        block: the form block, the rule id (``V-A 7``).

    """
    code_name, text_name = (name.replace("_", " ") for name in (code_field, text_field))
    if other in chosen and text is None:
        return [
            Rule(
                field=(text_field,),
                rule_id=block,
                text=f"{code_name} {other} (other, specify) needs the {text_name} that says what it is",
            )
        ]
    if other not in chosen and text is not None:
        return [
            Rule(
                field=(text_field,),
                rule_id=block,
                text=f"{text_name} is given only with {code_name} {other} (other, specify)",
            )
        ]
    return []
