"""The JSON form of a case: every key, on the sample cases, as the back office and ``case check --json`` show it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from picexchange.cases import OVERDUE_RULES, Agency, CaseFold, CasePolicy, case_view, finding_view, fold_case
from picexchange.models.common import NotifiedQuantity
from test_cases import PLASTIC, _events
from test_cases_rules import ACK, BASE, CONSENT, EXPORT, NOTIFICATION, VIA_SG, edit

AT = dt.datetime(2026, 5, 10, tzinfo=dt.UTC)
"""After shipment 2, the withdrawal (effective 2026-05-01) and the cancellation (2026-05-06)."""
INSIDE = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
"""The day after the first receipt: consent in force, nothing blocks."""

CASE_KEYS = [
    "notification_number",
    "state",
    "test",
    "cancelled_on",
    "as_of",
    "blocked",
    "notified",
    "waste",
    "parties",
    "states",
    "shipments_used",
    "shipments_left",
    "quantity_unit",
    "quantity_used",
    "quantity_left",
    "shipments",
    "findings",
    "overdue",
    "pending",
    "message_ids",
]


def _plastic(now: dt.datetime = AT, events: int | None = None) -> dict[str, Any]:
    return case_view(fold_case(PLASTIC[:events], now=now)["AU2026-0042"])


def test_the_view_has_its_keys_in_a_stable_order_and_is_json() -> None:
    """The keys are the documented ones, in that order; the whole view survives a JSON round trip unchanged."""
    view = _plastic()
    assert list(view) == CASE_KEYS
    assert json.loads(json.dumps(view)) == view


def test_the_case_as_a_whole() -> None:
    """Number, procedure state, the date it is seen on, and whether a shipment may start."""
    view = _plastic()
    assert view["notification_number"] == "AU2026-0042"
    assert view["state"] == "cancelled"
    assert view["cancelled_on"] == "2026-05-06"
    assert view["as_of"] == "2026-05-10"
    assert view["blocked"] is True
    assert view["notified"] == {
        "shipments": 8,
        "quantity": {"TNE": "160"},
        "first_departure": "2026-03-02",
        "last_departure": "2027-02-12",
    }
    early = _plastic(INSIDE, 9)
    assert (early["state"], early["cancelled_on"], early["blocked"]) == ("notified", None, False)


def test_every_state_concerned() -> None:
    """Each State in route order, with its acknowledgement, information, decision and validity."""
    exporter, importer = _plastic()["states"]
    assert exporter == {
        "role": "export",
        "country": "AU",
        "competent_authority": "AU:DCCEEW",
        "acknowledgement": "awaited",
        "acknowledged_on": None,
        "information_requested": [],
        "information_answered": [],
        "decision": "consented",
        "decided_on": None,
        "deemed_consent": False,
        "valid_from": None,
        "valid_until": None,
        "conditions": [],
        "max_shipments": None,
        "max_quantity": None,
        "withdrawn_from": None,
    }
    assert importer == {
        "role": "import",
        "country": "MY",
        "competent_authority": "MY:DOE",
        "acknowledgement": "complete",
        "acknowledged_on": "2026-01-23",
        "information_requested": [],
        "information_answered": ["DOE-IR-2026-0117"],
        "decision": "withdrawn",
        "decided_on": "2026-02-16",
        "deemed_consent": False,
        "valid_from": "2026-02-20",
        "valid_until": "2027-02-19",
        "conditions": [],
        "max_shipments": None,
        "max_quantity": None,
        "withdrawn_from": "2026-05-01",
    }
    asked = _plastic(dt.datetime(2026, 2, 1, tzinfo=dt.UTC), 3)["states"][1]
    assert (asked["information_requested"], asked["decision"]) == (["DOE-IR-2026-0117"], "undecided")


def test_conditions_and_consented_limits() -> None:
    """The e-waste import consent carries conditions; a consent may limit shipments and quantity."""
    ewaste = fold_case(_events("ewaste-th-kr-jp-*.xml"), now=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    transit, importer = case_view(ewaste["TH-DIW-2026-0254"])["states"][1:]
    assert (transit["role"], transit["decision"], transit["conditions"]) == ("transit", "consented", [])
    assert importer["decision"] == "consented-with-conditions"
    assert [text[:30] for text in importer["conditions"]] == [
        "The containers are discharged ",
        "The smelter sends the certific",
    ]
    quantity = NotifiedQuantity(value=Decimal(50), unit="TNE")
    limited = edit(CONSENT, max_shipments=3, max_quantity=quantity)
    view = case_view(fold_case([NOTIFICATION, ACK, limited], now=AT)["AU2026-0042"])
    importer = view["states"][1]
    assert (importer["max_shipments"], importer["max_quantity"]) == (3, {"TNE": "50"})
    assert (view["shipments_left"], view["quantity_left"]) == (3, "50")


def test_a_deemed_consent() -> None:
    """A transit State that waived written consent and stayed silent for the period is deemed to consent."""
    fold = CaseFold("AU2026-0042", policy=CasePolicy(waived_written_consent={"SG:NEA": 30}))
    for event in [
        edit(NOTIFICATION, state_concerned=VIA_SG),
        ACK,
        CONSENT,
        edit(ACK, country="SG", competent_authority="SG:NEA", acknowledged_on=dt.date(2026, 1, 10)),
    ]:
        fold.apply(event)
    transit = case_view(fold.case(now=AT))["states"][1]
    assert (transit["country"], transit["decision"], transit["deemed_consent"]) == ("SG", "deemed-consented", True)
    assert transit["decided_on"] == "2026-02-09"


def test_shipments_and_quantities_used_and_left() -> None:
    """Two shipments of 19.84 and 19.92 t out of 8 and 160 t notified."""
    view = _plastic()
    assert (view["shipments_used"], view["shipments_left"]) == (2, 6)
    assert (view["quantity_unit"], view["quantity_used"], view["quantity_left"]) == ("TNE", {"TNE": "39.76"}, "120.24")
    first, second = view["shipments"]
    assert first == {
        "serial": 1,
        "state": "disposed",
        "declaration_id": "AAB7K2R9X",
        "shipped_on": "2026-03-04",
        "expected_arrival": "2026-03-17",
        "quantity": {"TNE": "19.84"},
        "received_on": "2026-03-19",
        "completed_on": "2026-04-20",
        "message_ids": [event.message_id for event in PLASTIC[5:10]],
    }
    assert (second["serial"], second["state"], second["completed_on"]) == (2, "rejected", None)


def test_findings_and_overdue_items() -> None:
    """Each finding with rule, severity, field, expected, found, text and message id; overdue ones listed again."""
    view = _plastic()
    assert [(f["rule_id"], f["severity"], f["blocks"]) for f in view["findings"]] == [
        ("pic.consent.withdrawn", "violation", True),
        ("pic.notification.cancelled", "violation", True),
    ]
    assert view["findings"][0] == {
        "rule_id": "pic.consent.withdrawn",
        "severity": "violation",
        "blocks": True,
        "field": "/Notification/StateConcerned[2]",
        "expected": "consent in force",
        "found": "withdrawn from 2026-05-01",
        "text": "MY (import) withdrew its consent from 2026-05-01",
        "message_id": None,
        "error_code": "business-rule",
    }
    assert view["overdue"] == []
    late = dt.datetime(2026, 5, 7, tzinfo=dt.UTC)
    overdue = case_view(fold_case([*BASE, EXPORT], now=late)["AU2026-0042"])
    assert [f["rule_id"] for f in overdue["overdue"]] == ["export.receipt.overdue"]
    assert overdue["overdue"][0] in overdue["findings"]
    assert {f["rule_id"] for f in overdue["overdue"]} <= OVERDUE_RULES


def test_a_finding_about_one_message_names_it() -> None:
    """``finding_view`` is the JSON of one finding; a sender finding carries the Error code ``sender-not-allowed``."""
    fold = CaseFold("AU2026-0042")
    for event in BASE:
        fold.apply(event)
    # The sample ExportData, sent by the competent authority instead of Customs.
    wrong = replace(EXPORT, sender="AU:DCCEEW", sender_agency=Agency.COMPETENT_AUTHORITY)
    (item,) = [f for f in fold.findings_for(wrong) if f.rule_id == "case.sender.role"]
    assert finding_view(item) == {
        "rule_id": "case.sender.role",
        "severity": "violation",
        "blocks": True,
        "field": "/ExportData",
        "expected": "customs-export",
        "found": "AU:DCCEEW (ca-export)",
        "text": "ExportData may be sent only by customs-export; AU:DCCEEW is ca-export",
        "message_id": EXPORT.message_id,
        "error_code": "sender-not-allowed",
    }


def test_pending_messages_and_the_order_of_messages() -> None:
    """A decision that overtook its Notification is pending; message ids follow the procedure, not arrival."""
    view = case_view(fold_case([CONSENT], now=AT)["AU2026-0042"])
    assert view["pending"] == [
        {"message_id": CONSENT.message_id, "message_type": "ConsentDecision", "waiting_for": "the Notification"}
    ]
    assert (view["notified"], view["states"], view["quantity_unit"], view["quantity_left"]) == (None, [], None, None)
    shuffled = case_view(fold_case(list(reversed(PLASTIC)), now=AT)["AU2026-0042"])
    assert shuffled == _plastic()
    assert shuffled["message_ids"][0] == PLASTIC[0].message_id
    assert sorted(shuffled["message_ids"]) == sorted(e.message_id for e in PLASTIC)


GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "cases.md").read_text(encoding="utf-8")


def _documented(marker: str) -> list[str]:
    """Return the keys of the table after ``<!-- view: marker -->`` in docs/cases.md, in order."""
    lines = GUIDE[GUIDE.index(f"<!-- view: {marker} -->") :].splitlines()[3:]
    keys = []
    for line in lines:
        if not line.startswith("|"):
            break
        keys.append(line.split("|")[1].strip().strip("`"))
    return keys


def test_the_guide_lists_every_key_in_order() -> None:
    """docs/cases.md, "The case view", names the keys of a case, a State, a shipment and a finding, in order."""
    view = _plastic()
    assert _documented("case") == list(view)
    assert _documented("state") == list(view["states"][1])
    assert _documented("shipment") == list(view["shipments"][0])
    assert _documented("finding") == list(view["findings"][0])
    assert _documented("waste") == list(view["waste"])
    assert _documented("party") == list(view["parties"]["exporter"])
    parties = view["parties"]
    extras = {"generators": ["site_of_generation"], "facility": ["actual_site", "operations"]}
    extras["carriers"] = ["transport_modes"]
    for role, keys in extras.items():
        first = parties[role][0] if isinstance(parties[role], list) else parties[role]
        assert list(first) == _documented("party") + keys, role


def test_the_waste_and_the_parties_are_the_notifications() -> None:
    """An officer sees what is shipped and between whom: the notified codes and the named parties, by country."""
    view = _plastic()
    assert view["waste"] == {
        "designation": "Washed PET flakes, single polymer, with residual cap and label fragments",
        "basel_code": None,
        "oecd_code": None,
        "y_codes": ["Y48"],
        "h_codes": [],
        "hs_codes": ["391590"],
        "un_number": None,
    }
    parties = view["parties"]
    assert parties["exporter"] == {
        "name": "Southern Cross Polymers Pty Ltd",
        "registration_number": "51824753556",
        "country": "AU",
    }
    assert parties["importer"]["country"] == "MY"
    assert parties["facility"]["operations"] == ["R3"]
    assert parties["facility"]["actual_site"].startswith("Lot 12, Jalan Sungai Puloh")
    assert [g["country"] for g in parties["generators"]] == ["AU"]
    assert [(c["country"], c["transport_modes"]) for c in parties["carriers"]] == [
        ("AU", ["R"]),
        ("SG", ["S"]),
        ("MY", ["R"]),
    ]


def test_without_its_notification_a_case_names_no_waste_and_no_parties() -> None:
    """Messages that overtook their Notification make a case that cannot say yet what or who it is about."""
    later = [event for event in PLASTIC if event.message_type.value != "Notification"]
    view = case_view(fold_case(later, now=AT)["AU2026-0042"])
    assert view["notified"] is None
    assert view["waste"] is None
    assert view["parties"] is None
