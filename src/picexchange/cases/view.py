"""The JSON form of a case and of a finding: what the back office, the CLI and a Single Window's screens show.

Pure like the rest of :mod:`picexchange.cases`: a :class:`~picexchange.cases.fold.Case` in, a ``dict`` of JSON
values out (strings, numbers, booleans, None, lists and dicts; dates as ISO 8601 text, quantities as decimal
text so that no digit is lost). The keys are stable: a key is never renamed or given another meaning, a new
fact gets a new key. ``docs/cases.md`` ("The case view") lists every key.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from picexchange.cases.checks import StateStanding
from picexchange.cases.fold import Case, Pending, Shipment
from picexchange.cases.rules import CaseFinding
from picexchange.cases.state import DecisionState
from picexchange.models.common import Party
from picexchange.models.pic import Notification

__all__ = ["OVERDUE_RULES", "case_view", "finding_view"]

#: The rules whose findings are overdue items: a receipt or a disposal certificate not sent in time.
OVERDUE_RULES = frozenset({"export.receipt.overdue", "export.disposal.overdue"})


def _date(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _decimal(value: Decimal | None) -> str | None:
    """Return a decimal as plain text (``"120.24"``, never ``"1.2024E+2"``)."""
    return None if value is None else format(value, "f")


def _amounts(text: str | None) -> dict[str, str] | None:
    """Return ``{unit: value}`` of a quantity the fold wrote as ``"19.84 TNE"`` (or ``"19.84 TNE / 40 MTQ"``).

    A map by unit, like ``quantity_used``: the Basel forms let a quantity be given in tonnes, m³ or both.
    """
    if text is None:
        return None
    amounts = {}
    for part in text.split(" / "):
        value, _, unit = part.rpartition(" ")
        amounts[unit] = value
    return amounts


def finding_view(item: CaseFinding) -> dict[str, Any]:
    """Return the JSON form of one finding.

    Keys: ``rule_id``, ``severity`` (violation or warning), ``blocks`` (whether it stops a shipment),
    ``field`` (element path), ``expected``, ``found``, ``text``, ``message_id`` (None when the finding is about
    the case, not one message) and ``error_code`` (the Error code a refusal carries: ``sender-not-allowed``
    or ``business-rule``).
    """
    return {
        "rule_id": item.rule_id,
        "severity": item.severity.value,
        "blocks": item.blocks,
        "field": item.field,
        "expected": item.expected,
        "found": item.found,
        "text": item.text,
        "message_id": item.message_id,
        "error_code": item.error_code.value,
    }


def _state_view(standing: StateStanding) -> dict[str, Any]:
    return {
        "role": standing.role.value,
        "country": standing.country,
        "competent_authority": standing.competent_authority,
        "acknowledgement": standing.acknowledgement.value,
        "acknowledged_on": _date(standing.acknowledged_on),
        "information_requested": list(standing.information_requested),
        "information_answered": list(standing.information_answered),
        "decision": standing.decision.value,
        "decided_on": _date(standing.decided_on),
        "deemed_consent": standing.decision is DecisionState.DEEMED_CONSENTED,
        "valid_from": _date(standing.valid_from),
        "valid_until": _date(standing.valid_until),
        "conditions": list(standing.conditions),
        "max_shipments": standing.max_shipments,
        "max_quantity": _amounts(standing.max_quantity),
        "withdrawn_from": _date(standing.withdrawn_from),
    }


def _shipment_view(shipment: Shipment) -> dict[str, Any]:
    return {
        "serial": shipment.serial,
        "state": shipment.state.value,
        "declaration_id": shipment.declaration_id,
        "shipped_on": _date(shipment.shipped_on),
        "expected_arrival": _date(shipment.expected_arrival),
        "quantity": _amounts(shipment.quantity),
        "received_on": _date(shipment.received_on),
        "completed_on": _date(shipment.completed_on),
        "message_ids": list(shipment.message_ids),
    }


def _pending_view(item: Pending) -> dict[str, Any]:
    return {"message_id": item.message_id, "message_type": item.message_type.value, "waiting_for": item.waiting_for}


def _unit_left(notification: Notification | None) -> str | None:
    # What is left is counted in tonnes when the notification gives tonnes, else in m³ (as the fold counts it).
    return next(iter(notification.intended_quantity.by_unit()), None) if notification is not None else None


def _party(party: Party) -> dict[str, Any]:
    return {
        "name": party.name,
        "registration_number": party.registration_number,
        "country": party.address.country,
    }


def _parties(notification: Notification) -> dict[str, Any]:
    """Return who the notification names: exporter, importer, generators, the facility and any carriers."""
    return {
        "exporter": _party(notification.exporter),
        "importer": _party(notification.importer),
        "generators": [
            {**_party(generator), "site_of_generation": generator.site_of_generation}
            for generator in notification.generator
        ],
        "facility": {
            **_party(notification.facility),
            "actual_site": notification.facility.actual_site,
            "operations": list(notification.operation),
        },
        "carriers": [
            {**_party(carrier), "transport_modes": list(carrier.transport_mode)} for carrier in notification.carrier
        ],
    }


def _waste(notification: Notification) -> dict[str, Any]:
    """Return what the waste is, with the codes the Customs checks compare export data to."""
    codes = notification.waste_identification
    return {
        "designation": notification.waste_designation,
        "basel_code": codes.basel_code,
        "oecd_code": codes.oecd_code,
        "y_codes": list(codes.y_code),
        "h_codes": list(codes.h_code),
        "hs_codes": list(codes.hs_code),
        "un_number": codes.un_number,
    }


def case_view(case: Case) -> dict[str, Any]:
    """Return the JSON form of a case as of its date (``docs/cases.md``, "The case view", lists every key).

    ``notified``, ``waste`` and ``parties`` are None until the Notification arrived; so are the notified limits
    and what is left of them.
    Quantities are in the notified unit, except ``quantity_used``, which counts every unit export data used.
    ``overdue`` repeats the findings of :data:`OVERDUE_RULES`, which are also in ``findings``.
    """
    notification = case.notification
    notified: dict[str, Any] | None = None
    if notification is not None:
        notified = {
            "shipments": notification.intended_shipments,
            "quantity": {unit: _decimal(value) for unit, value in notification.intended_quantity.by_unit().items()},
            "first_departure": _date(notification.first_departure),
            "last_departure": _date(notification.last_departure),
        }
    findings = [finding_view(item) for item in case.findings]
    return {
        "notification_number": case.notification_number,
        "state": case.state.value,
        "test": case.test,
        "cancelled_on": _date(case.cancelled_on),
        "as_of": _date(case.as_of),
        "blocked": case.blocked,
        "notified": notified,
        "waste": _waste(notification) if notification is not None else None,
        "parties": _parties(notification) if notification is not None else None,
        "states": [_state_view(standing) for standing in case.states],
        "shipments_used": case.shipments_used,
        "shipments_left": case.shipments_left,
        "quantity_unit": _unit_left(notification),
        "quantity_used": {unit: _decimal(value) for unit, value in sorted(case.quantity_used.items())},
        "quantity_left": _decimal(case.quantity_left),
        "shipments": [_shipment_view(shipment) for shipment in case.shipments],
        "findings": findings,
        "overdue": [dict(view) for view in findings if view["rule_id"] in OVERDUE_RULES],
        "pending": [_pending_view(item) for item in case.pending],
        "message_ids": list(case.message_ids),
    }
