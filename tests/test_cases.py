"""PIC cases: the fold, its transition tables, who may send what, and the clearance decision."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picexchange import codec
from picexchange.cases import (
    ALLOWED_SENDERS,
    LIFECYCLES,
    Agency,
    CaseEvent,
    CaseFold,
    CaseTransitionError,
    DecisionState,
    Direction,
    MovementState,
    NotificationState,
    SenderRole,
    check_sender,
    clearance,
    fold_case,
    transition,
)
from picexchange.errors import SenderNotAllowed
from picexchange.models.envelope import Envelope, MessageType
from picexchange.models.export import ClearanceResult, ClearanceStatus
from tools.ubspec import UTILITY_BLOCKS

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
CUSTOMS = {"AU:ABF", "MY:RMCD"}


def _events(pattern: str) -> list[CaseEvent]:
    events = []
    for path in sorted(SAMPLES.glob(pattern)):
        envelope = codec.from_xml(path.read_bytes(), Envelope)
        if envelope.header.message_type in (MessageType.RECEIPT, MessageType.ERROR):
            continue
        agency = Agency.CUSTOMS if envelope.header.sender in CUSTOMS else Agency.COMPETENT_AUTHORITY
        events.append(CaseEvent.from_envelope(envelope, direction=Direction.INBOUND, sender_agency=agency))
    return events


PLASTIC = _events("plastic-au-my-*.xml")
AT = dt.datetime(2026, 5, 10, tzinfo=dt.UTC)


def test_the_plastic_sample_flow_folds_to_a_sensible_case() -> None:
    """AU -> MY: consented, shipment 1 disposed, shipment 2 held then rejected, consent withdrawn, cancelled."""
    case = fold_case(PLASTIC, now=AT)["AU2026-0042"]
    assert case.state is NotificationState.CANCELLED
    importer = case.states[1]
    assert (importer.country, importer.decision) == ("MY", DecisionState.WITHDRAWN)
    assert importer.information_answered == ("DOE-IR-2026-0117",)
    assert [(s.serial, s.state) for s in case.shipments] == [(1, MovementState.DISPOSED), (2, MovementState.REJECTED)]
    assert (case.shipments_used, case.shipments_left, str(case.quantity_left)) == (2, 6, "120.24")
    assert not case.pending
    assert [f.rule_id for f in case.findings] == [
        "pic.consent.withdrawn",
        "pic.notification.cancelled",
    ]
    assert case.blocked


def test_before_the_withdrawal_the_sample_case_lets_shipments_start() -> None:
    """On the day after the first receipt nothing is found and nothing blocks."""
    case = fold_case(PLASTIC[:9], now=dt.datetime(2026, 3, 20, tzinfo=dt.UTC))["AU2026-0042"]
    assert [f.rule_id for f in case.findings] == []
    assert not case.blocked
    assert case.states[1].decision is DecisionState.CONSENTED


@settings(max_examples=60, deadline=None)
@given(st.permutations(PLASTIC))
def test_folding_in_any_order_gives_the_same_case(events: list[CaseEvent]) -> None:
    """The case is a function of the set of messages, not of the order they arrived in."""
    assert fold_case(events, now=AT) == fold_case(PLASTIC, now=AT)


@settings(max_examples=40, deadline=None)
@given(st.permutations(PLASTIC), st.integers(min_value=0, max_value=len(PLASTIC)))
def test_any_prefix_in_any_order_gives_the_case_of_that_set(events: list[CaseEvent], cut: int) -> None:
    """Whatever subset arrived, in whatever order, the case equals the case of those messages in sample order."""
    chosen = {event.message_id for event in events[:cut]}
    in_order = [event for event in PLASTIC if event.message_id in chosen]
    assert fold_case(events[:cut], now=AT) == fold_case(in_order, now=AT)


def test_a_decision_before_its_notification_is_kept_and_applied_when_the_notification_arrives() -> None:
    """A ConsentDecision that overtakes its Notification waits, then takes effect."""
    notification, decision = PLASTIC[0], PLASTIC[4]
    assert decision.message_type is MessageType.CONSENT_DECISION
    fold = CaseFold("AU2026-0042")
    fold.apply(decision)
    early = fold.case(now=AT)
    assert [p.message_id for p in early.pending] == [decision.message_id]
    assert [f.rule_id for f in early.findings] == ["case.notification.missing"]
    fold.apply(notification)
    late = fold.case(now=AT)
    assert not late.pending
    assert late.states[1].decision is DecisionState.CONSENTED


def test_the_same_message_twice_changes_nothing() -> None:
    """Applying a message id again is a no-op: a redelivered ExportData is not a second shipment."""
    fold = CaseFold("AU2026-0042")
    for event in PLASTIC[:7]:
        fold.apply(event)
    assert fold.apply(PLASTIC[6]) is False
    assert fold.case(now=AT).shipments_used == 1


def test_a_message_of_another_case_is_refused() -> None:
    """A fold holds one case; the gateway routes by conversation id."""
    fold = CaseFold("AU2026-0001")
    with pytest.raises(ValueError, match="belongs to case AU2026-0042"):
        fold.apply(PLASTIC[0])


# ------------------------------------------------------------------------------------------ transition tables

_PAIRS = [
    (name, state, event)
    for name, table in LIFECYCLES.items()
    for state, event in itertools.product(type(next(iter(table))[0]), type(next(iter(table))[1]))
]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_PAIRS))
def test_every_pair_of_every_table_steps_or_raises(pair: tuple[str, object, object]) -> None:
    """A pair in a table leads to its next state; any other pair raises CaseTransitionError."""
    name, state, event = pair
    table = LIFECYCLES[name]
    if (state, event) in table:
        assert transition(table, state, event, what=name) is table[(state, event)]  # type: ignore[arg-type]
    else:
        with pytest.raises(CaseTransitionError, match="cannot"):
            transition(table, state, event, what=name)  # type: ignore[arg-type]


def test_every_state_of_every_table_is_reachable() -> None:
    """No state is dead data: each is the start of the table or the target of a step."""
    for name, table in LIFECYCLES.items():
        state_type = type(next(iter(table))[0])
        initial = next(iter(state_type))
        assert set(state_type) == {initial} | set(table.values()), name


# ------------------------------------------------------------------------------------------- who sends what


def test_who_may_send_what_is_the_utility_block_spec() -> None:
    """ALLOWED_SENDERS is the ``from`` of every step of both Utility Blocks (utility_blocks/*.json)."""
    spec = {
        MessageType(step.message): frozenset(SenderRole(role) for role in step.sender)
        for info in UTILITY_BLOCKS.values()
        for step in info.steps
    }
    assert dict(ALLOWED_SENDERS) == spec


def test_who_may_send_what_is_the_committed_utility_block_files() -> None:
    """The ``from`` roles of every step of the committed ``utility_blocks/*.json``, read as a vendor reads them."""
    steps = [
        step
        for path in sorted((Path(__file__).resolve().parent.parent / "utility_blocks").glob("*.json"))
        for step in json.loads(path.read_text(encoding="utf-8"))["process"]
    ]
    committed = {MessageType(step["message"]): frozenset(SenderRole(role) for role in step["from"]) for step in steps}
    assert len(committed) == len(steps) == len(ALLOWED_SENDERS)
    assert dict(ALLOWED_SENDERS) == committed


def test_an_exporting_authority_may_not_acknowledge_its_own_notification() -> None:
    """The issue's example: an Acknowledgement from the State of export is refused with its own Error code, the
    one the gateway's signed Error carries (``SenderNotAllowed``), not ``trust`` (the signature was genuine)."""
    notification = PLASTIC[0].document
    acknowledgement = PLASTIC[1]
    forged = CaseEvent(
        message_id="11111111-1111-4111-8111-111111111111",
        conversation_id=acknowledgement.conversation_id,
        sender="AU:DCCEEW",
        receiver="MY:DOE",
        created=acknowledgement.created,
        direction=Direction.OUTBOUND,
        sender_agency=Agency.COMPETENT_AUTHORITY,
        document=acknowledgement.document,
    )
    found = check_sender(forged, notification)  # type: ignore[arg-type]
    assert found is not None
    assert (found.rule_id, found.error_code.value, found.expected, found.found) == (
        "case.sender.role",
        SenderNotAllowed.code,
        "ca-import or ca-transit",
        "AU:DCCEEW (ca-export)",
    )
    assert check_sender(acknowledgement, notification) is None  # type: ignore[arg-type]


def test_every_sample_message_comes_from_a_role_allowed_to_send_it() -> None:
    """The sample flow respects the Utility Blocks' roles."""
    notification = PLASTIC[0].document
    assert [check_sender(event, notification) for event in PLASTIC] == [None] * len(PLASTIC)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ clearance


def test_clearance_releases_the_first_sample_shipment() -> None:
    """Consented, in the window, within quantity, everything as notified: released, no finding."""
    fold = CaseFold("AU2026-0042")
    for event in PLASTIC[:6]:
        fold.apply(event)
    export = PLASTIC[6]
    decision = clearance(fold, export, now=AT)
    assert (decision.status, decision.findings) == (ClearanceStatus.RELEASED, ())
    result = decision.result(customs_office="MYPKG")
    assert isinstance(result, ClearanceResult)
    assert result.rule_violations() == []


def test_clearance_holds_export_data_no_consent_covers_and_says_why() -> None:
    """The issue's example: export data for a notification never consented is held, with its findings."""
    fold = CaseFold("AU2026-0042")
    fold.apply(PLASTIC[0])
    decision = clearance(fold, PLASTIC[6], now=AT)
    assert decision.status is ClearanceStatus.HELD
    result = codec.from_xml(codec.to_xml(decision.result(customs_office="MYPKG")), ClearanceResult)
    assert [(f.rule_id, f.field, f.expected, f.found) for f in result.finding] == [
        ("pic.consent.missing", "/ExportData/NotificationNumber", "consent of MY (import) by 2026-03-04", "no decision")
    ]


def test_clearance_of_export_data_already_applied_is_the_same_decision() -> None:
    """Deciding again on an ExportData the case already holds does not count it twice."""
    fold = CaseFold("AU2026-0042")
    for event in PLASTIC[:7]:
        fold.apply(event)
    assert clearance(fold, PLASTIC[6], now=AT).status is ClearanceStatus.RELEASED


def test_clearance_refuses_what_is_not_export_data() -> None:
    """Only an ExportData has a clearance decision."""
    with pytest.raises(TypeError, match="not ExportData"):
        clearance(CaseFold("AU2026-0042"), PLASTIC[0], now=AT)


def test_the_package_surface_is_sorted_and_complete() -> None:
    """``picexchange.cases.__all__`` is sorted and names every public name the package holds."""
    import picexchange.cases as cases  # noqa: PLC0415 - the module object itself is under test

    assert cases.__all__ == sorted(cases.__all__, key=lambda n: (not n.isupper(), n))
    public = {name for name in vars(cases) if not name.startswith("_") and name != "annotations"}
    modules = {name for name in public if type(getattr(cases, name)).__name__ == "module"}
    assert modules == {"checks", "customs", "events", "fold", "rules", "state", "view"}
    assert set(cases.__all__) == public - modules
