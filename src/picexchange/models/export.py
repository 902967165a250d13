"""Utility Block ``export``: export data for Customs clearance, Customs to Customs (``urn:picexchange:ub:export:1``).

"V-B n" is block n of the Basel movement document (Annex V-B); "WCO n" a WCO Data Model element id.
"""

from __future__ import annotations

import enum
import re
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import Field

from picexchange.models.base import Facets, Rule, XmlModel
from picexchange.models.common import (
    CountryCode,
    Day,
    FormQuantity,
    HsCode,
    Identifier,
    Locode,
    LongText,
    Mass,
    NotificationNumber,
    NotifiedQuantity,
    OfficeCode,
    OperationCode,
    PackagingCode,
    Party,
    PositiveCount,
    Role,
    StateConcerned,
    TextLine,
    Timestamp,
    TransportModeCode,
    WasteIdentification,
    code_validity,
    specify_violations,
)
from picexchange.models.pic import route_violations

__all__ = [
    "ClearanceResult",
    "ClearanceStatus",
    "Container",
    "CustomsPassage",
    "DisposalCertificate",
    "ExportData",
    "ExportDeclaration",
    "Finding",
    "GoodsItem",
    "ShipmentCarrier",
    "ShipmentReceipt",
    "Transport",
    "TransitCustoms",
    "TransportMeansIdType",
    "iso6346_check_digit",
]

_ContainerId = Annotated[
    str,
    Facets(
        name="ContainerIdType",
        base="xs:string",
        pattern=r"[A-Z0-9]{4,17}",
        title="container id (4-17 capital letters and digits)",
        doc="Transport equipment identification, e.g. an ISO 6346 container number (WCO 159).",
    ),
]


_Rec21Code = Annotated[
    str,
    Facets(
        name="Rec21PackageTypeType",
        base="xs:string",
        pattern=r"[0-9A-Z]{2}",
        title="UN/ECE Rec 21 package type code (2 characters, e.g. DR, BG, VR)",
        doc="Package type code of UN/ECE Recommendation 21, two letters or digits (WCO 141).",
    ),
]

_ISO6346 = re.compile(r"[A-Z]{3}[UJZ][0-9]{7}")


def iso6346_check_digit(container_id: str) -> int:
    """Return the ISO 6346 check digit of a container number's first ten characters (owner, category, serial).

    Letters count 10, 12, 13 ... 38, skipping multiples of 11; position ``i`` weighs ``2**i``; the check digit is
    the sum modulo 11, where 10 counts as 0.
    """
    total: int = sum(_ISO6346_VALUES[char] << index for index, char in enumerate(container_id[:10]))
    return total % 11 % 10


def _letter_values() -> dict[str, int]:
    values = {str(digit): digit for digit in range(10)}
    value = 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if value % 11 == 0:
            value += 1
        values[letter] = value
        value += 1
    return values


_ISO6346_VALUES = _letter_values()


class TransportMeansIdType(enum.StrEnum):
    """How the means of transport crossing the border is identified (WCO T018; the EU list CL750's codes)."""

    IMO_NUMBER = "10"
    """IMO ship identification number."""
    SHIP_NAME = "11"
    """Name of the sea-going vessel."""
    WAGON_NUMBER = "20"
    """Wagon number."""
    TRAIN_NUMBER = "21"
    """Train number."""
    ROAD_VEHICLE = "30"
    """Registration number of the road vehicle."""
    ROAD_TRAILER = "31"
    """Registration number of the road trailer."""
    FLIGHT_NUMBER = "40"
    """IATA flight number."""
    AIRCRAFT = "41"
    """Registration number of the aircraft."""
    ENI_NUMBER = "80"
    """European Vessel Identification Number (ENI) of an inland waterway vessel."""
    INLAND_VESSEL_NAME = "81"
    """Name of the inland waterway vessel."""


class ClearanceStatus(enum.StrEnum):
    """Outcome of the import Customs' check of a waste shipment."""

    RELEASED = "released"
    HELD = "held"
    REJECTED = "rejected"
    RETURNED = "returned"


