"""The Basel rules, one row per rule: the messages, then the rule id, severity, field, expected and found.

Each row starts from the AU -> MY plastic sample flow (notification, acknowledgement, consent) and changes one
thing. A row is checked either on the case (``fold.case(now=...)``) or on the clearance decision of its last
message, an ExportData (``clearance``), as the gateway will call them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picexchange.cases import Agency, CaseEvent, CaseFinding, CaseFold, CasePolicy, clearance, fold_case
from picexchange.cases.checks import add_months, check_sender, sender_role
from picexchange.cases.rules import ALLOWED_SENDERS, RULES, SenderRole
from picexchange.models.common import FormQuantity, NotifiedQuantity, Role, StateConcerned
from picexchange.models.export import CustomsPassage, TransitCustoms
from picexchange.models.pic import ConsentingRole, Decision
from test_cases import PLASTIC

NOTIFICATION, ACK, REQUEST, RESPONSE, CONSENT, ANNOUNCEMENT, EXPORT, CLEARED, RECEIPT, DISPOSAL = PLASTIC[:10]
WITHDRAWAL, CANCELLATION = PLASTIC[13], PLASTIC[14]
SHIPPED = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)


def edit(event: CaseEvent, **fields: Any) -> CaseEvent:
    """Return ``event`` under a new message id (derived from the change) with its document's ``fields`` changed."""
    return replace(
        event,
        message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.message_id}{sorted(fields.items())!r}")),
        document=event.document.model_copy(update=fields),
    )


def again(event: CaseEvent, **header: Any) -> CaseEvent:
    """Return ``event`` under a new message id, with header fields changed."""
    return replace(edit(event), **header)


TRANSIT = StateConcerned(role=Role.TRANSIT, country="SG", competent_authority="SG:NEA")
ROUTE = NOTIFICATION.document.state_concerned  # type: ignore[union-attr]
VIA_SG = (ROUTE[0], TRANSIT, ROUTE[1])
SG_POINTS = (ROUTE[0], TRANSIT.model_copy(update={"entry_point": "SGSIN", "exit_point": "SGSIN"}), ROUTE[1])


@dataclass(frozen=True, kw_only=True)
class Row:
    """One rule, the messages that break it, and the finding expected."""

    rule_id: str
    events: Callable[[], list[CaseEvent]]
    field: str
    expected: str
    found: str
    on: str = "case"
    now: dt.datetime = SHIPPED
    policy: CasePolicy = CasePolicy()


BASE = [NOTIFICATION, ACK, CONSENT]
LATER = dt.timedelta(days=1)
SECOND_NOTIFICATION = replace(edit(NOTIFICATION, intended_shipments=9), created=NOTIFICATION.created + LATER)
INCOMPLETE_AFTER_COMPLETE = edit(ACK, complete=False, acknowledged_on=dt.date(2026, 1, 30))

