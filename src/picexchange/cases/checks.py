"""Checks that need no fold: who may send what, the notification's consistency, export data against it.

Also what a State's standing (as the fold reads it on a date) means for a new shipment.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from picexchange.cases.events import Agency, CaseEvent, country_of
from picexchange.cases.rules import ALLOWED_SENDERS, CaseFinding, CasePolicy, SenderRole, finding
from picexchange.cases.state import AcknowledgementState, DecisionState
from picexchange.models.common import CustomsOffices, Party, Role
from picexchange.models.export import CustomsPassage, ExportData
from picexchange.models.pic import Notification

__all__ = [
    "StateStanding",
    "add_months",
    "check_sender",
    "match_findings",
    "notification_findings",
    "sender_role",
    "standing_findings",
]


def add_months(day: dt.date, months: int) -> dt.date:
    """Return ``day`` plus ``months`` calendar months (the last day of a shorter month)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True, kw_only=True)
class StateStanding:
    """Where one State concerned stands in the procedure, as of the case's date.

    Attributes:
        role: export, transit or import.
        country: the State.
        competent_authority: its competent authority.
        acknowledgement: awaited, incomplete or complete (V-A 19).
        acknowledged_on: the date of the latest acknowledgement.
        information_requested: requests for information still open (their ids).
        information_answered: requests answered (their ids).
        decision: the decision in force (written, deemed, objected, withdrawn).
        decided_on: the date of that decision (or the day consent is deemed).
        valid_from: first day of the consent's validity.
        valid_until: last day of the consent's validity.
        conditions: the consent's specific conditions (V-A 21).
        max_shipments: shipments consented, if fewer than notified.
        max_quantity: quantity consented, if less than notified (``"20 TNE"``).
        withdrawn_from: the effective date of a withdrawal.

    """

    role: Role
    country: str
    competent_authority: str
    acknowledgement: AcknowledgementState
    acknowledged_on: dt.date | None
    information_requested: tuple[str, ...]
    information_answered: tuple[str, ...]
    decision: DecisionState
    decided_on: dt.date | None
    valid_from: dt.date | None
    valid_until: dt.date | None
    conditions: tuple[str, ...]
    max_shipments: int | None
    max_quantity: str | None
    withdrawn_from: dt.date | None


def standing_findings(standing: StateStanding, index: int, policy: CasePolicy) -> list[CaseFinding]:
    """Return what stops a new shipment today because of one State's decision."""
    if standing.role is Role.EXPORT:
        return []
    who = f"{standing.country} ({standing.role.value})"
    path = f"/Notification/StateConcerned[{index}]"
    match standing.decision:
        case DecisionState.UNDECIDED:
            period = policy.waived_written_consent.get(standing.competent_authority)
            rule = "pic.consent.missing" if standing.role is Role.IMPORT else "pic.transit.missing"
            expected = (
                "written consent"
                if period is None
                else f"consent, or {period} days after a complete acknowledgement without objection"
            )
            return [
                finding(
                    rule,
                    field=path,
                    expected=expected,
                    found="no decision",
                    text=f"{who} has not consented; no movement may start (Art. 6(4))",
                )
            ]
        case DecisionState.OBJECTED:
            return [
                finding(
                    "pic.consent.objected",
                    field=path,
                    expected="consent",
                    found=f"objection of {standing.decided_on}",
                    text=f"{who} objected",
                )
            ]
        case DecisionState.WITHDRAWN:
            return [
                finding(
                    "pic.consent.withdrawn",
                    field=path,
                    expected="consent in force",
                    found=f"withdrawn from {standing.withdrawn_from}",
                    text=f"{who} withdrew its consent from {standing.withdrawn_from}",
                )
            ]
        case DecisionState.DEEMED_CONSENTED:
            return [
                finding(
                    "pic.transit.deemed",
                    field=path,
                    expected="written consent",
                    found=f"deemed consent from {standing.decided_on}",
                    text=f"{who} is deemed to consent from {standing.decided_on} (Art. 6(4))",
                )
            ]
        case _:
            return []