class ExportDeclaration(XmlModel):
    """The export declaration that cleared the shipment in the country of export."""

    declaration_id: Identifier
    """Reference number of the export declaration, its document reference, e.g. the MRN (WCO D014)."""
    ucr: Identifier | None = None
    """Unique consignment reference (WCO 016)."""
    accepted_on: Timestamp
    """When the export declaration was accepted (WCO 023)."""
    export_office: OfficeCode
    """Customs office of export (V-A 16)."""


class TransitCustoms(XmlModel):
    """The Customs offices where the waste enters and leaves one State of transit (V-B 22)."""

    country: CountryCode
    """The State of transit, ISO 3166-1 alpha-2 (V-B 22)."""
    entry_office: OfficeCode | None = None
    """Customs office of entry into the State of transit (V-B 22; V-A 15(c))."""
    exit_office: OfficeCode | None = None
    """Customs office of exit from the State of transit (V-B 22; V-A 15(c))."""


class CustomsPassage(XmlModel):
    """The movement document's blocks for Customs offices (V-B 20-22).

    Where and when the waste left the State of export, the offices of each State of transit, and where and when
    it entered the State of import. Export Customs sends what it knows when it sends the ExportData: the office
    of exit and the exit date once the goods left, the offices of transit and of entry as declared.
    """

    exit_office: OfficeCode | None = None
    """Customs office of exit from the State of export (V-B 20; V-A 16)."""
    exit_date: Day | None = None
    """Date the waste left the State of export, as the office of exit endorses it (V-B 20; WCO 024)."""
    transit: tuple[TransitCustoms, ...] = ()
    """Offices of entry and exit of each State of transit, in route order (V-B 22)."""
    entry_office: OfficeCode | None = None
    """Customs office of entry into the State of import (V-B 21; V-A 16; WCO G004)."""
    entry_date: Day | None = None
    """Date the waste entered the State of import, as the office of entry endorses it (V-B 21)."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation for an entry before the exit, or a State of transit listed twice (V-B 20-22)."""
        found: list[Rule] = []
        if self.exit_date is not None and self.entry_date is not None and self.entry_date < self.exit_date:
            found.append(
                Rule(
                    field=("entry_date",),
                    rule_id="V-B 21",
                    text=f"the waste entered the State of import on {self.entry_date}, before it left the State "
                    f"of export on {self.exit_date}",
                )
            )
        seen: set[str] = set()
        for index, transit in enumerate(self.transit):
            if transit.country in seen:
                found.append(
                    Rule(
                        field=("transit", index, "country"),
                        rule_id="V-B 22",
                        text=f"State of transit {transit.country} is listed more than once",
                    )
                )
            seen.add(transit.country)
        return found


class ShipmentCarrier(Party):
    """A carrier of the shipment and the date it took the waste over (V-B 8)."""

    transport_mode: TransportModeCode
    """Means of transport of this carrier (V-B 8)."""
    transfer_date: Day | None = None
    """Date of transfer to this carrier (V-B 8)."""


class Container(XmlModel):
    """A container and its seals (WCO 159, 165).

    An id in the ISO 6346 form (three letters of the owner, the category U, J or Z, six digits, the check digit:
    ``CSQU3054383``) must carry the right check digit; other transport equipment ids are taken as they are.
    """

    id: _ContainerId
    """Container identification number, ISO 6346 where it is a freight container (WCO 159)."""
    seal: tuple[Identifier, ...] = ()
    """Seal numbers (WCO 165)."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if an ISO 6346 container number's check digit is wrong."""
        if _ISO6346.fullmatch(self.id):
            expected = iso6346_check_digit(self.id)
            if int(self.id[10]) != expected:
                return [
                    Rule(
                        field=("id",),
                        rule_id="ISO 6346",
                        text=f"container number {self.id} has check digit {self.id[10]}; ISO 6346 gives {expected} "
                        f"({self.id[:10]}{expected})",
                    )
                ]
        return []