ROWS = [
    Row(
        rule_id="case.sender.role",
        events=lambda: [*BASE, again(EXPORT, sender="AU:DCCEEW", sender_agency=Agency.COMPETENT_AUTHORITY)],
        on="clearance",
        field="/ExportData",
        expected="customs-export",
        found="AU:DCCEEW (ca-export)",
    ),
    Row(
        rule_id="case.notification.missing",
        events=lambda: [CONSENT],
        field="/ConsentDecision/NotificationNumber",
        expected="a notified case",
        found="AU2026-0042",
    ),
    Row(
        rule_id="case.notification.repeated",
        events=lambda: [*BASE, SECOND_NOTIFICATION],
        field="/Notification",
        expected="a message that fits the notification (notified)",
        found=f"notify ({SECOND_NOTIFICATION.message_id})",
    ),
    Row(
        rule_id="case.state.unknown",
        events=lambda: [*BASE, edit(ACK, country="SG", competent_authority="SG:NEA")],
        field="/Acknowledgement/Country",
        expected="AU MY",
        found="SG",
    ),
    Row(
        rule_id="case.sequence",
        events=lambda: [*BASE, INCOMPLETE_AFTER_COMPLETE],
        field="/Acknowledgement",
        expected="a message that fits the acknowledgement of MY (complete)",
        found=f"acknowledge-incomplete ({INCOMPLETE_AFTER_COMPLETE.message_id})",
    ),
    Row(
        rule_id="pic.consent.missing",
        events=lambda: [NOTIFICATION, ACK, EXPORT],
        on="clearance",
        field="/ExportData/NotificationNumber",
        expected="consent of MY (import) by 2026-03-04",
        found="no decision",
    ),
    Row(
        rule_id="pic.consent.objected",
        events=lambda: [
            NOTIFICATION,
            edit(CONSENT, decision=Decision.OBJECTION, valid_from=None, valid_until=None, reason=("no",)),
            EXPORT,
        ],
        on="clearance",
        field="/ExportData/NotificationNumber",
        expected="consent of MY (import)",
        found="objection of 2026-02-16",
    ),
    Row(
        rule_id="pic.consent.withdrawn",
        events=lambda: [
            *BASE,
            edit(WITHDRAWAL, withdrawn_on=dt.date(2026, 2, 28), effective_from=dt.date(2026, 3, 1)),
            EXPORT,
        ],
        on="clearance",
        field="/ExportData/ActualShipmentDate",
        expected="before 2026-03-01",
        found="2026-03-04",
    ),
    Row(
        rule_id="pic.transit.missing",
        events=lambda: [edit(NOTIFICATION, state_concerned=VIA_SG), ACK, CONSENT, edit(EXPORT, state_concerned=VIA_SG)],
        on="clearance",
        field="/ExportData/NotificationNumber",
        expected="consent of SG (transit) by 2026-03-04",
        found="no decision",
    ),
    Row(
        rule_id="pic.transit.deemed",
        events=lambda: [
            edit(NOTIFICATION, state_concerned=VIA_SG),
            ACK,
            CONSENT,
            edit(ACK, country="SG", competent_authority="SG:NEA", acknowledged_on=dt.date(2026, 1, 25)),
            edit(EXPORT, state_concerned=VIA_SG),
        ],
        on="clearance",
        policy=CasePolicy(waived_written_consent={"SG:NEA": 30}),
        field="/ExportData/NotificationNumber",
        expected="written consent of SG (transit)",
        found="deemed consent from 2026-02-24",
    ),
    Row(
        rule_id="pic.notification.cancelled",
        events=lambda: [*BASE, edit(CANCELLATION, cancelled_on=dt.date(2026, 3, 1)), EXPORT],
        on="clearance",
        field="/ExportData/ActualShipmentDate",
        expected="before 2026-03-01",
        found="2026-03-04",
    ),
    Row(
        rule_id="pic.consent.validity-too-long",
        events=lambda: [NOTIFICATION, ACK, edit(CONSENT, valid_until=dt.date(2027, 3, 1))],
        field="/ConsentDecision/ValidUntil",
        expected="before 2027-02-20 (12 months)",
        found="2027-03-01",
    ),
    Row(
        rule_id="pic.notification.multiple-single",
        events=lambda: [edit(NOTIFICATION, intended_shipments=1)],
        field="/Notification/IntendedShipments",
        expected="more than 1 for multiple shipments",
        found="1",
    ),
    Row(
        rule_id="pic.notification.a-code-without-h-code",
        events=lambda: [
            edit(
                NOTIFICATION,
                waste_identification=NOTIFICATION.document.waste_identification.model_copy(  # type: ignore[union-attr]
                    update={"basel_code": "A3210"}
                ),
            )
        ],
        field="/Notification/WasteIdentification/HCode",
        expected="the Annex III characteristics of A3210",
        found="none",
    ),
    Row(
        rule_id="pic.notification.annex-ix-only",
        events=lambda: [
            edit(
                NOTIFICATION,
                waste_identification=NOTIFICATION.document.waste_identification.model_copy(  # type: ignore[union-attr]
                    update={"basel_code": "B3011", "y_code": ()}
                ),
            )
        ],
        field="/Notification/WasteIdentification/BaselCode",
        expected="an Annex VIII entry or a Y-code (Annex I/II)",
        found="B3011",
    ),
    Row(
        rule_id="pic.information.unrequested",
        events=lambda: [NOTIFICATION, RESPONSE],
        field="/InformationResponse",
        expected="a message that fits the information request of DOE-IR-2026-0117 (unasked)",
        found=f"answer ({RESPONSE.message_id})",
    ),
    Row(
        rule_id="pic.withdrawal.without-consent",
        events=lambda: [NOTIFICATION, ACK, WITHDRAWAL],
        field="/ConsentWithdrawal",
        expected="a message that fits the decision of MY (undecided)",
        found=f"withdraw ({WITHDRAWAL.message_id})",
    ),
    Row(
        rule_id="pic.withdrawal.mismatch",
        events=lambda: [*BASE, edit(WITHDRAWAL, role=ConsentingRole.TRANSIT)],
        field="/ConsentWithdrawal/Role",
        expected="import",
        found="transit",
    ),
    Row(
        rule_id="export.case.unknown",
        events=lambda: [EXPORT],
        on="clearance",
        field="/ExportData/NotificationNumber",
        expected="a notified case",
        found="AU2026-0042",
    ),
    Row(
        rule_id="export.departure.window",
        events=lambda: [*BASE, edit(EXPORT, actual_shipment_date=dt.date(2026, 3, 1))],
        on="clearance",
        field="/ExportData/ActualShipmentDate",
        expected="2026-03-02 to 2027-02-12",
        found="2026-03-01",
    ),
    Row(
        rule_id="export.consent.validity",
        events=lambda: [NOTIFICATION, ACK, edit(CONSENT, valid_until=dt.date(2026, 3, 3)), EXPORT],
        on="clearance",
        field="/ExportData/ActualShipmentDate",
        expected="2026-02-20 to 2026-03-03 (MY (import))",
        found="2026-03-04",
    ),
    Row(
        rule_id="export.serial.beyond-notified",
        events=lambda: [*BASE, edit(EXPORT, shipment_serial=9)],
        on="clearance",
        field="/ExportData/ShipmentSerial",
        expected="at most 8",
        found="9",
    ),
    Row(
        rule_id="export.serial.beyond-consent",
        events=lambda: [NOTIFICATION, ACK, edit(CONSENT, max_shipments=1), edit(EXPORT, shipment_serial=2)],
        on="clearance",
        field="/ExportData/ShipmentSerial",
        expected="at most 1",
        found="2",
    ),
    Row(
        rule_id="export.serial.repeated",
        events=lambda: [*BASE, EXPORT, edit(EXPORT)],
        on="clearance",
        field="/ExportData/ShipmentSerial",
        expected="a serial not used before",
        found=f"1 (already used by message {EXPORT.message_id})",
    ),
    Row(
        rule_id="export.total-shipments.mismatch",
        events=lambda: [*BASE, edit(EXPORT, total_shipments=9)],
        on="clearance",
        field="/ExportData/TotalShipments",
        expected="8",
        found="9",
    ),
    Row(
        rule_id="export.quantity.unit",
        events=lambda: [*BASE, edit(EXPORT, actual_quantity=FormQuantity(cubic_metres=Decimal(20)))],
        on="clearance",
        field="/ExportData/ActualQuantity",
        expected="TNE",
        found="MTQ",
    ),
    Row(
        rule_id="export.quantity.exceeded",
        events=lambda: [
            *BASE,
            edit(EXPORT, actual_quantity=FormQuantity(tonnes=Decimal(150))),
            edit(EXPORT, shipment_serial=2, actual_quantity=FormQuantity(tonnes=Decimal(11), cubic_metres=Decimal(30))),
        ],
        on="clearance",
        field="/ExportData/ActualQuantity/Tonnes",
        expected="at most 10 TNE (notified 160)",
        found="11 TNE",
    ),
    Row(
        rule_id="export.quantity.beyond-consent",
        events=lambda: [
            NOTIFICATION,
            ACK,
            edit(CONSENT, max_quantity=NotifiedQuantity(value=Decimal(10), unit="TNE")),
            EXPORT,
        ],
        on="clearance",
        field="/ExportData/ActualQuantity/Tonnes",
        expected="at most 10 TNE (consented 10)",
        found="19.84 TNE",
    ),
    Row(
        rule_id="export.waste-code.mismatch",
        events=lambda: [
            *BASE,
            edit(
                EXPORT,
                goods_item=(
                    EXPORT.document.goods_item[0].model_copy(  # type: ignore[union-attr]
                        update={
                            "waste_identification": EXPORT.document.goods_item[  # type: ignore[union-attr]
                                0
                            ].waste_identification.model_copy(update={"basel_code": "A3210"})
                        }
                    ),
                ),
            ),
        ],
        on="clearance",
        field="/ExportData/GoodsItem[1]/WasteIdentification/BaselCode",
        expected="none",
        found="A3210",
    ),
    Row(
        rule_id="export.hs-code.mismatch",
        events=lambda: [
            *BASE,
            edit(
                EXPORT,
                goods_item=(
                    EXPORT.document.goods_item[0].model_copy(update={"hs_code": "391510"}),  # type: ignore[union-attr]
                ),
            ),
        ],
        on="clearance",
        field="/ExportData/GoodsItem[1]/HsCode",
        expected="391590",
        found="391510",
    ),
    Row(
        rule_id="export.exporter.mismatch",
        events=lambda: [
            *BASE,
            edit(
                EXPORT,
                exporter=EXPORT.document.exporter.model_copy(  # type: ignore[union-attr]
                    update={"registration_number": "99999999999"}
                ),
            ),
        ],
        on="clearance",
        field="/ExportData/Exporter/RegistrationNumber",
        expected="51824753556",
        found="99999999999",
    ),
    Row(
        rule_id="export.consignee.mismatch",
        events=lambda: [
            *BASE,
            edit(
                EXPORT,
                consignee=EXPORT.document.consignee.model_copy(  # type: ignore[union-attr]
                    update={"registration_number": None, "name": "Other Sdn Bhd"}
                ),
            ),
        ],
        on="clearance",
        field="/ExportData/Consignee/Name",
        expected=NOTIFICATION.document.importer.name,  # type: ignore[union-attr]
        found="Other Sdn Bhd",
    ),
    Row(
        rule_id="export.facility.mismatch",
        events=lambda: [
            *BASE,
            edit(
                EXPORT,
                facility=EXPORT.document.facility.model_copy(  # type: ignore[union-attr]
                    update={
                        "address": EXPORT.document.facility.address.model_copy(  # type: ignore[union-attr]
                            update={"country": "ID"}
                        )
                    }
                ),
            ),
        ],
        on="clearance",
        field="/ExportData/Facility/Address/Country",
        expected="MY",
        found="ID",
    ),
    Row(
        rule_id="export.operation.mismatch",
        events=lambda: [*BASE, edit(EXPORT, operation=("R5",))],
        on="clearance",
        field="/ExportData/Operation[1]",
        expected="R3",
        found="R5",
    ),
    Row(
        rule_id="export.route.mismatch",
        events=lambda: [*BASE, edit(EXPORT, state_concerned=VIA_SG)],
        on="clearance",
        field="/ExportData/StateConcerned",
        expected="AU (export) > MY (import)",
        found="AU (export) > SG (transit) > MY (import)",
    ),
    Row(
        rule_id="export.customs-office.mismatch",
        events=lambda: [
            *BASE,
            edit(
                EXPORT,
                export_declaration=EXPORT.document.export_declaration.model_copy(  # type: ignore[union-attr]
                    update={"export_office": "AUSYD"}
                ),
            ),
        ],
        on="clearance",
        field="/ExportData/ExportDeclaration/ExportOffice",
        expected="AUMEL",
        found="AUSYD",
    ),
    Row(
        rule_id="export.transit-point.mismatch",
        events=lambda: [
            edit(NOTIFICATION, state_concerned=SG_POINTS),
            ACK,
            CONSENT,
            edit(CONSENT, role=ConsentingRole.TRANSIT, country="SG", competent_authority="SG:NEA"),
            edit(
                EXPORT,
                state_concerned=SG_POINTS,
                customs_passage=CustomsPassage(transit=(TransitCustoms(country="SG", entry_office="SGJUR"),)),
            ),
        ],
        on="clearance",
        field="/ExportData/CustomsPassage/Transit[1]/EntryOffice",
        expected="SGSIN",
        found="SGJUR",
    ),
    Row(
        rule_id="export.clearance.not-exported",
        events=lambda: [*BASE, CLEARED],
        field="/ClearanceResult",
        expected="a message that fits the shipment 1 (planned)",
        found=f"release ({CLEARED.message_id})",
    ),
    Row(
        rule_id="export.receipt.not-exported",
        events=lambda: [*BASE, RECEIPT],
        field="/ShipmentReceipt",
        expected="a message that fits the shipment 1 (planned)",
        found=f"receive ({RECEIPT.message_id})",
    ),
    Row(
        rule_id="export.receipt.declaration-mismatch",
        events=lambda: [*BASE, EXPORT, edit(RECEIPT, declaration_id="AAC3M8T1Q")],
        field="/ShipmentReceipt/DeclarationId",
        expected="AAB7K2R9X",
        found="AAC3M8T1Q",
    ),
    Row(
        rule_id="export.disposal.not-received",
        events=lambda: [*BASE, EXPORT, DISPOSAL],
        field="/DisposalCertificate",
        expected="a message that fits the shipment 1 (exported)",
        found=f"certify ({DISPOSAL.message_id})",
    ),
    Row(
        rule_id="export.receipt.overdue",
        events=lambda: [*BASE, EXPORT],
        now=dt.datetime(2026, 3, 21, tzinfo=dt.UTC),
        field="/ShipmentReceipt/ReceivedOn",
        expected="a receipt by 2026-03-20",
        found="none",
    ),
    Row(
        rule_id="export.disposal.overdue",
        events=lambda: [*BASE, EXPORT, RECEIPT],
        now=dt.datetime(2027, 3, 20, tzinfo=dt.UTC),
        field="/DisposalCertificate/CompletedOn",
        expected="by 2027-03-19",
        found="none",
    ),
]


