"""The notifier sends one Notification to each State concerned: the copies are one notification, not a repeat."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from picexchange.cases import CaseFold, fold_case
from test_cases import _events
from test_cases_rules import NOTIFICATION, SECOND_NOTIFICATION

EWASTE = _events("ewaste-th-kr-jp-*.xml")
TO_JP, TO_KR = EWASTE[0], EWASTE[1]
AT = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def test_the_ewaste_notification_sent_to_korea_and_japan_is_one_notification() -> None:
    """TH:DIW notifies JP:MOE and KR:ME with two messages of the same Notification: no finding about either."""
    assert (TO_JP.receiver, TO_KR.receiver) == ("JP:MOE", "KR:ME")
    assert TO_JP.document == TO_KR.document and TO_JP.message_id != TO_KR.message_id
    case = fold_case(EWASTE, now=AT)["TH-DIW-2026-0254"]
    assert {TO_JP.message_id, TO_KR.message_id} <= set(case.message_ids)
    assert [f for f in case.findings if f.message_id in (TO_JP.message_id, TO_KR.message_id)] == []
    assert not case.pending


def test_a_copy_is_accepted_without_a_finding_before_it_is_sent() -> None:
    """The gateway asks ``findings_for`` before it queues the second copy: nothing to report."""
    fold = CaseFold("TH-DIW-2026-0254")
    fold.apply(TO_JP)
    assert fold.findings_for(TO_KR) == []


def test_a_second_notification_with_other_content_is_still_a_repeat() -> None:
    """Another Notification under the same number (other intended shipments) keeps its warning."""
    for events in ([NOTIFICATION, SECOND_NOTIFICATION], [SECOND_NOTIFICATION, NOTIFICATION]):
        case = fold_case(events, now=AT)["AU2026-0042"]
        assert [f.rule_id for f in case.findings if f.rule_id == "case.notification.repeated"] == [
            "case.notification.repeated"
        ]
    fold = CaseFold("AU2026-0042")
    fold.apply(NOTIFICATION)
    assert [f.rule_id for f in fold.findings_for(SECOND_NOTIFICATION)] == ["case.notification.repeated"]
    copy = replace(NOTIFICATION, message_id="copy-of-the-notification", receiver="SG:NEA")
    assert fold.findings_for(copy) == []
