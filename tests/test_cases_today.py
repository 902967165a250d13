"""A case is read on its own date: a consent not valid that day, or a day outside the notified departures, blocks.

The same rules hold an ExportData on its shipment date; here they are asked of the case's date, so that a case
whose consent expired says so before its next export data arrives (``picexchange case check --at``).
"""

from __future__ import annotations

import datetime as dt

from picexchange.cases import fold_case
from test_cases import PLASTIC
from test_cases_rules import ACK, BASE, CONSENT, EXPORT, NOTIFICATION, RECEIPT

# Notification .. disposal of shipment 1, and shipment 2 (export, clearance, receipt): no withdrawal, no cancellation.
UNTIL_SHIPMENT_2 = PLASTIC[:13]


def _rules(day: dt.date, events: list[object] | None = None) -> list[tuple[str, str, str | None]]:
    case = fold_case(UNTIL_SHIPMENT_2 if events is None else events, now=dt.datetime.combine(day, dt.time(), dt.UTC))
    return [(f.rule_id, f.field, f.message_id) for f in case["AU2026-0042"].findings if f.blocks]


def test_inside_the_consent_and_the_departures_nothing_blocks() -> None:
    """The consent runs 2026-02-20 to 2027-02-19, the departures 2026-03-02 to 2027-02-12."""
    assert _rules(dt.date(2026, 3, 2)) == _rules(dt.date(2027, 2, 12)) == []


def test_after_the_last_departure_the_case_is_blocked() -> None:
    """On 2027-02-13 the consent still runs, but no shipment may leave any more."""
    assert _rules(dt.date(2027, 2, 13)) == [("export.departure.window", "/Notification/LastDeparture", None)]


def test_after_the_consent_expired_the_case_is_blocked_and_names_the_consent() -> None:
    """From 2027-02-20 the consent of MY is over; the finding is about the ConsentDecision's ValidUntil."""
    assert _rules(dt.date(2027, 2, 20)) == [
        ("export.consent.validity", "/ConsentDecision/ValidUntil", CONSENT.message_id),
        ("export.departure.window", "/Notification/LastDeparture", None),
    ]


def test_before_the_consent_and_the_first_departure_no_shipment_may_start() -> None:
    """Consented on 2026-02-16, valid from 2026-02-20: on 2026-02-18 neither the consent nor the departures run."""
    assert _rules(dt.date(2026, 2, 18), [NOTIFICATION, ACK, CONSENT]) == [
        ("export.consent.validity", "/ConsentDecision/ValidFrom", CONSENT.message_id),
        ("export.departure.window", "/Notification/FirstDeparture", None),
    ]


def test_an_overdue_item_names_the_message_it_follows() -> None:
    """A missing receipt is about the shipment's ExportData; a missing disposal certificate about its receipt."""
    late = fold_case([*BASE, EXPORT], now=dt.datetime(2026, 5, 7, tzinfo=dt.UTC))["AU2026-0042"]
    assert [(f.rule_id, f.message_id) for f in late.findings if f.rule_id.endswith(".overdue")] == [
        ("export.receipt.overdue", EXPORT.message_id)
    ]
    later = fold_case([*BASE, EXPORT, RECEIPT], now=dt.datetime(2027, 3, 20, tzinfo=dt.UTC))["AU2026-0042"]
    assert [(f.rule_id, f.message_id) for f in later.findings if f.rule_id.endswith(".overdue")] == [
        ("export.disposal.overdue", RECEIPT.message_id)
    ]