def _findings(row: Row) -> list[CaseFinding]:
    events = row.events()
    fold = CaseFold("AU2026-0042", policy=row.policy)
    if row.on == "clearance":
        *before, last = events
        for event in before:
            fold.apply(event)
        return list(clearance(fold, last, now=row.now).findings)
    for event in events:
        fold.apply(event)
    return list(fold.case(now=row.now).findings)


@pytest.mark.parametrize("row", ROWS, ids=[row.rule_id for row in ROWS])
def test_each_rule_reports_its_field_with_expected_and_found(row: Row) -> None:
    """The messages of the row break the rule: one finding names its field, what was expected and what was found."""
    hits = [f for f in _findings(row) if f.rule_id == row.rule_id]
    assert [(f.severity, f.field, f.expected, f.found) for f in hits] == [
        (RULES[row.rule_id].severity, row.field, row.expected, row.found)
    ], [(f.rule_id, f.field, f.expected, f.found) for f in _findings(row)]


def test_every_rule_has_its_row() -> None:
    """The catalogue and the table are the same set of rules."""
    assert [row.rule_id for row in ROWS] == list(RULES)


def test_the_base_flow_breaks_no_rule() -> None:
    """Without the row's change the same checks find nothing: each row's finding is caused by its change."""
    fold = CaseFold("AU2026-0042")
    for event in BASE:
        fold.apply(event)
    assert [f.rule_id for f in clearance(fold, EXPORT, now=SHIPPED).findings] == []
    fold.apply(EXPORT)
    fold.apply(RECEIPT)
    assert [f.rule_id for f in fold.case(now=SHIPPED).findings] == []


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_rows_together_fold_to_the_same_case_in_any_order(data: st.DataObject) -> None:
    """Rule rows exercise waiting messages, repeats, transits and withdrawals; mixed, their order never matters."""
    rows = data.draw(st.lists(st.sampled_from(ROWS), min_size=1, max_size=3))
    events = list({event.message_id: event for row in rows for event in row.events()}.values())
    shuffled = data.draw(st.permutations(events))
    now, policy = rows[0].now, rows[0].policy
    assert fold_case(shuffled, now=now, policy=policy) == fold_case(events, now=now, policy=policy)