def notification_findings(notification: Notification) -> list[CaseFinding]:
    """Return the notification's consistency warnings."""
    found = []
    codes = notification.waste_identification
    if notification.shipment_mode.value == "multiple" and notification.intended_shipments == 1:
        found.append(
            finding(
                "pic.notification.multiple-single",
                field="/Notification/IntendedShipments",
                expected="more than 1 for multiple shipments",
                found=1,
                text="a notification of multiple shipments intends a single shipment",
            )
        )
    basel = codes.basel_code or ""
    if basel.startswith("A") and not codes.h_code:
        found.append(
            finding(
                "pic.notification.a-code-without-h-code",
                field="/Notification/WasteIdentification/HCode",
                expected=f"the Annex III characteristics of {basel}",
                found="none",
                text=f"{basel} is an Annex VIII hazardous waste but no H-code is given",
            )
        )
    if basel.startswith("B") and not codes.y_code:
        found.append(
            finding(
                "pic.notification.annex-ix-only",
                field="/Notification/WasteIdentification/BaselCode",
                expected="an Annex VIII entry or a Y-code (Annex I/II)",
                found=basel,
                text=f"{basel} alone (Annex IX) is not under PIC unless a national definition of a "
                "State concerned makes it so",
            )
        )
    return found


def _party_difference(mine: Party, notified: Party) -> tuple[str, str, str] | None:
    """Return ``(field, expected, found)`` where a party differs from the notified one, None if it is the same.

    A registration number identifies a party where both documents give one (names vary in spelling); otherwise
    the name (case and spacing aside) and the country do.
    """
    if mine.registration_number and notified.registration_number:
        if mine.registration_number != notified.registration_number:
            return "RegistrationNumber", notified.registration_number, mine.registration_number
    elif " ".join(mine.name.casefold().split()) != " ".join(notified.name.casefold().split()):
        return "Name", notified.name, mine.name
    if mine.address.country != notified.address.country:
        return "Address/Country", notified.address.country, mine.address.country
    return None


def match_findings(notification: Notification, export: ExportData, mid: str) -> list[CaseFinding]:
    """Return where the export data differs from what was notified (V-A 1-2, 10-11, 14-16)."""
    found = []

    def add(rule: str, path: str, expected: object, actual: object, text: str) -> None:
        found.append(
            finding(rule, field=f"/ExportData/{path}", expected=expected, found=actual, text=text, message_id=mid)
        )

    for rule, path, mine, theirs in (
        ("export.exporter.mismatch", "Exporter", export.exporter, notification.exporter),
        ("export.consignee.mismatch", "Consignee", export.consignee, notification.importer),
        ("export.facility.mismatch", "Facility", export.facility, notification.facility),
    ):
        difference = _party_difference(mine, theirs)
        if difference is not None:
            where, notified_value, value_found = difference
            add(rule, f"{path}/{where}", notified_value, value_found, f"the {path.lower()} is not the notified one")
    notified = notification.waste_identification
    hs6 = {code[:6] for code in notified.hs_code}
    for index, item in enumerate(export.goods_item, start=1):
        codes = item.waste_identification
        for name, value, notified_code in (
            ("BaselCode", codes.basel_code, notified.basel_code),
            ("OecdCode", codes.oecd_code, notified.oecd_code),
        ):
            if value is not None and value != notified_code:
                add(
                    "export.waste-code.mismatch",
                    f"GoodsItem[{index}]/WasteIdentification/{name}",
                    notified_code or "none",
                    value,
                    f"goods item {index} is {value}, not the notified waste",
                )
        extra = sorted(set(codes.y_code) - set(notified.y_code))
        if extra:
            add(
                "export.waste-code.mismatch",
                f"GoodsItem[{index}]/WasteIdentification/YCode",
                " ".join(notified.y_code) or "none",
                " ".join(extra),
                f"goods item {index} has Y-codes not notified",
            )
        if item.hs_code[:6] not in hs6:
            add(
                "export.hs-code.mismatch",
                f"GoodsItem[{index}]/HsCode",
                " ".join(sorted(hs6)),
                item.hs_code,
                f"goods item {index} is declared under HS {item.hs_code}, not a notified heading",
            )
    allowed = set(notification.operation)
    for index, code in enumerate(export.operation, start=1):
        if code not in allowed:
            add(
                "export.operation.mismatch",
                f"Operation[{index}]",
                " ".join(notification.operation),
                code,
                f"operation {code} was not notified",
            )
    route = [(s.role.value, s.country) for s in notification.state_concerned]
    shipped_route = [(s.role.value, s.country) for s in export.state_concerned]
    if route != shipped_route:
        add(
            "export.route.mismatch",
            "StateConcerned",
            _route(route),
            _route(shipped_route),
            "the route differs from the notified States concerned",
        )
    _office_findings(notification, export, add)
    return found


