"""Utility Block ``pic``: exchange of PIC processes between competent authorities (``urn:picexchange:ub:pic:1``).

"V-A n" is block n of the Basel notification document (Annex V-A), "V-B n" of the movement document.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, ClassVar

from pydantic import Field

from picexchange.models.base import Facets, Rule, XmlModel
from picexchange.models.common import (
    Attachment,
    Carrier,
    CountryCode,
    CustomsOffices,
    Day,
    FormQuantity,
    Identifier,
    LongText,
    NotificationNumber,
    NotifiedQuantity,
    OperationCode,
    PackagingCode,
    ParticipantId,
    Party,
    PhysicalCharacteristicCode,
    PositiveCount,
    Role,
    StateConcerned,
    TextLine,
    WasteIdentification,
    code_validity,
    specify_violations,
)

__all__ = [
    "Acknowledgement",
    "ConsentDecision",
    "ConsentWithdrawal",
    "ConsentingRole",
    "Contract",
    "Decision",
    "Declaration",
    "Facility",
    "Generator",
    "InformationRequest",
    "InformationResponse",
    "Insurance",
    "MovementAnnouncement",
    "Notification",
    "NotificationCancellation",
    "OperationKind",
    "ShipmentMode",
    "route_violations",
]

_NonNegativeCount = Annotated[
    int, Facets(name=None, base="xs:nonNegativeInteger", min_inclusive=0, doc="A whole number, 0 or more.")
]


class ShipmentMode(enum.StrEnum):
    """Whether the notification covers one shipment or several (V-A 3A)."""

    INDIVIDUAL = "individual"
    MULTIPLE = "multiple"


class OperationKind(enum.StrEnum):
    """Whether the waste goes to disposal (Annex IV A, D-codes) or recovery (Annex IV B, R-codes) (V-A 3B)."""

    DISPOSAL = "disposal"
    RECOVERY = "recovery"


class Decision(enum.StrEnum):
    """The decision of a competent authority on a notification (V-A 20-21; Basel Art. 6(2), 6(4))."""

    CONSENT = "consent"
    CONSENT_WITH_CONDITIONS = "consent-with-conditions"
    OBJECTION = "objection"


class ConsentingRole(enum.StrEnum):
    """The role of a State that decides on a notification (V-A 20)."""

    IMPORT = "import"
    TRANSIT = "transit"


class Generator(Party):
    """A waste generator (producer), its site and the process that generated the waste (V-A 9)."""

    site_of_generation: TextLine
    """Site of generation (V-A 9)."""
    process: LongText
    """Process by which the waste is generated (V-A 9; Annex V A item 16)."""


class Facility(Party):
    """The disposal or recovery facility and its actual site (V-A 10)."""

    kind: OperationKind
    """Disposal facility or recovery facility (V-A 10)."""
    actual_site: TextLine
    """Actual site of disposal or recovery (V-A 10)."""


class Declaration(XmlModel):
    """The notifier's declaration that the information is complete and correct (V-A 17)."""

    declarant_name: TextLine
    """Name of the person who declares (V-A 17)."""
    declared_on: Day
    """Date of the declaration; code lists are applied as they stood on this day (V-A 17)."""
    contract_in_place: bool
    """Legally enforceable written contractual obligations are in place (V-A 17; Basel Art. 6(3)(b))."""


class Insurance(XmlModel):
    """Information relating to insurance of the movement (Annex V A item 12)."""

    insurer: TextLine
    """Name of the insurer or guarantor (Annex V A item 12)."""
    policy_reference: Identifier
    """Policy or guarantee reference (Annex V A item 12)."""
    cover: TextLine
    """What the policy covers, with the amount and currency (Annex V A item 12)."""
    valid_until: Day | None = None
    """Last day the cover is in force (Annex V A item 12)."""


class Contract(XmlModel):
    """The contract between the exporter and the disposer (Annex V A item 21)."""

    reference: Identifier
    """Reference of the contract (Annex V A item 21)."""
    concluded_on: Day
    """Date the contract was concluded (Annex V A item 21)."""