def test_two_export_data_of_one_serial_in_different_units_leave_the_same_totals_in_either_order() -> None:
    """Found by the test above: a unit whose only ExportData was replaced by an earlier one left a 0 behind."""
    tonnes = EXPORT
    cubic = replace(
        edit(EXPORT, actual_quantity=FormQuantity(cubic_metres=Decimal(20))), created=EXPORT.created + LATER
    )
    one = _fold(*BASE, tonnes, cubic).case(now=SHIPPED)
    other = _fold(*BASE, cubic, tonnes).case(now=SHIPPED)
    assert dict(other.quantity_used) == dict(one.quantity_used) == {"TNE": Decimal("19.84")}
    assert one == other


def test_a_shipment_before_a_withdrawal_takes_effect_is_covered() -> None:
    """A withdrawal stops shipments from its effective date, not before (the shipment left on 2026-03-04)."""
    fold = CaseFold("AU2026-0042")
    for event in [*BASE, edit(WITHDRAWAL, withdrawn_on=dt.date(2026, 3, 4), effective_from=dt.date(2026, 3, 5))]:
        fold.apply(event)
    assert clearance(fold, EXPORT, now=SHIPPED).findings == ()


def test_a_transit_state_is_not_deemed_to_consent_before_the_period_ends() -> None:
    """Art. 6(4): 30 days after a complete acknowledgement on 2026-02-10 is 2026-03-12; the shipment is on 03-04."""
    fold = CaseFold("AU2026-0042", policy=CasePolicy(waived_written_consent={"SG:NEA": 30}))
    for event in [
        edit(NOTIFICATION, state_concerned=VIA_SG),
        ACK,
        CONSENT,
        edit(ACK, country="SG", competent_authority="SG:NEA", acknowledged_on=dt.date(2026, 2, 10)),
    ]:
        fold.apply(event)
    findings = clearance(fold, edit(EXPORT, state_concerned=VIA_SG), now=SHIPPED).findings
    assert [(f.rule_id, f.found) for f in findings] == [("pic.transit.missing", "no decision")]


