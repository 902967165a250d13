"""PIC cases, pure: fold a case from its messages, check it against the Basel rules, decide clearance.

No I/O and no clock: ``now`` is passed in. :mod:`~picexchange.cases.state` holds the transition tables,
:mod:`~picexchange.cases.rules` the rule catalogue and the policy, :mod:`~picexchange.cases.events` what a
case is folded from, :mod:`~picexchange.cases.checks` the checks that need no fold (who may send what, export
data against the notification), :mod:`~picexchange.cases.fold` the fold and
:mod:`~picexchange.cases.customs` the clearance decision of import Customs and :mod:`~picexchange.cases.view`
the JSON form of a case. ``docs/cases.md`` explains them.
"""

from __future__ import annotations

from picexchange.cases.checks import StateStanding, check_sender, sender_role
from picexchange.cases.customs import ClearanceDecision, clearance
from picexchange.cases.events import Agency, CaseDocument, CaseEvent, Direction
from picexchange.cases.fold import Case, CaseFold, Pending, Shipment, fold_case
from picexchange.cases.rules import ALLOWED_SENDERS, RULES, CaseFinding, CasePolicy, RuleSpec, SenderRole, Severity
from picexchange.cases.state import (
    LIFECYCLES,
    AcknowledgementState,
    CaseTransitionError,
    DecisionState,
    InformationState,
    MovementState,
    NotificationState,
    transition,
)
from picexchange.cases.view import OVERDUE_RULES, case_view, finding_view

__all__ = [
    "ALLOWED_SENDERS",
    "LIFECYCLES",
    "OVERDUE_RULES",
    "RULES",
    "AcknowledgementState",
    "Agency",
    "Case",
    "CaseDocument",
    "CaseEvent",
    "CaseFinding",
    "CaseFold",
    "CasePolicy",
    "CaseTransitionError",
    "ClearanceDecision",
    "DecisionState",
    "Direction",
    "InformationState",
    "MovementState",
    "NotificationState",
    "Pending",
    "RuleSpec",
    "SenderRole",
    "Severity",
    "Shipment",
    "StateStanding",
    "case_view",
    "check_sender",
    "clearance",
    "finding_view",
    "fold_case",
    "sender_role",
    "transition",
]