def route_violations(states: tuple[StateConcerned, ...], field: str) -> list[Rule]:
    """Return violations of the route rule: exactly one State of export, one of import, distinct States.

    Basel Art. 6(1): the State of export notifies the State of import and every State of transit; a route
    therefore names exactly one of each end and no State twice.
    """
    found = []
    for role in (Role.EXPORT, Role.IMPORT):
        count = sum(1 for state in states if state.role is role)
        if count != 1:
            found.append(
                Rule(
                    field=(field,),
                    rule_id="V-A 15",
                    text=f"the route must name exactly one State of {role.value}, not {count}",
                )
            )
    seen: set[str] = set()
    for index, state in enumerate(states):
        if state.country in seen:
            found.append(
                Rule(
                    field=(field, index, "country"),
                    rule_id="V-A 15",
                    text=f"State {state.country} appears more than once on the route",
                )
            )
        seen.add(state.country)
    return found


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class Notification(XmlModel):
    """Notification of a transboundary movement of waste (Basel Annex V-A, notification document blocks 1-18).

    Sent by the competent authority of the State of export to the competent authorities of the State of
    import and of every State of transit (Basel Art. 6(1)).
    """

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    shipment_mode: ShipmentMode
    """Individual shipment or multiple shipments, i.e. a general notification (V-A 3A; Art. 6(6))."""
    operation_kind: OperationKind
    """Disposal or recovery (V-A 3B)."""
    preconsented_facility: bool
    """The facility is a pre-consented recovery facility (V-A 3C; OECD only)."""
    exporter: Party
    """Exporter - notifier (V-A 1)."""
    importer: Party
    """Importer - consignee (V-A 2)."""
    intended_shipments: PositiveCount
    """Total intended number of shipments; 1 for an individual shipment (V-A 4)."""
    intended_quantity: FormQuantity
    """Total intended quantity: tonnes (Mg), m³ or both (V-A 5)."""
    first_departure: Day
    """Intended first departure (V-A 6)."""
    last_departure: Day
    """Intended last departure (V-A 6)."""
    packaging_type: Annotated[tuple[PackagingCode, ...], Field(min_length=1)]
    """Packaging types (V-A 7)."""
    other_packaging: TextLine | None = None
    """What the packaging is; required exactly when packaging type 9, other (specify), is given (V-A 7)."""
    special_handling: bool
    """Special handling requirements apply (V-A 7)."""
    handling_requirements: LongText | None = None
    """Details of the special handling requirements; required when SpecialHandling is true (V-A 7)."""
    carrier: tuple[Carrier, ...] = ()
    """Intended carriers and their means of transport, if known (V-A 8; Annex V A item 5)."""
    generator: Annotated[tuple[Generator, ...], Field(min_length=1)]
    """Waste generators - producers (V-A 9)."""
    facility: Facility
    """Disposal or recovery facility (V-A 10)."""
    operation: Annotated[tuple[OperationCode, ...], Field(min_length=1)]
    """Disposal or recovery operations, Annex IV codes (V-A 11)."""
    technology: LongText | None = None
    """Technology employed (V-A 11)."""
    reason_for_export: LongText
    """Reason for export; the Basel Convention requires it (V-A 11; Annex V A item 1)."""
    waste_designation: TextLine
    """Designation of the waste (V-A 12)."""
    composition: LongText
    """Composition of the waste (V-A 12)."""
    physical_characteristic: Annotated[tuple[PhysicalCharacteristicCode, ...], Field(min_length=1)]
    """Physical characteristics (V-A 13)."""
    other_physical_characteristic: TextLine | None = None
    """What the physical characteristic is; required exactly when code 7, other (specify), is given (V-A 13)."""
    waste_identification: WasteIdentification
    """Waste identification codes (V-A 14)."""
    state_concerned: Annotated[tuple[StateConcerned, ...], Field(min_length=2)]
    """States concerned: one of export, transits in route order, one of import (V-A 15)."""
    customs_offices: CustomsOffices | None = None
    """Customs offices of entry, exit and export (V-A 16)."""
    declaration: Declaration
    """Exporter's - notifier's declaration (V-A 17)."""
    insurance: Insurance | None = None
    """Insurance or financial guarantee (Annex V A item 12)."""
    contract: Contract | None = None
    """Contract between exporter and disposer (Annex V A item 21)."""
    annex_count: _NonNegativeCount | None = None
    """Number of annexes attached (V-A 18)."""
    attachment: tuple[Attachment, ...] = ()
    """Annexes, each identified by its SHA-256 digest (V-A 18)."""

    def rule_violations(self) -> list[Rule]:
        """Return the violated rules that can be checked on the notification alone."""
        found: list[Rule] = []
        if self.first_departure > self.last_departure:
            found.append(
                Rule(
                    field=("last_departure",),
                    rule_id="V-A 6",
                    text=f"last departure {self.last_departure} is before first departure {self.first_departure}",
                )
            )
        elif self.shipment_mode is ShipmentMode.MULTIPLE:
            # Basel Art. 6(8): a general notification covers at most 12 months; OECD: 3 years for a
            # pre-consented recovery facility.
            years = 3 if self.preconsented_facility else 1
            if self.last_departure > _add_years(self.first_departure, years):
                found.append(
                    Rule(
                        field=("last_departure",),
                        rule_id="Art. 6(8)",
                        text=f"multiple shipments may span at most {years} year(s); "
                        f"{self.first_departure} to {self.last_departure} is longer",
                    )
                )
        if self.shipment_mode is ShipmentMode.INDIVIDUAL and self.intended_shipments != 1:
            found.append(
                Rule(
                    field=("intended_shipments",),
                    rule_id="V-A 4",
                    text=f"an individual shipment notification must intend 1 shipment, not {self.intended_shipments}",
                )
            )
        found += specify_violations(
            self.packaging_type,
            "9",
            self.other_packaging,
            code_field="packaging_type",
            text_field="other_packaging",
            block="V-A 7",
        )
        found += specify_violations(
            self.physical_characteristic,
            "7",
            self.other_physical_characteristic,
            code_field="physical_characteristic",
            text_field="other_physical_characteristic",
            block="V-A 13",
        )
        if self.special_handling and self.handling_requirements is None:
            found.append(
                Rule(
                    field=("handling_requirements",),
                    rule_id="V-A 7",
                    text="HandlingRequirements is required when SpecialHandling is true",
                )
            )
        if self.facility.kind is not self.operation_kind:
            found.append(
                Rule(
                    field=("facility", "kind"),
                    rule_id="V-A 10",
                    text=f"a {self.facility.kind.value} facility does not match a notification for "
                    f"{self.operation_kind.value}",
                )
            )
        letter = "D" if self.operation_kind is OperationKind.DISPOSAL else "R"
        for index, code in enumerate(self.operation):
            if not code.startswith(letter):
                found.append(
                    Rule(
                        field=("operation", index),
                        rule_id="V-A 11",
                        text=f"operation {code} is not a {self.operation_kind.value} operation ({letter}-code)",
                    )
                )
        found += route_violations(self.state_concerned, "state_concerned")
        ends = {state.role: state.country for state in self.state_concerned}
        for field, party, role in (
            ("exporter", self.exporter, Role.EXPORT),
            ("facility", self.facility, Role.IMPORT),
        ):
            if role in ends and party.address.country != ends[role]:
                found.append(
                    Rule(
                        field=(field, "address", "country"),
                        rule_id="V-A 15",
                        text=f"the {field} is in {party.address.country}, not in the State of "
                        f"{role.value} {ends[role]}",
                    )
                )
        found += code_validity(
            self.waste_identification,
            self.declaration.declared_on,
            ("waste_identification",),
            "the declaration",
        )
        return found