def _office_findings(
    notification: Notification, export: ExportData, add: Callable[[str, str, object, object, str], None]
) -> None:
    """Report offices of export, exit, entry and transit that are not the notified ones (V-A 15(c), 16; Art. 6(6)).

    An office is checked where both the notification and the export data give it: the offices of export, exit and
    entry against V-A 16, a State of transit's offices of entry and exit against its points of entry and exit
    (V-A 15(c)). A general notification covers only shipments through the same offices (Art. 6(6)).
    """
    offices = notification.customs_offices or CustomsOffices()
    passage = export.customs_passage or CustomsPassage()
    office = "export.customs-office.mismatch"
    pairs: list[tuple[str, str, str | None, str | None, str]] = [
        (
            office,
            "ExportDeclaration/ExportOffice",
            offices.export_office,
            export.export_declaration.export_office,
            "export",
        ),
        (office, "CustomsPassage/ExitOffice", offices.exit_office, passage.exit_office, "exit"),
        (office, "CustomsPassage/EntryOffice", offices.entry_office, passage.entry_office, "entry"),
    ]
    transits = {state.country: state for state in notification.state_concerned if state.role is Role.TRANSIT}
    for index, crossing in enumerate(passage.transit, start=1):
        state = transits.get(crossing.country)
        if state is not None:
            where = f"CustomsPassage/Transit[{index}]"
            # A point of entry or exit (V-A 15(c)) may be notified as a place (a port, a border crossing)
            # rather than an office code: a difference informs, it does not hold the shipment.
            point = "export.transit-point.mismatch"
            entry = (f"{where}/EntryOffice", state.entry_point, crossing.entry_office, f"entry into {state.country}")
            exit_ = (f"{where}/ExitOffice", state.exit_point, crossing.exit_office, f"exit from {state.country}")
            pairs += [(point, *entry), (point, *exit_)]
    for rule, path, notified, declared, what in pairs:
        if notified and declared and notified != declared:
            add(
                rule,
                path,
                notified,
                declared,
                f"the office of {what} is not the notified one",
            )


def _route(states: list[tuple[str, str]]) -> str:
    return " > ".join(f"{country} ({role})" for role, country in states)


# ------------------------------------------------------------------------------------------- who sends what


def sender_role(event: CaseEvent, notification: Notification) -> SenderRole | None:
    """Return the role the sender plays in the case, or None if it plays none.

    A competent authority plays the role of the State it is listed for on the notified route (V-A 15); Customs
    plays that of its country's State of export or import (Customs of a transit State sends nothing).
    """
    for state in notification.state_concerned:
        if event.sender_agency is Agency.COMPETENT_AUTHORITY and event.sender == state.competent_authority:
            return SenderRole(f"ca-{state.role.value}")
        if (
            event.sender_agency is Agency.CUSTOMS
            and country_of(event.sender) == state.country
            and state.role is not Role.TRANSIT
        ):
            return SenderRole(f"customs-{state.role.value}")
    return None


def check_sender(event: CaseEvent, notification: Notification) -> CaseFinding | None:
    """Return a ``case.sender.role`` finding (Error code ``sender-not-allowed``) if the sender may not send it.

    The gateway calls it before it accepts an inbound message or queues an outbound one; for a Notification,
    pass the Notification itself.
    """
    role = sender_role(event, notification)
    allowed = ALLOWED_SENDERS[event.message_type]
    if role in allowed:
        return None
    return finding(
        "case.sender.role",
        field=f"/{event.message_type.value}",
        expected=" or ".join(sorted(allowed)),
        found=f"{event.sender} ({role.value if role else f'no role, {event.sender_agency.value}'})",
        text=f"{event.message_type.value} may be sent only by {' or '.join(sorted(allowed))}; {event.sender} is "
        f"{role.value if role else 'not a party to the case in that capacity'}",
        message_id=event.message_id,
    )