def test_a_transit_state_that_did_not_waive_written_consent_is_never_deemed() -> None:
    """Without the waiver in the policy, silence is not consent, however long it lasts."""
    fold = CaseFold("AU2026-0042")
    for event in [
        edit(NOTIFICATION, state_concerned=VIA_SG),
        ACK,
        CONSENT,
        edit(ACK, country="SG", competent_authority="SG:NEA", acknowledged_on=dt.date(2026, 1, 2)),
    ]:
        fold.apply(event)
    case = fold.case(now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert case.states[1].decision.value == "undecided"
    assert "pic.transit.missing" in [f.rule_id for f in case.findings]


def test_a_later_decision_replaces_an_earlier_one() -> None:
    """An objection after a consent governs from its date; shipments before it stay covered."""
    objection = edit(
        CONSENT,
        decision=Decision.OBJECTION,
        decided_on=dt.date(2026, 3, 10),
        valid_from=None,
        valid_until=None,
        reason=("facility licence suspended",),
    )
    fold = CaseFold("AU2026-0042")
    for event in [*BASE, objection]:
        fold.apply(event)
    assert clearance(fold, EXPORT, now=SHIPPED).findings == ()
    later = edit(EXPORT, actual_shipment_date=dt.date(2026, 3, 11), shipment_serial=2)
    assert [f.rule_id for f in clearance(fold, later, now=SHIPPED).findings] == ["pic.consent.objected"]


def test_a_message_out_of_sequence_after_the_export_is_not_reported_as_early() -> None:
    """A second receipt after the disposal is a sequence problem, not a receipt of a shipment never exported."""
    rejection = replace(
        edit(RECEIPT, accepted=False, rejection_reason="contaminated", received_on=dt.date(2026, 3, 19)),
        created=RECEIPT.created + LATER,
    )
    fold = CaseFold("AU2026-0042")
    for event in [*BASE, EXPORT, RECEIPT, DISPOSAL, rejection]:
        fold.apply(event)
    rules = {f.rule_id: f for f in fold.case(now=SHIPPED).findings}
    assert "export.receipt.not-exported" not in rules
    assert rules["case.sequence"].message_id == rejection.message_id


def test_the_policy_keeps_its_own_read_only_copy_of_the_waivers() -> None:
    """A frozen policy does not change when the registry's dict does, and cannot be changed through it."""
    waivers = {"SG:NEA": 30}
    policy = CasePolicy(waived_written_consent=waivers)
    waivers["SG:NEA"] = 1
    assert policy.waived_written_consent["SG:NEA"] == 30
    with pytest.raises(TypeError):
        policy.waived_written_consent["SG:NEA"] = 1  # type: ignore[index]


def _fold(*events: CaseEvent) -> CaseFold:
    fold = CaseFold("AU2026-0042")
    for event in events:
        fold.apply(event)
    return fold


@pytest.mark.parametrize(
    ("before", "message", "rule_id"),
    [
        ((), CONSENT, "case.notification.missing"),
        (tuple(BASE), replace(ACK, message_id=str(uuid.uuid4()), sender="AU:DCCEEW"), "case.sender.role"),
        (tuple(BASE), RECEIPT, "export.receipt.not-exported"),
        ((*BASE, EXPORT), DISPOSAL, "export.disposal.not-received"),
        ((NOTIFICATION,), RESPONSE, "pic.information.unrequested"),
        ((NOTIFICATION, ACK), WITHDRAWAL, "pic.withdrawal.without-consent"),
        (tuple(BASE), EXPORT, None),
        ((*BASE, EXPORT), RECEIPT, None),
        ((NOTIFICATION, REQUEST), RESPONSE, None),
        ((NOTIFICATION, ACK), ANNOUNCEMENT, "pic.consent.missing"),
        ((*BASE, edit(CANCELLATION, cancelled_on=dt.date(2026, 2, 27))), ANNOUNCEMENT, "pic.notification.cancelled"),
        ((NOTIFICATION, ACK, edit(CONSENT, valid_until=dt.date(2026, 3, 1))), ANNOUNCEMENT, "export.consent.validity"),
        (tuple(BASE), ANNOUNCEMENT, None),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_findings_for_tells_what_a_message_would_break_without_applying_it(
    before: tuple[CaseEvent, ...], message: CaseEvent, rule_id: str | None
) -> None:
    """The gateway's check before it accepts or queues a message: the findings, and the case left as it was."""
    fold = _fold(*before)
    seen = fold.case(now=SHIPPED)
    found = [f.rule_id for f in fold.findings_for(message)]
    assert found == ([rule_id] if rule_id else [])
    assert fold.case(now=SHIPPED) == seen


def _overdue(fold: CaseFold, now: dt.datetime) -> list[str]:
    return [f.expected for f in fold.case(now=now).findings if f.rule_id == "export.receipt.overdue"]


def test_the_overdue_receipt_counts_from_the_declared_then_the_announced_arrival_then_the_policy() -> None:
    """ExportData's ExpectedArrival wins; else the MovementAnnouncement's; else shipment date + transit days."""
    later = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    declared = _fold(*BASE, ANNOUNCEMENT, edit(EXPORT, expected_arrival=dt.date(2026, 3, 25)))
    assert _overdue(declared, later) == ["a receipt by 2026-03-28"]
    announced = _fold(*BASE, ANNOUNCEMENT, edit(EXPORT, expected_arrival=None))
    assert _overdue(announced, later) == ["a receipt by 2026-03-20"]  # announced 2026-03-17 + 3 days
    neither = _fold(*BASE, edit(EXPORT, expected_arrival=None))
    assert _overdue(neither, later) == ["a receipt by 2026-05-06"]  # shipped 2026-03-04 + 60 + 3 days
    assert _overdue(_fold(*BASE, EXPORT), dt.datetime(2026, 3, 20, tzinfo=dt.UTC)) == []


OFFICE = "export.customs-office.mismatch"
POINT = "export.transit-point.mismatch"


@pytest.mark.parametrize(
    ("passage", "rule_id", "field", "expected", "found"),
    [
        (CustomsPassage(exit_office="AUSYD"), OFFICE, "/ExportData/CustomsPassage/ExitOffice", "AUMEL", "AUSYD"),
        (CustomsPassage(entry_office="MYTPP"), OFFICE, "/ExportData/CustomsPassage/EntryOffice", "MYPKG", "MYTPP"),
        (
            CustomsPassage(transit=(TransitCustoms(country="SG", entry_office="SGJUR"),)),
            POINT,
            "/ExportData/CustomsPassage/Transit[1]/EntryOffice",
            "SGSIN",
            "SGJUR",
        ),
        (
            CustomsPassage(transit=(TransitCustoms(country="SG", exit_office="SGJUR"),)),
            POINT,
            "/ExportData/CustomsPassage/Transit[1]/ExitOffice",
            "SGSIN",
            "SGJUR",
        ),
        (CustomsPassage(entry_office="MYPKG", exit_office="AUMEL"), None, None, None, None),
    ],
)
def test_offices_of_exit_entry_and_transit_must_be_the_notified_ones(
    passage: CustomsPassage, rule_id: str | None, field: str | None, expected: str | None, found: str | None
) -> None:
    """Art. 6(6): V-A 16 gives exit and entry offices (a violation), V-A 15(c) each transit State's points of
    entry and exit, which the form may name as places, so a difference there is a warning."""
    sg = TRANSIT.model_copy(update={"entry_point": "SGSIN", "exit_point": "SGSIN"})
    route = (ROUTE[0], sg, ROUTE[1])
    sg_consent = edit(CONSENT, role=ConsentingRole.TRANSIT, country="SG", competent_authority="SG:NEA")
    fold = _fold(edit(NOTIFICATION, state_concerned=route), ACK, CONSENT, sg_consent)
    export = edit(EXPORT, state_concerned=route, customs_passage=passage)
    hits = [
        (f.rule_id, f.field, f.expected, f.found, f.blocks)
        for f in clearance(fold, export, now=SHIPPED).findings
        if f.rule_id in (OFFICE, POINT)
    ]
    assert hits == ([(rule_id, field, expected, found, rule_id == OFFICE)] if field else [])


def test_a_withdrawal_counts_only_against_the_consent_it_names() -> None:
    """A withdrawal naming a decision the State never gave leaves its consent standing, with a warning."""
    stray = edit(WITHDRAWAL, decision_id="DOE-KA-1999-0001")
    case = _fold(*BASE, stray).case(now=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    assert case.states[1].decision.value == "consented"
    assert [(f.rule_id, f.field, f.found) for f in case.findings if f.rule_id.startswith("pic.withdrawal")] == [
        ("pic.withdrawal.mismatch", "/ConsentWithdrawal/DecisionId", "DOE-KA-1999-0001")
    ]
    named = _fold(*BASE, WITHDRAWAL).case(now=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    assert named.states[1].decision.value == "withdrawn"


def test_test_messages_fold_into_a_separate_test_case_and_never_count_against_the_live_one() -> None:
    """TestIndicator true: the live case keeps its serials and quantities; the test case has its own."""
    live = _fold(*BASE, EXPORT)
    test_export = replace(edit(EXPORT, shipment_serial=2), test=True)
    assert [f.rule_id for f in clearance(live, test_export, now=SHIPPED).findings] == ["export.case.unknown"]
    live.apply(test_export)
    case = live.case(now=SHIPPED)
    assert (case.shipments_used, case.test, [s.serial for s in case.shipments]) == (1, False, [1])
    for event in BASE:
        live.apply(replace(event, test=True))
    test_case = live.test_case(now=SHIPPED)
    assert test_case is not None and test_case.test
    assert (test_case.shipments_used, [s.serial for s in test_case.shipments]) == (1, [2])
    assert live.case(now=SHIPPED) == case
    cases = fold_case([*BASE, test_export, *(replace(e, test=True) for e in BASE)], now=SHIPPED)
    assert sorted(cases) == ["AU2026-0042", "AU2026-0042 (test)"]
    assert cases["AU2026-0042"].shipments_used == 0 and cases["AU2026-0042 (test)"].shipments_used == 1


def test_a_deemed_transit_consent_can_be_withdrawn() -> None:
    """A transit State deemed to consent (Art. 6(4)) has no written decision to name; its withdrawal still counts."""
    fold = CaseFold("AU2026-0042", policy=CasePolicy(waived_written_consent={"SG:NEA": 30}))
    withdrawal = edit(
        WITHDRAWAL,
        role=ConsentingRole.TRANSIT,
        country="SG",
        competent_authority="SG:NEA",
        decision_id="NEA-DEEMED",
        withdrawn_on=dt.date(2026, 3, 1),
        effective_from=dt.date(2026, 3, 2),
    )
    for event in [
        edit(NOTIFICATION, state_concerned=VIA_SG),
        ACK,
        CONSENT,
        edit(ACK, country="SG", competent_authority="SG:NEA", acknowledged_on=dt.date(2026, 1, 25)),
        withdrawal,
    ]:
        fold.apply(event)
    findings = clearance(fold, edit(EXPORT, state_concerned=VIA_SG), now=SHIPPED).findings
    assert [(f.rule_id, f.expected) for f in findings] == [("pic.consent.withdrawn", "before 2026-03-02")]


# ------------------------------------------------------------------------------ the edges of each rule (issue 10)

SG_ACK = edit(ACK, country="SG", competent_authority="SG:NEA")


def _sg_acknowledged(on: dt.date, *, complete: bool = True) -> CaseEvent:
    return edit(SG_ACK, acknowledged_on=on, complete=complete)


SG_OBJECTION = edit(
    CONSENT,
    role=ConsentingRole.TRANSIT,
    country="SG",
    competent_authority="SG:NEA",
    decision=Decision.OBJECTION,
    decided_on=dt.date(2026, 3, 1),
    valid_from=None,
    valid_until=None,
    reason=("route through Singapore refused",),
)


@pytest.mark.parametrize(
    ("waiver", "sg_messages", "expected"),
    [
        # Basel Art. 6(4): 60 days after the complete acknowledgement; the shipment leaves on 2026-03-04.
        (
            {"SG:NEA": 60},
            (_sg_acknowledged(dt.date(2026, 1, 3)),),
            ("pic.transit.deemed", "deemed consent from 2026-03-04"),
        ),
        ({"SG:NEA": 60}, (_sg_acknowledged(dt.date(2026, 1, 4)),), ("pic.transit.missing", "no decision")),
        # The OECD's 30 days, set per participant in the registry (deemed_consent_days = 30).
        (
            {"SG:NEA": 30},
            (_sg_acknowledged(dt.date(2026, 2, 2)),),
            ("pic.transit.deemed", "deemed consent from 2026-03-04"),
        ),
        ({"SG:NEA": 30}, (_sg_acknowledged(dt.date(2026, 2, 3)),), ("pic.transit.missing", "no decision")),
        # An objection within the period: never deemed.
        (
            {"SG:NEA": 60},
            (_sg_acknowledged(dt.date(2026, 1, 3)), SG_OBJECTION),
            ("pic.consent.objected", "objection of 2026-03-01"),
        ),
        # The period runs from a complete acknowledgement only.
        (
            {"SG:NEA": 60},
            (_sg_acknowledged(dt.date(2026, 1, 3), complete=False),),
            ("pic.transit.missing", "no decision"),
        ),
        # The waiver is another participant's: SG:NEA did not waive written consent.
        ({"SG:OTHER": 60}, (_sg_acknowledged(dt.date(2026, 1, 3)),), ("pic.transit.missing", "no decision")),
    ],
    ids=[
        "basel-60-on-the-day",
        "basel-60-a-day-early",
        "oecd-30-on-the-day",
        "oecd-30-a-day-early",
        "objected",
        "incomplete",
        "no-waiver",
    ],
)
def test_a_transit_state_is_deemed_to_consent_exactly_when_its_waiver_and_period_say(
    waiver: dict[str, int], sg_messages: tuple[CaseEvent, ...], expected: tuple[str, str]
) -> None:
    """Art. 6(4): deemed consent from the period's last day after a complete acknowledgement, without objection,
    only for a competent authority the policy (the registry's ``deemed_consent_days``) lists."""
    fold = CaseFold("AU2026-0042", policy=CasePolicy(waived_written_consent=waiver))
    for event in [edit(NOTIFICATION, state_concerned=VIA_SG), ACK, CONSENT, *sg_messages]:
        fold.apply(event)
    findings = clearance(fold, edit(EXPORT, state_concerned=VIA_SG), now=SHIPPED).findings
    assert [(f.rule_id, f.found) for f in findings] == [expected]


def _preconsented(months: int) -> list[CaseEvent]:
    """A notification to a pre-consented recovery facility and a consent of ``months`` months from 2026-02-20."""
    until = add_months(dt.date(2026, 2, 20), months) - dt.timedelta(days=1)
    return [edit(NOTIFICATION, preconsented_facility=True), ACK, edit(CONSENT, valid_until=until)]


@pytest.mark.parametrize(
    ("events", "policy", "expected"),
    [
        # Art. 6(8): a general notification's consent lasts 12 months at most (2026-02-20 to 2027-02-19 is 12).
        (BASE, CasePolicy(), None),
        (
            [NOTIFICATION, ACK, edit(CONSENT, valid_until=dt.date(2027, 2, 20))],
            CasePolicy(),
            "before 2027-02-20 (12 months)",
        ),
        # The OECD's 3 years for a pre-consented recovery facility, when the registry allows it ([cases]).
        (_preconsented(36), CasePolicy(max_preconsented_consent_months=36), None),
        (_preconsented(37), CasePolicy(max_preconsented_consent_months=36), "before 2029-02-20 (36 months)"),
        # Without it, a pre-consented facility gets the Convention's 12 months too.
        (_preconsented(24), CasePolicy(), "before 2027-02-20 (12 months)"),
        # The longer allowance is for pre-consented facilities only.
        (
            [NOTIFICATION, ACK, edit(CONSENT, valid_until=dt.date(2028, 2, 19))],
            CasePolicy(max_preconsented_consent_months=36),
            "before 2027-02-20 (12 months)",
        ),
    ],
    ids=["12-months", "a-day-too-long", "preconsented-36", "preconsented-37", "preconsented-default", "general-36"],
)
def test_a_consent_valid_longer_than_the_policy_allows_is_a_warning(
    events: list[CaseEvent], policy: CasePolicy, expected: str | None
) -> None:
    """Art. 6(8) and the registry's [cases] allowances: a warning, never a block."""
    fold = CaseFold("AU2026-0042", policy=policy)
    for event in events:
        fold.apply(event)
    hits = [f for f in fold.case(now=SHIPPED).findings if f.rule_id == "pic.consent.validity-too-long"]
    assert [(f.severity.value, f.blocks, f.field, f.expected) for f in hits] == (
        [("warning", False, "/ConsentDecision/ValidUntil", expected)] if expected else []
    )


def _goods(**codes: Any) -> tuple[Any, ...]:
    item = EXPORT.document.goods_item[0]  # type: ignore[union-attr]
    return (item.model_copy(update={"waste_identification": item.waste_identification.model_copy(update=codes)}),)


SG_CONSENT = edit(CONSENT, role=ConsentingRole.TRANSIT, country="SG", competent_authority="SG:NEA")


@pytest.mark.parametrize(
    ("events", "export", "expected"),
    [
        # Waste codes: the OECD code and the Y-codes are held to the notification like the Basel code.
        (
            BASE,
            edit(EXPORT, goods_item=_goods(oecd_code="GH013")),
            [("export.waste-code.mismatch", "/ExportData/GoodsItem[1]/WasteIdentification/OecdCode", "none", "GH013")],
        ),
        (
            BASE,
            edit(EXPORT, goods_item=_goods(y_code=("Y48", "Y46"))),
            [("export.waste-code.mismatch", "/ExportData/GoodsItem[1]/WasteIdentification/YCode", "Y48", "Y46")],
        ),
        # The departure window closes on the last departure, as it opens on the first.
        (
            BASE,
            edit(EXPORT, actual_shipment_date=dt.date(2027, 2, 13)),
            [("export.departure.window", "/ExportData/ActualShipmentDate", "2026-03-02 to 2027-02-12", "2027-02-13")],
        ),
        (BASE, edit(EXPORT, actual_shipment_date=dt.date(2027, 2, 12)), []),
        # Every consent counts, the transit State's too: its validity and its number of shipments.
        (
            [
                edit(NOTIFICATION, state_concerned=VIA_SG),
                ACK,
                CONSENT,
                edit(SG_CONSENT, valid_until=dt.date(2026, 3, 3)),
            ],
            edit(EXPORT, state_concerned=VIA_SG),
            [
                (
                    "export.consent.validity",
                    "/ExportData/ActualShipmentDate",
                    "2026-02-20 to 2026-03-03 (SG (transit))",
                    "2026-03-04",
                )
            ],
        ),
        (
            [edit(NOTIFICATION, state_concerned=VIA_SG), ACK, CONSENT, edit(SG_CONSENT, max_shipments=1)],
            edit(EXPORT, state_concerned=VIA_SG, shipment_serial=2),
            [("export.serial.beyond-consent", "/ExportData/ShipmentSerial", "at most 1", "2")],
        ),
        # A cancellation stops shipments from its date, not before.
        (
            [*BASE, edit(CANCELLATION, cancelled_on=dt.date(2026, 3, 4))],
            EXPORT,
            [("pic.notification.cancelled", "/ExportData/ActualShipmentDate", "before 2026-03-04", "2026-03-04")],
        ),
        ([*BASE, edit(CANCELLATION, cancelled_on=dt.date(2026, 3, 5))], EXPORT, []),
        # A quantity given in both units is counted in the notified one (tonnes) only.
        (BASE, edit(EXPORT, actual_quantity=FormQuantity(tonnes=Decimal(20), cubic_metres=Decimal(500))), []),
    ],
    ids=[
        "oecd-code",
        "y-code",
        "after-last-departure",
        "on-last-departure",
        "transit-validity",
        "transit-max-shipments",
        "cancelled-that-day",
        "cancelled-the-day-after",
        "second-unit-not-notified",
    ],
)
def test_export_data_edges(
    events: list[CaseEvent], export: CaseEvent, expected: list[tuple[str, str, str, str]]
) -> None:
    """Each ExportData check at its edges: every waste code, both ends of the window, every State's consent."""
    fold = _fold(*events)
    found = [(f.rule_id, f.field, f.expected, f.found) for f in clearance(fold, export, now=SHIPPED).findings]
    assert found == expected


@pytest.mark.parametrize(
    ("completed_on", "now", "expected"),
    [
        # Received 2026-03-19: disposal is due by 2027-03-19 (Art. 6(9)), certified or not.
        (dt.date(2027, 3, 20), dt.datetime(2027, 4, 1, tzinfo=dt.UTC), ("by 2027-03-19", "2027-03-20")),
        (dt.date(2027, 3, 19), dt.datetime(2027, 4, 1, tzinfo=dt.UTC), None),
        (None, dt.datetime(2027, 3, 20, tzinfo=dt.UTC), ("by 2027-03-19", "none")),
        (None, dt.datetime(2027, 3, 19, tzinfo=dt.UTC), None),
    ],
    ids=["certified-a-day-late", "certified-on-the-last-day", "not-certified-a-day-after", "not-yet-due"],
)
def test_disposal_certified_later_than_a_year_after_receipt_is_overdue(
    completed_on: dt.date | None, now: dt.datetime, expected: tuple[str, str] | None
) -> None:
    """Art. 6(9): a certificate that comes late is reported as a missing one is, about the ShipmentReceipt."""
    events = [*BASE, EXPORT, RECEIPT]
    if completed_on is not None:
        events.append(edit(DISPOSAL, completed_on=completed_on))
    case = _fold(*events).case(now=now)
    hits = [(f.expected, f.found, f.message_id) for f in case.findings if f.rule_id == "export.disposal.overdue"]
    assert hits == ([(*expected, RECEIPT.message_id)] if expected else [])


@pytest.mark.parametrize(
    ("sender", "agency", "role"),
    [
        ("AU:DCCEEW", Agency.COMPETENT_AUTHORITY, "ca-export"),
        ("SG:NEA", Agency.COMPETENT_AUTHORITY, "ca-transit"),
        ("MY:DOE", Agency.COMPETENT_AUTHORITY, "ca-import"),
        ("AU:ABF", Agency.CUSTOMS, "customs-export"),
        ("MY:RMCD", Agency.CUSTOMS, "customs-import"),
        ("SG:CUSTOMS", Agency.CUSTOMS, None),  # Customs of a transit State sends nothing
        ("AU:EPA", Agency.COMPETENT_AUTHORITY, None),  # an authority not on the notified route
        ("JP:MOE", Agency.COMPETENT_AUTHORITY, None),  # another State's
    ],
)
def test_every_sender_may_send_exactly_what_its_role_may(sender: str, agency: Agency, role: str | None) -> None:
    """Each sender's role in a case via Singapore, and for every message type whether check_sender lets it send."""
    notification = edit(NOTIFICATION, state_concerned=VIA_SG).document
    templates = {event.message_type: event for event in PLASTIC}
    assert set(templates) == set(ALLOWED_SENDERS)  # every business document of both Utility Blocks
    for template in templates.values():
        event = replace(template, sender=sender, sender_agency=agency)
        assert sender_role(event, notification) == (SenderRole(role) if role else None)  # type: ignore[arg-type]
        refused = check_sender(event, notification)  # type: ignore[arg-type]
        allowed = role is not None and SenderRole(role) in ALLOWED_SENDERS[event.message_type]
        assert (refused is None) == allowed, (event.message_type, refused)
        if refused is not None:
            assert (refused.rule_id, refused.error_code.value, refused.blocks) == (
                "case.sender.role",
                "sender-not-allowed",
                True,
            )