class Acknowledgement(XmlModel):
    """Acknowledgement of a notification by a competent authority of import or transit (V-A 19)."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    country: CountryCode
    """Country of the acknowledging authority (V-A 19)."""
    competent_authority: ParticipantId
    """The acknowledging competent authority (V-A 19)."""
    notification_received_on: Day
    """Notification received on (V-A 19)."""
    acknowledged_on: Day
    """Acknowledgement sent on (V-A 19)."""
    complete: bool
    """The notification is duly completed (Basel Art. 6(2); OECD: complete notification)."""
    remarks: LongText | None = None
    """Remarks, e.g. what is missing from an incomplete notification (V-A 19)."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if the acknowledgement predates the receipt it acknowledges."""
        if self.acknowledged_on < self.notification_received_on:
            return [
                Rule(
                    field=("acknowledged_on",),
                    rule_id="V-A 19",
                    text=f"acknowledged on {self.acknowledged_on}, before the notification was received "
                    f"on {self.notification_received_on}",
                )
            ]
        return []


class InformationRequest(XmlModel):
    """A request for further information on a notification (Basel Art. 6(2), 6(4))."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    request_id: Identifier
    """Identifier of this request, echoed by the response (Art. 6(2))."""
    requested_by: ParticipantId
    """The competent authority asking (Art. 6(2))."""
    question: Annotated[tuple[LongText, ...], Field(min_length=1)]
    """The questions (Art. 6(2))."""
    respond_by: Day | None = None
    """Date by which an answer is expected (Art. 6(2))."""


class InformationResponse(XmlModel):
    """The notifier's answer to an information request (Basel Art. 6(2))."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    request_id: Identifier
    """Identifier of the request answered (Art. 6(2))."""
    answer: Annotated[tuple[LongText, ...], Field(min_length=1)]
    """The answers (Art. 6(2))."""
    attachment: tuple[Attachment, ...] = ()
    """Supporting annexes (V-A 18)."""


