"""PIC cases, pure: fold a case from its messages, check it against the Basel rules, decide clearance.

No I/O and no clock: ``now`` is passed in. :mod:`~picexchange.cases.state` holds the transition tables,
:mod:`~picexchange.cases.rules` the rule catalogue and the policy, :mod:`~picexchange.cases.fold` the fold,
who-may-send and the clearance decision. ``docs/cases.md`` explains them.
"""

from __future__ import annotations

from picexchange.cases.fold import (
    Agency,
    Case,
    CaseDocument,
    CaseEvent,
    CaseFold,
    ClearanceDecision,
    Direction,
    Pending,
    Shipment,
    StateStanding,
    check_sender,
    clearance,
    fold_case,
    sender_role,
)
from picexchange.cases.rules import ALLOWED_SENDERS, RULES, CasePolicy, Finding, RuleSpec, SenderRole, Severity
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

__all__ = [
    "ALLOWED_SENDERS",
    "LIFECYCLES",
    "RULES",
    "AcknowledgementState",
    "Agency",
    "Case",
    "CaseDocument",
    "CaseEvent",
    "CaseFold",
    "CasePolicy",
    "CaseTransitionError",
    "ClearanceDecision",
    "DecisionState",
    "Direction",
    "Finding",
    "InformationState",
    "MovementState",
    "NotificationState",
    "Pending",
    "RuleSpec",
    "SenderRole",
    "Severity",
    "Shipment",
    "StateStanding",
    "check_sender",
    "clearance",
    "fold_case",
    "sender_role",
    "transition",
]
