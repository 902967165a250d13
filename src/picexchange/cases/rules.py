"""The Basel rules a PIC case is checked against: rule ids, severities, findings and the case policy.

Rule ids are ``<scope>.<subject>.<problem>``: the scope is ``case`` (the case as a whole, who sent what),
``pic`` (the PIC procedure: notification, decisions) or ``export`` (one shipment's export data, receipt and
certificate). An id never changes meaning once published; a new check gets a new id. :data:`RULES` lists them
all with their severity; ``docs/cases.md`` repeats the list and a test holds the two together.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from picexchange.models.envelope import ErrorCode, MessageType

__all__ = [
    "ALLOWED_SENDERS",
    "RULES",
    "CaseFinding",
    "CasePolicy",
    "RuleSpec",
    "SenderRole",
    "Severity",
]


class Severity(enum.StrEnum):
    """How much a finding weighs."""

    VIOLATION = "violation"
    """Blocks a shipment: import Customs holds it, an outbound document is refused."""
    WARNING = "warning"
    """Informs: the case goes on, an officer should look."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """One rule of the catalogue.

    Attributes:
        rule_id: the stable id.
        severity: violation or warning.
        basel: where the rule comes from (``Art. 6(4)``, ``V-B 2``, ...).
        text: what the rule requires, in words.

    """

    rule_id: str
    severity: Severity
    basel: str
    text: str


_V = Severity.VIOLATION
_W = Severity.WARNING

#: Every rule, by id.
RULES: Mapping[str, RuleSpec] = MappingProxyType(
    {
        spec.rule_id: spec
        for spec in (
            RuleSpec(
                rule_id="case.sender.role",
                severity=_V,
                basel="UB process",
                text="each message type comes only from the roles its Utility Block allows",
            ),
            RuleSpec(
                rule_id="case.notification.missing",
                severity=_V,
                basel="Art. 6(1)",
                text="a message of a case comes after the case's Notification (kept pending until then)",
            ),
            RuleSpec(
                rule_id="case.notification.repeated",
                severity=_W,
                basel="V-A 3",
                text="one notification number has one Notification",
            ),
            RuleSpec(
                rule_id="case.state.unknown",
                severity=_V,
                basel="V-A 15",
                text="an acknowledgement, request or decision comes from a State concerned by the notification",
            ),
            RuleSpec(rule_id="case.sequence", severity=_W, basel="—", text="a message fits the state its track is in"),
            RuleSpec(
                rule_id="pic.consent.missing",
                severity=_V,
                basel="Art. 6(3)(a), 6(4)",
                text="no movement before the State of import has consented in writing",
            ),
            RuleSpec(
                rule_id="pic.consent.objected",
                severity=_V,
                basel="Art. 6(2), 6(4)",
                text="no movement after a State concerned objected",
            ),
            RuleSpec(
                rule_id="pic.consent.withdrawn",
                severity=_V,
                basel="V-A 20",
                text="no movement from the effective date of a consent's withdrawal",
            ),
            RuleSpec(
                rule_id="pic.transit.missing",
                severity=_V,
                basel="Art. 6(4)",
                text="no movement before every State of transit has consented or is deemed to have consented",
            ),
            RuleSpec(
                rule_id="pic.transit.deemed",
                severity=_W,
                basel="Art. 6(4)",
                text="a transit Party that waived written consent is deemed to consent after the period",
            ),
            RuleSpec(
                rule_id="pic.notification.cancelled",
                severity=_V,
                basel="—",
                text="no movement from the day the notification was cancelled",
            ),
            RuleSpec(
                rule_id="pic.consent.validity-too-long",
                severity=_W,
                basel="Art. 6(8)",
                text="a consent is valid at most 12 months (the policy may allow 1 or 3 years)",
            ),
            RuleSpec(
                rule_id="pic.notification.multiple-single",
                severity=_W,
                basel="V-A 3A, 4",
                text="a notification of multiple shipments intends more than one shipment",
            ),
            RuleSpec(
                rule_id="pic.notification.a-code-without-h-code",
                severity=_W,
                basel="Annex VIII, Annex III",
                text="an Annex VIII (A) waste names its Annex III hazardous characteristics (H-codes)",
            ),
            RuleSpec(
                rule_id="pic.notification.annex-ix-only",
                severity=_W,
                basel="Art. 1(1), Annex IX",
                text="Annex IX (B) wastes alone are not under PIC unless a national definition says so",
            ),
            RuleSpec(
                rule_id="pic.information.unrequested",
                severity=_W,
                basel="Art. 6(2)",
                text="an InformationResponse answers a request that was made (kept pending until then)",
            ),
            RuleSpec(
                rule_id="pic.withdrawal.without-consent",
                severity=_W,
                basel="V-A 20",
                text="a ConsentWithdrawal withdraws a consent that was given (kept pending until then)",
            ),
            RuleSpec(
                rule_id="pic.withdrawal.mismatch",
                severity=_W,
                basel="V-A 20",
                text="a ConsentWithdrawal names its State's role on the route and a consent that State gave",
            ),
            RuleSpec(
                rule_id="export.case.unknown", severity=_V, basel="V-B 1", text="export data references a notified case"
            ),
            RuleSpec(
                rule_id="export.departure.window",
                severity=_V,
                basel="V-A 6, V-B 6",
                text="the shipment date falls within the notification's first and last departure",
            ),
            RuleSpec(
                rule_id="export.consent.validity",
                severity=_V,
                basel="V-A 20, Art. 6(8)",
                text="the shipment date falls within every written consent's validity",
            ),
            RuleSpec(
                rule_id="export.serial.beyond-notified",
                severity=_V,
                basel="V-A 4, V-B 2",
                text="the shipment serial is within the notified number of shipments",
            ),
            RuleSpec(
                rule_id="export.serial.beyond-consent",
                severity=_V,
                basel="V-A 20",
                text="the shipment serial is within the number of shipments every consent allows",
            ),
            RuleSpec(
                rule_id="export.serial.repeated",
                severity=_V,
                basel="V-B 2",
                text="a shipment serial is used by one export declaration only",
            ),
            RuleSpec(
                rule_id="export.total-shipments.mismatch",
                severity=_W,
                basel="V-B 2, V-A 4",
                text="the total number of shipments is the notified one",
            ),
            RuleSpec(
                rule_id="export.quantity.unit",
                severity=_V,
                basel="V-A 5, V-B 5",
                text="the actual quantity is in the notified unit",
            ),
            RuleSpec(
                rule_id="export.quantity.exceeded",
                severity=_V,
                basel="V-A 5, V-B 5",
                text="the running quantity stays within the notified total",
            ),
            RuleSpec(
                rule_id="export.quantity.beyond-consent",
                severity=_V,
                basel="V-A 20",
                text="the running quantity stays within every consent's maximum",
            ),
            RuleSpec(
                rule_id="export.waste-code.mismatch",
                severity=_V,
                basel="V-A 14, V-B 14",
                text="each goods item's Basel, OECD and Y codes are the notified ones",
            ),
            RuleSpec(
                rule_id="export.hs-code.mismatch",
                severity=_V,
                basel="V-A 14(xii)",
                text="each goods item's HS code (6 digits) is a notified one",
            ),
            RuleSpec(
                rule_id="export.exporter.mismatch",
                severity=_V,
                basel="V-A 1, V-B 3",
                text="the exporter is the notifier",
            ),
            RuleSpec(
                rule_id="export.consignee.mismatch",
                severity=_V,
                basel="V-A 2, V-B 4",
                text="the consignee is the notified importer",
            ),
            RuleSpec(
                rule_id="export.facility.mismatch",
                severity=_V,
                basel="V-A 10, V-B 10",
                text="the facility is the notified facility",
            ),
            RuleSpec(
                rule_id="export.operation.mismatch",
                severity=_V,
                basel="V-A 11, V-B 11",
                text="every operation is a notified one",
            ),
            RuleSpec(
                rule_id="export.route.mismatch",
                severity=_V,
                basel="V-A 15",
                text="the States concerned, in order, are the notified ones",
            ),
            RuleSpec(
                rule_id="export.customs-office.mismatch",
                severity=_V,
                basel="V-A 16, V-B 20",
                text="the offices of export, exit and entry are the notified ones (Art. 6(6))",
            ),
            RuleSpec(
                rule_id="export.transit-point.mismatch",
                severity=_W,
                basel="V-A 15(c)",
                text="each transit State's offices of entry and exit are its notified points of entry and exit "
                "(the form may name a place rather than an office, so a difference informs)",
            ),
            RuleSpec(
                rule_id="export.clearance.not-exported",
                severity=_W,
                basel="—",
                text="a ClearanceResult answers export data that was received (kept pending until then)",
            ),
            RuleSpec(
                rule_id="export.receipt.not-exported",
                severity=_V,
                basel="V-B 17-18",
                text="a ShipmentReceipt is for a shipment that was exported (kept pending until then)",
            ),
            RuleSpec(
                rule_id="export.receipt.declaration-mismatch",
                severity=_V,
                basel="V-B 18",
                text="a ShipmentReceipt that names an export declaration names the shipment's own",
            ),
            RuleSpec(
                rule_id="export.disposal.not-received",
                severity=_V,
                basel="V-B 19",
                text="a DisposalCertificate is for a shipment that was received (kept pending until then)",
            ),
            RuleSpec(
                rule_id="export.receipt.overdue",
                severity=_W,
                basel="Art. 6(9), V-B 18",
                text="the facility confirms receipt by the expected arrival (declared, announced, or the shipment "
                "date plus the policy's transit days) plus the receipt period",
            ),
            RuleSpec(
                rule_id="export.disposal.overdue",
                severity=_W,
                basel="Art. 6(9), V-B 19",
                text="disposal or recovery is certified at the latest one year after receipt",
            ),
        )
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseFinding:
    """One rule a case or a message breaks, or a fact an officer should know.

    Attributes:
        rule_id: the stable rule id, a key of :data:`RULES`.
        severity: violation (blocks a shipment) or warning.
        field: element path of the field concerned (``/ExportData/GoodsItem[1]/HsCode``).
        expected: what the notification, a consent or the policy says.
        found: what the message or the case shows.
        text: the finding in words.
        message_id: the message the finding is about, where it is about one.
        error_code: the ``Error`` code a refusal carries: ``sender-not-allowed`` for a sender whose role may not
            send the message (the gateway's :class:`~picexchange.errors.SenderNotAllowed`), ``business-rule``
            otherwise.

    """

    rule_id: str
    severity: Severity
    field: str
    expected: str
    found: str
    text: str
    message_id: str | None = None
    error_code: ErrorCode = ErrorCode.BUSINESS_RULE

    @property
    def blocks(self) -> bool:
        """Return whether the finding blocks a shipment."""
        return self.severity is Severity.VIOLATION


def finding(
    rule_id: str, *, field: str, expected: object, found: object, text: str, message_id: str | None = None
) -> CaseFinding:
    """Return a finding of ``rule_id`` with the catalogue's severity."""
    spec = RULES[rule_id]
    code = ErrorCode.SENDER_NOT_ALLOWED if rule_id == "case.sender.role" else ErrorCode.BUSINESS_RULE
    return CaseFinding(
        rule_id=rule_id,
        severity=spec.severity,
        field=field,
        expected=str(expected),
        found=str(found),
        text=text,
        message_id=message_id,
        error_code=code,
    )


class SenderRole(enum.StrEnum):
    """The role a sender plays in a case, as ``utility_blocks/*.json`` names the roles."""

    CA_EXPORT = "ca-export"
    """Competent authority of the State of export."""
    CA_IMPORT = "ca-import"
    """Competent authority of the State of import."""
    CA_TRANSIT = "ca-transit"
    """Competent authority of a State of transit."""
    CUSTOMS_EXPORT = "customs-export"
    """Customs of the State of export."""
    CUSTOMS_IMPORT = "customs-import"
    """Customs of the State of import."""


_CA_IMPORT_OR_TRANSIT = frozenset({SenderRole.CA_IMPORT, SenderRole.CA_TRANSIT})

#: Who may send each business document: the ``from`` roles of ``utility_blocks/*.json`` (a test holds them equal).
ALLOWED_SENDERS: Mapping[MessageType, frozenset[SenderRole]] = MappingProxyType(
    {
        MessageType.NOTIFICATION: frozenset({SenderRole.CA_EXPORT}),
        MessageType.ACKNOWLEDGEMENT: _CA_IMPORT_OR_TRANSIT,
        MessageType.INFORMATION_REQUEST: _CA_IMPORT_OR_TRANSIT,
        MessageType.INFORMATION_RESPONSE: frozenset({SenderRole.CA_EXPORT}),
        MessageType.CONSENT_DECISION: _CA_IMPORT_OR_TRANSIT,
        MessageType.CONSENT_WITHDRAWAL: _CA_IMPORT_OR_TRANSIT,
        MessageType.MOVEMENT_ANNOUNCEMENT: frozenset({SenderRole.CA_EXPORT}),
        MessageType.NOTIFICATION_CANCELLATION: frozenset({SenderRole.CA_EXPORT}),
        MessageType.EXPORT_DATA: frozenset({SenderRole.CUSTOMS_EXPORT}),
        MessageType.CLEARANCE_RESULT: frozenset({SenderRole.CUSTOMS_IMPORT}),
        MessageType.SHIPMENT_RECEIPT: frozenset({SenderRole.CA_IMPORT}),
        MessageType.DISPOSAL_CERTIFICATE: frozenset({SenderRole.CA_IMPORT}),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CasePolicy:
    """The deadlines and allowances one participant applies to its cases (from its registry).

    Defaults are the Basel Convention's; under the OECD Decision a transit Party's period is 30 days and a
    pre-consented recovery facility's consent may last 36 months.
    """

    waived_written_consent: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Competent authorities (participant ids) of transit Parties that waived written consent, each with the days
    after its complete acknowledgement after which it is deemed to consent (Art. 6(4): 60; OECD: 30)."""
    max_consent_months: int = 12
    """Longest validity of a consent, in months (Art. 6(8): 12 months for a general notification)."""
    max_preconsented_consent_months: int = 12
    """Longest validity for a pre-consented recovery facility (OECD: 36)."""
    expected_transit_days: int = 60
    """Days from the shipment date to the expected arrival, where neither the ExportData nor the
    MovementAnnouncement gives an expected arrival date."""
    receipt_days: int = 3
    """Days after arrival within which the facility confirms receipt (V-B 18)."""
    disposal_days: int = 365
    """Days after receipt by which disposal or recovery is certified at the latest (Art. 6(9); V-B 19)."""

    def __post_init__(self) -> None:
        # A frozen policy keeps its own read-only copy: the registry's dict may change after it was built.
        object.__setattr__(self, "waived_written_consent", MappingProxyType(dict(self.waived_written_consent)))