class Transport(XmlModel):
    """The means of transport crossing the border and the equipment used (V-B 7-8; WCO T022)."""

    mode: TransportModeCode
    """Mode of transport at the border (V-A 8; WCO T022 via UN/ECE Rec 19)."""
    means_id: Identifier | None = None
    """Identity of the active means of transport crossing the border: IMO number, flight, registration
    (WCO T006)."""
    means_id_type: TransportMeansIdType | None = None
    """How MeansId identifies the means of transport: 10 IMO number, 40 flight number, 30 road vehicle ...
    (WCO T018)."""
    container: tuple[Container, ...] = ()
    """Containers (WCO 159)."""
    place_of_loading: Locode | None = None
    """Place of loading, coded as a UN/LOCODE (WCO L010)."""
    place_of_loading_name: TextLine | None = None
    """Name of the place of loading, where it has no UN/LOCODE or as well as it (WCO L009)."""
    place_of_unloading: TextLine | None = None
    """Place of unloading, UN/LOCODE where there is one."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation for a container listed twice, or a means id type without a means id."""
        seen: set[str] = set()
        found = []
        if self.means_id_type is not None and self.means_id is None:
            found.append(Rule(field=("means_id",), rule_id="WCO T006", text="MeansIdType is given but MeansId is not"))
        for index, container in enumerate(self.container):
            if container.id in seen:
                found.append(
                    Rule(
                        field=("container", index, "id"),
                        rule_id="WCO 159",
                        text=f"container {container.id} is listed more than once",
                    )
                )
            seen.add(container.id)
        return found


class GoodsItem(XmlModel):
    """One goods item of the export declaration (WCO 29A / 68A)."""

    item_number: PositiveCount
    """Goods item number, 1, 2, 3 ... (WCO 006)."""
    hs_code: HsCode
    """Tariff code of the item (WCO 145)."""
    description: TextLine
    """Description of goods (WCO 137)."""
    waste_identification: WasteIdentification
    """Waste identification codes of the item (V-B 14)."""
    net_mass: Mass
    """Net mass in kilograms."""
    gross_mass: Mass | None = None
    """Gross mass in kilograms (WCO 126)."""
    quantity: NotifiedQuantity | None = None
    """Quantity of the item in the notification's unit (V-B 5)."""
    packaging_type: PackagingCode
    """Packaging type of the movement document, the Basel code 1-9; its own data element, not WCO 141 (V-B 7)."""
    other_packaging: TextLine | None = None
    """What the packaging is; required exactly when packaging type 9, other (specify), is given (V-B 7)."""
    rec21_package_type: _Rec21Code | None = None
    """The package type as Customs codes it, UN/ECE Rec 21 (WCO 141); the declarant's choice, not derived
    from the Basel code."""
    package_count: PositiveCount
    """Number of packages (V-B 7; WCO 144)."""

    def rule_violations(self) -> list[Rule]:
        """Return the violated rules of one goods item."""
        found: list[Rule] = specify_violations(
            (self.packaging_type,),
            "9",
            self.other_packaging,
            code_field="packaging_type",
            text_field="other_packaging",
            block="V-B 7",
        )
        if self.hs_code[:6] not in {code[:6] for code in self.waste_identification.hs_code}:
            found.append(
                Rule(
                    field=("hs_code",),
                    rule_id="V-B 14",
                    text=f"HS code {self.hs_code} is not among the item's waste identification HS codes",
                )
            )
        if self.gross_mass is not None and self.gross_mass.value < self.net_mass.value:
            found.append(
                Rule(
                    field=("gross_mass",),
                    rule_id="WCO 126",
                    text=f"gross mass {self.gross_mass.value} kg is less than net mass {self.net_mass.value} kg",
                )
            )
        return found


