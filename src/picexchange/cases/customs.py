"""The clearance decision on one ExportData: released or held, with the findings that say why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from picexchange.cases.events import CaseEvent
from picexchange.cases.fold import CaseFold, finding_order
from picexchange.cases.rules import CaseFinding
from picexchange.models.export import ClearanceResult, ClearanceStatus, ExportData
from picexchange.models.export import Finding as ResultFinding

__all__ = ["ClearanceDecision", "clearance"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearanceDecision:
    """What import Customs answers to one ExportData: released or held, and why.

    Attributes:
        status: released when no finding blocks, held otherwise.
        findings: every finding, violations first.
        notification_number: the case.
        shipment_serial: the shipment.
        declaration_id: the export declaration answered.
        decided_on: when the decision was taken (``now``).

    """

    status: ClearanceStatus
    findings: tuple[CaseFinding, ...]
    notification_number: str
    shipment_serial: int
    declaration_id: str
    decided_on: dt.datetime

    def result(self, *, customs_office: str, remarks: str | None = None) -> ClearanceResult:
        """Return the ClearanceResult document to sign and send (findings carry rule id, field, expected, found)."""
        return ClearanceResult(
            notification_number=self.notification_number,
            shipment_serial=self.shipment_serial,
            declaration_id=self.declaration_id,
            status=self.status,
            decided_on=self.decided_on,
            customs_office=customs_office,
            finding=tuple(
                ResultFinding(
                    rule_id=item.rule_id,
                    field=item.field[:512],
                    expected=item.expected[:512] or None,
                    found=item.found[:512] or None,
                    text=f"[{item.severity.value}] {item.text}"[:512],
                )
                for item in self.findings
            ),
            remarks=remarks,
        )


def clearance(fold: CaseFold, event: CaseEvent, *, now: dt.datetime) -> ClearanceDecision:
    """Return the clearance decision for one ExportData against its case, before the ExportData is applied.

    Args:
        fold: the case as it stands (its running totals make this independent of the case's history).
        event: the ExportData's event.
        now: when the decision is taken.

    Raises:
        TypeError: the event is not an ExportData.

    """
    export = event.document
    if not isinstance(export, ExportData):
        raise TypeError(f"{event.message_type.value} is not ExportData")
    findings = sorted(fold.export_findings(event), key=finding_order)
    blocked = any(item.blocks for item in findings)
    return ClearanceDecision(
        status=ClearanceStatus.HELD if blocked else ClearanceStatus.RELEASED,
        findings=tuple(findings),
        notification_number=export.notification_number,
        shipment_serial=export.shipment_serial,
        declaration_id=export.export_declaration.declaration_id,
        decided_on=now,
    )
