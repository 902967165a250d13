"""When a case's ``blocked`` changes with no new message: ``CaseFold.blocked_on`` and ``CaseFold.next_change``.

The gateway's case row stores ``blocked`` as of the day it was written and the day it must be reviewed on
(``next_change``); between the two the answer must not move. A withdrawal or cancellation that takes effect
later, a transit State deemed to consent, a consent whose validity begins or ends, the first and last departure:
each is a dated step, and nothing else changes ``blocked`` without a message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picexchange.cases import CaseEvent, CaseFold, CasePolicy
from picexchange.models.pic import ConsentingRole, Decision
from test_cases import PLASTIC
from test_cases_rules import ACK, CANCELLATION, CONSENT, NOTIFICATION, VIA_SG, WITHDRAWAL, edit

BASE = [NOTIFICATION, ACK, CONSENT]
VIA_SG_NOTIFICATION = edit(NOTIFICATION, state_concerned=VIA_SG)
SG_ACK = edit(ACK, country="SG", competent_authority="SG:NEA", acknowledged_on=dt.date(2026, 1, 3))
SG_WAIVES = CasePolicy(waived_written_consent={"SG:NEA": 60})
SG_CONSENT = edit(CONSENT, role=ConsentingRole.TRANSIT, country="SG", competent_authority="SG:NEA")
D = dt.date


def _fold(events: list[CaseEvent], policy: CasePolicy | None = None) -> CaseFold:
    fold = CaseFold("AU2026-0042", policy=policy)
    for event in events:
        fold.apply(event)
    return fold


@dataclass(frozen=True, kw_only=True)
class Row:
    """A case, a day, the next day its ``blocked`` may change, and ``blocked`` on both."""

    name: str
    events: list[CaseEvent]
    day: dt.date
    next: dt.date | None
    blocked: tuple[bool, bool | None]
    policy: CasePolicy | None = None


ROWS = [
    Row(name="no notification yet", events=[ACK, CONSENT], day=D(2026, 3, 10), next=None, blocked=(True, None)),
    Row(
        name="awaiting the decision",
        events=BASE,
        day=D(2026, 1, 10),
        next=D(2026, 2, 16),  # the consent's DecidedOn
        blocked=(True, True),  # decided, but its validity begins on 2026-02-20
    ),
    Row(name="consented, not yet valid", events=BASE, day=D(2026, 2, 16), next=D(2026, 2, 20), blocked=(True, True)),
    Row(
        name="valid, before the first departure",
        events=BASE,
        day=D(2026, 2, 20),
        next=D(2026, 3, 2),
        blocked=(True, False),
    ),
    Row(
        name="open until the day after the last departure",
        events=BASE,
        day=D(2026, 3, 2),
        next=D(2027, 2, 13),
        blocked=(False, True),
    ),
    Row(
        name="the day after the consent's ValidUntil",
        events=BASE,
        day=D(2027, 2, 13),
        next=D(2027, 2, 20),
        blocked=(True, True),
    ),
    Row(name="nothing dated after", events=BASE, day=D(2027, 2, 20), next=None, blocked=(True, None)),
    Row(
        name="a withdrawal effective later",
        events=[*BASE, WITHDRAWAL],
        day=D(2026, 3, 10),
        next=D(2026, 5, 1),
        blocked=(False, True),
    ),
    Row(
        name="a cancellation effective later",
        events=[*BASE, CANCELLATION],
        day=D(2026, 3, 10),
        next=D(2026, 5, 6),
        blocked=(False, True),
    ),
    Row(
        name="a transit State deemed to consent 60 days after its complete acknowledgement",
        events=[VIA_SG_NOTIFICATION, ACK, CONSENT, SG_ACK],
        policy=SG_WAIVES,
        day=D(2026, 3, 2),
        next=D(2026, 3, 4),
        blocked=(True, False),
    ),
    Row(
        name="a transit State that did not waive written consent is never deemed",
        events=[VIA_SG_NOTIFICATION, ACK, CONSENT, SG_ACK],
        day=D(2026, 3, 2),
        next=D(2027, 2, 13),
        blocked=(True, True),
    ),
    Row(
        name="a transit State's own consent",
        events=[VIA_SG_NOTIFICATION, ACK, CONSENT, SG_ACK, edit(SG_CONSENT, decided_on=D(2026, 3, 20))],
        day=D(2026, 3, 2),
        next=D(2026, 3, 20),
        blocked=(True, False),
    ),
    Row(
        name="an objection dated later",
        events=[*BASE, edit(CONSENT, decision=Decision.OBJECTION, decided_on=D(2026, 4, 1), valid_from=None)],
        day=D(2026, 3, 10),
        next=D(2026, 4, 1),
        blocked=(False, True),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_next_change_is_the_first_dated_step_after_the_day(row: Row) -> None:
    """Each dated step of the table is found, and ``blocked_on`` is the same the day before it and differs on it."""
    fold = _fold(row.events, row.policy)
    assert fold.next_change(row.day) == row.next
    on_day, on_next = row.blocked
    assert fold.blocked_on(row.day) is on_day
    if row.next is not None:
        assert fold.blocked_on(row.next) is on_next
        assert fold.blocked_on(row.next - dt.timedelta(days=1)) is on_day


def test_blocked_on_is_what_the_case_view_blocks_on_that_day() -> None:
    """Every day the row would say blocked, the case view says so too, with a finding that depends on the date."""
    fold = _fold(PLASTIC)
    day = D(2026, 1, 1)
    seen = set()
    while day < D(2027, 3, 1):
        case = fold.case(now=dt.datetime.combine(day, dt.time(), dt.UTC))
        seen.add(fold.blocked_on(day))
        if fold.blocked_on(day):
            assert case.blocked, day
        day = fold.next_change(day) or D(2027, 3, 1)
    assert seen == {True, False}


# ------------------------------------------------------------------------------------------ the property

WINDOW = (D(2025, 12, 1), D(2027, 4, 30))
days = st.dates(*WINDOW)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[CaseEvent], CasePolicy]:
    """A plastic case with its dates drawn: a consent, maybe a withdrawal, a cancellation, a transit State."""
    via_sg = draw(st.booleans())
    events = [VIA_SG_NOTIFICATION if via_sg else NOTIFICATION, ACK]
    valid_from = draw(days)
    consent = edit(
        CONSENT,
        decided_on=draw(days),
        valid_from=valid_from,
        valid_until=valid_from + dt.timedelta(days=draw(st.integers(0, 400))),
        decision=draw(st.sampled_from([Decision.CONSENT, Decision.CONSENT_WITH_CONDITIONS, Decision.OBJECTION])),
    )
    events.append(consent)
    if draw(st.booleans()):
        events.append(edit(WITHDRAWAL, effective_from=draw(days)))
    if draw(st.booleans()):
        events.append(edit(CANCELLATION, cancelled_on=draw(days)))
    if via_sg:
        events.append(edit(SG_ACK, acknowledged_on=draw(days), complete=draw(st.booleans())))
        if draw(st.booleans()):
            events.append(edit(SG_CONSENT, decided_on=draw(days), valid_from=draw(days), valid_until=draw(days)))
    policy = SG_WAIVES if draw(st.booleans()) else CasePolicy()
    return draw(st.permutations(events)), policy


def test_an_empty_fold_is_not_blocked_and_never_changes() -> None:
    fold = CaseFold("AU2026-0042")
    assert (fold.blocked_on(D(2026, 3, 10)), fold.next_change(D(2026, 3, 10))) == (False, None)


@given(case=cases(), day=days)
@settings(max_examples=150, deadline=None)
def test_blocked_holds_from_a_day_until_the_next_change(case: tuple[list[CaseEvent], CasePolicy], day: dt.date) -> None:
    """For any day d, ``blocked_on`` is the same on every day of [d, next_change(d)); and it implies the view's."""
    events, policy = case
    fold = _fold(events, policy)
    blocked = fold.blocked_on(day)
    until = fold.next_change(day)
    assert until is None or until > day
    end = min(until or WINDOW[1] + dt.timedelta(days=60), WINDOW[1] + dt.timedelta(days=60))
    current = day
    while current < end:
        assert fold.blocked_on(current) is blocked, (day, current, until)
        current += dt.timedelta(days=1)
    if blocked:
        assert fold.case(now=dt.datetime.combine(day, dt.time(), dt.UTC)).blocked