class ExportData(XmlModel):
    """Export data of one waste shipment, sent by export Customs to import Customs (V-B 1-14, 20).

    It lets the Customs of the State of import check, before the goods arrive, that the shipment is covered
    by a valid consent.
    """

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Corresponding notification number (V-B 1; WCO D005 as additional document)."""
    shipment_serial: PositiveCount
    """Serial number of this shipment (V-B 2)."""
    total_shipments: PositiveCount
    """Total number of shipments (V-B 2)."""
    export_declaration: ExportDeclaration
    """The export declaration (WCO D014, 023)."""
    exporter: Party
    """Exporter - notifier (V-B 3; WCO R031/R032)."""
    consignee: Party
    """Importer - consignee (V-B 4; WCO R014/R015)."""
    facility: Party
    """Disposal or recovery facility (V-B 10)."""
    actual_quantity: FormQuantity
    """Actual quantity: tonnes (Mg), m³ or both, in the units notified (V-B 5)."""
    actual_shipment_date: Day
    """Actual date of shipment; code lists are applied as they stood on this day (V-B 6)."""
    expected_arrival: Day | None = None
    """Expected arrival at the facility, as declared; the overdue-receipt rule counts from it (V-B 6: the form has
    the date of shipment, not of arrival)."""
    operation: Annotated[tuple[OperationCode, ...], Field(min_length=1)]
    """Disposal or recovery operations (V-B 11)."""
    carrier: Annotated[tuple[ShipmentCarrier, ...], Field(min_length=1)]
    """Carriers in order (V-B 8; WCO R012)."""
    transport: Transport
    """Means of transport at the border and equipment (WCO T022, 159)."""
    customs_passage: CustomsPassage | None = None
    """Offices and dates of exit, transit and entry (V-B 20-22)."""
    state_concerned: Annotated[tuple[StateConcerned, ...], Field(min_length=2)]
    """The route: State of export, States of transit in order, State of import (V-A 15)."""
    goods_item: Annotated[tuple[GoodsItem, ...], Field(min_length=1)]
    """Goods items (WCO 29A / 68A)."""

    def rule_violations(self) -> list[Rule]:
        """Return the violated rules that can be checked on the export data alone."""
        found: list[Rule] = []
        if self.shipment_serial > self.total_shipments:
            found.append(
                Rule(
                    field=("shipment_serial",),
                    rule_id="V-B 2",
                    text=f"shipment {self.shipment_serial} of {self.total_shipments} is beyond the total",
                )
            )
        found += route_violations(self.state_concerned, "state_concerned")
        found += self._date_violations()
        found += self._transit_violations()
        amounts = self.actual_quantity.by_unit()
        totals: dict[str, Decimal] = {}
        for index, item in enumerate(self.goods_item):
            if item.item_number != index + 1:
                found.append(
                    Rule(
                        field=("goods_item", index, "item_number"),
                        rule_id="WCO 006",
                        text=f"goods item {index + 1} is numbered {item.item_number}; items are numbered 1, 2, 3 ...",
                    )
                )
            if item.quantity is not None:
                unit = item.quantity.unit
                totals[unit] = totals.get(unit, Decimal(0)) + item.quantity.value
                if unit not in amounts:
                    found.append(
                        Rule(
                            field=("goods_item", index, "quantity", "unit"),
                            rule_id="V-B 5",
                            text=f"goods item quantity is in {unit}, "
                            f"but the actual quantity is in {' and '.join(amounts)}",
                        )
                    )
            found += code_validity(
                item.waste_identification,
                self.actual_shipment_date,
                ("goods_item", index, "waste_identification"),
                "the shipment",
            )
        for unit, total in totals.items():
            if unit in amounts and total > amounts[unit]:
                found.append(
                    Rule(
                        field=("actual_quantity",),
                        rule_id="V-B 5",
                        text=f"goods items add up to {total} {unit}, more than the actual quantity "
                        f"{amounts[unit]} {unit}",
                    )
                )
        return found

    def _date_violations(self) -> list[Rule]:
        """Return a violation for an exit or an expected arrival before the shipment date (V-B 6, 20)."""
        found = []
        passage = self.customs_passage
        if passage is not None and passage.exit_date is not None and passage.exit_date < self.actual_shipment_date:
            found.append(
                Rule(
                    field=("customs_passage", "exit_date"),
                    rule_id="V-B 20",
                    text=f"the waste left the State of export on {passage.exit_date}, before it was shipped on "
                    f"{self.actual_shipment_date}",
                )
            )
        if self.expected_arrival is not None and self.expected_arrival < self.actual_shipment_date:
            found.append(
                Rule(
                    field=("expected_arrival",),
                    rule_id="V-B 6",
                    text=f"expected arrival {self.expected_arrival} is before the shipment date "
                    f"{self.actual_shipment_date}",
                )
            )
        return found

    def _transit_violations(self) -> list[Rule]:
        """Return a violation for transit offices of a State that is not a State of transit on the route (V-B 22)."""
        if self.customs_passage is None:
            return []
        transits = [state.country for state in self.state_concerned if state.role is Role.TRANSIT]
        return [
            Rule(
                field=("customs_passage", "transit", index, "country"),
                rule_id="V-B 22",
                text=f"{transit.country} is not a State of transit on the route ({' '.join(transits) or 'none'})",
            )
            for index, transit in enumerate(self.customs_passage.transit)
            if transit.country not in transits
        ]


class ShipmentReceipt(XmlModel):
    """The facility's confirmation that the shipment was received, accepted or rejected (V-B 17-18)."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Corresponding notification number (V-B 1)."""
    shipment_serial: PositiveCount
    """Serial number of the shipment (V-B 2)."""
    declaration_id: Identifier | None = None
    """Reference number of the shipment's export declaration (the ExportData's DeclarationId, WCO D014), where
    the facility's authority knows it; the receipt rule checks it against the shipment's."""
    received_on: Day
    """Date of reception (V-B 18)."""
    accepted: bool
    """Accepted (true) or rejected (false) (V-B 18)."""
    quantity_received: FormQuantity
    """Quantity received: tonnes (Mg), m³ or both (V-B 18)."""
    rejection_reason: LongText | None = None
    """Why the shipment was rejected; required when rejected (V-B 18)."""
    expected_treatment_date: Day | None = None
    """Approximate date of disposal or recovery (V-B 18)."""
    operation: OperationCode
    """Disposal or recovery operation (V-B 18)."""
    facility: Party
    """The facility that received the shipment (V-B 10, 18)."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if a rejection has no reason or an acceptance has one (V-B 18)."""
        if not self.accepted and self.rejection_reason is None:
            return [Rule(field=("rejection_reason",), rule_id="V-B 18", text="a rejected shipment needs a reason")]
        if self.accepted and self.rejection_reason is not None:
            return [
                Rule(
                    field=("rejection_reason",),
                    rule_id="V-B 18",
                    text="an accepted shipment must not carry a rejection reason",
                )
            ]
        return []