class ConsentDecision(XmlModel):
    """Written consent, consent with conditions, or objection of a State of import or transit (V-A 20-21)."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    role: ConsentingRole
    """Whether the deciding State is of import or of transit (V-A 20)."""
    country: CountryCode
    """Country of the deciding authority (V-A 20)."""
    competent_authority: ParticipantId
    """The deciding competent authority (V-A 20)."""
    decision_id: Identifier
    """The authority's reference of this decision, the consent reference number (V-A 20); a ConsentWithdrawal
    names the decision it withdraws by it."""
    decision: Decision
    """Consent, consent with conditions, or objection (V-A 20-21; Art. 6(2), 6(4))."""
    decided_on: Day
    """Consent given on (V-A 20)."""
    valid_from: Day | None = None
    """First day of validity; required unless objection (V-A 20)."""
    valid_until: Day | None = None
    """Last day of validity; required unless objection (V-A 20; Art. 6(8))."""
    condition: tuple[LongText, ...] = ()
    """Specific conditions; required for consent with conditions (V-A 21)."""
    reason: tuple[LongText, ...] = ()
    """Reasons for objecting; required for an objection (V-A 21)."""
    max_shipments: PositiveCount | None = None
    """Number of shipments consented, if fewer than notified (V-A 20)."""
    max_quantity: NotifiedQuantity | None = None
    """Quantity consented, if less than notified (V-A 20)."""

    def rule_violations(self) -> list[Rule]:
        """Return the violated rules of a decision's own fields (V-A 20-21)."""
        found: list[Rule] = []
        objection = self.decision is Decision.OBJECTION
        if not objection:
            for field in ("valid_from", "valid_until"):
                if getattr(self, field) is None:
                    found.append(
                        Rule(
                            field=(field,),
                            rule_id="V-A 20",
                            text=f"a {self.decision.value} decision must state {field.replace('_', ' ')}",
                        )
                    )
        if self.valid_from is not None and self.valid_until is not None and self.valid_from > self.valid_until:
            found.append(
                Rule(
                    field=("valid_until",),
                    rule_id="V-A 20",
                    text=f"consent valid until {self.valid_until} ends before it starts on {self.valid_from}",
                )
            )
        if self.decision is Decision.CONSENT_WITH_CONDITIONS and not self.condition:
            found.append(
                Rule(
                    field=("condition",),
                    rule_id="V-A 21",
                    text="a consent with conditions must list its conditions",
                )
            )
        if self.decision is not Decision.CONSENT_WITH_CONDITIONS and self.condition:
            found.append(
                Rule(
                    field=("condition",),
                    rule_id="V-A 21",
                    text=f"a {self.decision.value} decision must not list conditions; use consent-with-conditions",
                )
            )
        if objection and not self.reason:
            found.append(Rule(field=("reason",), rule_id="V-A 21", text="an objection must give its reasons"))
        if objection and (self.max_shipments is not None or self.max_quantity is not None):
            found.append(
                Rule(
                    field=("max_shipments" if self.max_shipments is not None else "max_quantity",),
                    rule_id="V-A 20",
                    text="an objection consents to no shipments or quantity",
                )
            )
        if not self.competent_authority.startswith(self.country + ":"):
            found.append(
                Rule(
                    field=("competent_authority",),
                    rule_id="V-A 20",
                    text=f"competent authority {self.competent_authority} is not of {self.country}",
                )
            )
        return found


