"""Case rows and case messages for the store's tests and benchmarks: what the gateway hands the store.

``summary`` is a case row of a notified AU -> MY case with the given changes; ``listed_in`` lists a received
message under its case. Imported by test_store_cases.py, test_store_backup.py and benchmarks/bench_case_feed.py.
"""

from __future__ import annotations

from typing import Any

from picexchange.store import CaseDirection, CaseMessage, CaseSummary, InboundMessage

CASE = "AU2026-0042"


def listed_in(message: InboundMessage) -> CaseMessage:
    """Return the case message that lists ``message``, received, under its case."""
    return CaseMessage(
        direction=CaseDirection.INBOUND,
        sender=message.sender,
        receiver=message.receiver,
        message_id=message.message_id,
        message_type=message.message_type,
        at=message.received_at,
    )


def summary(*, case: str = CASE, used: int = 0, blocked: bool = False, **fields: Any) -> CaseSummary:
    """Return the row of a notified AU -> MY case of four shipments, ``used`` of them exported; ``fields`` change it."""
    values: dict[str, Any] = {
        "notification_number": case,
        "state": "notified",
        "export_country": "AU",
        "import_country": "MY",
        "blocked": blocked,
        "violations": 1 if blocked else 0,
        "warnings": 0,
        "shipments_used": used,
        "shipments_notified": 4,
    }
    values.update(fields)
    return CaseSummary(**values)