class DisposalCertificate(XmlModel):
    """Certificate that the disposal or recovery of the shipment has been completed (V-B 19)."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Corresponding notification number (V-B 1)."""
    shipment_serial: PositiveCount
    """Serial number of the shipment (V-B 2)."""
    completed_on: Day
    """Date disposal or recovery was completed (V-B 19)."""
    operation: OperationCode
    """The operation completed (V-B 19)."""
    facility: Party
    """The facility that completed it (V-B 19)."""
    quantity_treated: NotifiedQuantity | None = None
    """Quantity treated (V-B 19)."""


class Finding(XmlModel):
    """One check of the import Customs and what it found."""

    rule_id: Identifier
    """The rule checked, e.g. consent-valid, quantity-within-consent."""
    field: TextLine | None = None
    """Path of the data element checked."""
    expected: TextLine | None = None
    """What the consent or notification says."""
    found: TextLine | None = None
    """What the shipment shows."""
    text: TextLine
    """The finding in words."""


class ClearanceResult(XmlModel):
    """The import Customs' decision on a waste shipment: released, held, rejected or returned."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Corresponding notification number (V-B 1)."""
    shipment_serial: PositiveCount
    """Serial number of the shipment (V-B 2)."""
    declaration_id: Identifier
    """Reference number of the export declaration the result answers (WCO D014)."""
    status: ClearanceStatus
    """Released, held, rejected or returned (take-back)."""
    decided_on: Timestamp
    """When the decision was taken."""
    customs_office: OfficeCode
    """The deciding Customs office, e.g. the office of entry (WCO G004)."""
    finding: tuple[Finding, ...] = ()
    """Checks and what they found; at least one unless released."""
    remarks: LongText | None = None
    """Further remarks."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if a shipment is held, rejected or returned without a finding."""
        if self.status is not ClearanceStatus.RELEASED and not self.finding:
            return [
                Rule(
                    field=("finding",),
                    rule_id="clearance",
                    text=f"a {self.status.value} shipment needs at least one finding saying why",
                )
            ]
        return []
