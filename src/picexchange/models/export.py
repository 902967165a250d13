"""Utility Block ``export``: export data for Customs clearance, Customs to Customs (``urn:picexchange:ub:export:1``).

"V-B n" is block n of the Basel movement document (Annex V-B); "WCO n" a WCO Data Model element id.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import Field

from picexchange.models.base import Facets, Rule, XmlModel
from picexchange.models.common import (
    Day,
    HsCode,
    Identifier,
    LongText,
    Mass,
    NotificationNumber,
    NotifiedQuantity,
    OfficeCode,
    OperationCode,
    PackagingCode,
    Party,
    PositiveCount,
    StateConcerned,
    TextLine,
    Timestamp,
    TransportModeCode,
    WasteIdentification,
    code_validity,
)
from picexchange.models.pic import route_violations

__all__ = [
    "ClearanceResult",
    "ClearanceStatus",
    "Container",
    "DisposalCertificate",
    "ExportData",
    "ExportDeclaration",
    "Finding",
    "GoodsItem",
    "ShipmentCarrier",
    "ShipmentReceipt",
    "Transport",
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


class ClearanceStatus(enum.StrEnum):
    """Outcome of the import Customs' check of a waste shipment."""

    RELEASED = "released"
    HELD = "held"
    REJECTED = "rejected"
    RETURNED = "returned"


class ExportDeclaration(XmlModel):
    """The export declaration that cleared the shipment in the country of export."""

    declaration_id: Identifier
    """Reference number of the export declaration, e.g. the MRN (WCO D014)."""
    ucr: Identifier | None = None
    """Unique consignment reference (WCO 016)."""
    accepted_on: Timestamp
    """When the export declaration was accepted (WCO 023)."""
    export_office: OfficeCode
    """Customs office of export (V-A 16)."""
    exit_office: OfficeCode | None = None
    """Customs office of exit (V-A 16; V-B 20)."""


class ShipmentCarrier(Party):
    """A carrier of the shipment and the date it took the waste over (V-B 8)."""

    transport_mode: TransportModeCode
    """Means of transport of this carrier (V-B 8)."""
    transfer_date: Day | None = None
    """Date of transfer to this carrier (V-B 8)."""


class Container(XmlModel):
    """A container and its seals (WCO 159, 165)."""

    id: _ContainerId
    """Container identification number (WCO 159)."""
    seal: tuple[Identifier, ...] = ()
    """Seal numbers (WCO 165)."""


class Transport(XmlModel):
    """The means of transport crossing the border and the equipment used (V-B 7-8; WCO T022)."""

    mode: TransportModeCode
    """Mode of transport at the border (V-A 8; WCO T022 via UN/ECE Rec 19)."""
    means_id: Identifier | None = None
    """Identity of the means of transport: IMO number, flight, registration (WCO T026)."""
    container: tuple[Container, ...] = ()
    """Containers (WCO 159)."""
    place_of_loading: TextLine | None = None
    """Place of loading, UN/LOCODE where there is one (WCO L003)."""
    place_of_unloading: TextLine | None = None
    """Place of unloading, UN/LOCODE where there is one."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation for a container listed twice."""
        seen: set[str] = set()
        found = []
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
    """Packaging type (V-B 7; WCO 141 via Rec 21 where mapped)."""
    package_count: PositiveCount
    """Number of packages (V-B 7; WCO 144)."""

    def rule_violations(self) -> list[Rule]:
        """Return the violated rules of one goods item."""
        found: list[Rule] = []
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
    actual_quantity: NotifiedQuantity
    """Actual quantity, tonnes (Mg) or m³ as notified (V-B 5)."""
    actual_shipment_date: Day
    """Actual date of shipment; code lists are applied as they stood on this day (V-B 6)."""
    operation: Annotated[tuple[OperationCode, ...], Field(min_length=1)]
    """Disposal or recovery operations (V-B 11)."""
    carrier: Annotated[tuple[ShipmentCarrier, ...], Field(min_length=1)]
    """Carriers in order (V-B 8; WCO R012)."""
    transport: Transport
    """Means of transport at the border and equipment (WCO T022, 159)."""
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
        unit = self.actual_quantity.unit
        total = Decimal(0)
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
                total += item.quantity.value
                if item.quantity.unit != unit:
                    found.append(
                        Rule(
                            field=("goods_item", index, "quantity", "unit"),
                            rule_id="V-B 5",
                            text=f"goods item quantity is in {item.quantity.unit}, "
                            f"but the actual quantity is in {unit}",
                        )
                    )
            found += code_validity(
                item.waste_identification,
                self.actual_shipment_date,
                ("goods_item", index, "waste_identification"),
                "the shipment",
            )
        if total > self.actual_quantity.value:
            found.append(
                Rule(
                    field=("actual_quantity",),
                    rule_id="V-B 5",
                    text=f"goods items add up to {total} {unit}, more than the actual quantity "
                    f"{self.actual_quantity.value} {unit}",
                )
            )
        return found


class ShipmentReceipt(XmlModel):
    """The facility's confirmation that the shipment was received, accepted or rejected (V-B 17-18)."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Corresponding notification number (V-B 1)."""
    shipment_serial: PositiveCount
    """Serial number of the shipment (V-B 2)."""
    received_on: Day
    """Date of reception (V-B 18)."""
    accepted: bool
    """Accepted (true) or rejected (false) (V-B 18)."""
    quantity_received: NotifiedQuantity
    """Quantity received, tonnes (Mg) or m³ (V-B 18)."""
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