class ConsentWithdrawal(XmlModel):
    """Withdrawal of a consent already given by a State of import or transit.

    It names the decision it withdraws (its DecisionId) and the role of the withdrawing State: the withdrawal of
    the import State's consent and that of a transit State's are told apart (both stop new shipments).
    """

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    role: ConsentingRole
    """Whether the withdrawing State is of import or of transit, as in the decision withdrawn."""
    country: CountryCode
    """Country of the withdrawing authority."""
    competent_authority: ParticipantId
    """The withdrawing competent authority."""
    decision_id: Identifier
    """The DecisionId of the consent withdrawn (a ConsentDecision of the same authority)."""
    withdrawn_on: Day
    """Date of the withdrawal decision."""
    effective_from: Day
    """First day on which no shipment may start under the consent."""
    reason: Annotated[tuple[LongText, ...], Field(min_length=1)]
    """Reasons for the withdrawal."""

    def rule_violations(self) -> list[Rule]:
        """Return a violation if the withdrawal takes effect before it was decided."""
        if self.effective_from < self.withdrawn_on:
            return [
                Rule(
                    field=("effective_from",),
                    rule_id="withdrawal",
                    text=f"effective from {self.effective_from}, before it was withdrawn on {self.withdrawn_on}",
                )
            ]
        return []


class MovementAnnouncement(XmlModel):
    """Prior notice of one shipment under a consented notification (V-B 1-16; UN/CEFACT e-Basel).

    Every block is planned data, as the notifier expects the shipment on the day it announces it, not actual
    data: the actual quantity, date, carriers and packages travel in the ExportData (V-B 5-8) and the receipt.
    """

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Corresponding notification number (V-B 1)."""
    shipment_serial: PositiveCount
    """Serial number of this shipment (V-B 2)."""
    total_shipments: PositiveCount
    """Total number of shipments (V-B 2)."""
    planned_departure: Day
    """Planned date of shipment; planned, not actual (V-B 6)."""
    expected_arrival: Day | None = None
    """Expected arrival at the facility, planned; the overdue-receipt rule counts from it (V-B 6: the form has the
    date of shipment, not of arrival)."""
    planned_quantity: FormQuantity
    """Planned quantity of this shipment, tonnes (Mg) and/or m³; planned, not actual (V-B 5)."""
    packaging_type: Annotated[tuple[PackagingCode, ...], Field(min_length=1)]
    """Planned packaging types (V-B 7)."""
    other_packaging: TextLine | None = None
    """What the packaging is; required exactly when packaging type 9, other (specify), is given (V-B 7)."""
    package_count: PositiveCount
    """Planned number of packages (V-B 7)."""
    carrier: tuple[Carrier, ...] = ()
    """Planned carriers in order, if known (V-B 8)."""
    operation: Annotated[tuple[OperationCode, ...], Field(min_length=1)]
    """Disposal or recovery operations (V-B 11)."""
    waste_identification: WasteIdentification
    """Waste identification codes of the waste planned to be shipped (V-B 14)."""
    remarks: LongText | None = None
    """Additional information for persons involved in the movement (V-B 16)."""

    def rule_violations(self) -> list[Rule]:
        """Return the violated rules of the announcement's own fields (V-B 2, V-B 14)."""
        found: list[Rule] = []
        if self.shipment_serial > self.total_shipments:
            found.append(
                Rule(
                    field=("shipment_serial",),
                    rule_id="V-B 2",
                    text=f"shipment {self.shipment_serial} of {self.total_shipments} is beyond the total",
                )
            )
        if self.expected_arrival is not None and self.expected_arrival < self.planned_departure:
            found.append(
                Rule(
                    field=("expected_arrival",),
                    rule_id="V-B 6",
                    text=f"expected arrival {self.expected_arrival} is before the planned departure "
                    f"{self.planned_departure}",
                )
            )
        found += specify_violations(
            self.packaging_type,
            "9",
            self.other_packaging,
            code_field="packaging_type",
            text_field="other_packaging",
            block="V-B 7",
        )
        found += code_validity(
            self.waste_identification,
            self.planned_departure,
            ("waste_identification",),
            "the planned departure",
        )
        return found


class NotificationCancellation(XmlModel):
    """The notifier's authority cancels a whole notification; no further shipment may start under it."""

    xml_root: ClassVar[bool] = True

    notification_number: NotificationNumber
    """Notification number (V-A 3)."""
    cancelled_on: Day
    """Date of the cancellation."""
    reason: Annotated[tuple[LongText, ...], Field(min_length=1)]
    """Reasons for the cancellation."""
