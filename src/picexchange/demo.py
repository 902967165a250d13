"""The demo exchange: two Single Window gateways on loopback walk a plastic-waste PIC case.

The exporting Single Window (Australia) notifies the importing one (Malaysia); Malaysia acknowledges and
consents; Australia announces the first shipment (export data goes from Australian to Malaysian Customs, which
a gateway hosting one competent authority may not send: the Single Window checks who may send what). Every
message goes through the real
stack: back-office API → outbox → signed envelope over HTTP → partner checks → durable store → signed
receipt → back office pulls its inbox. The run succeeds only if every step was receipted with the digest
of exactly the bytes sent.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picexchange import codec
from picexchange.models.envelope import Envelope, Receipt
from picexchange.testing import GatewayNode, gateway_pair

__all__ = ["DEMO_FLOW", "Step", "run_demo"]

#: (sample file, from exporting side?) in the order the demo sends them.
DEMO_FLOW: tuple[tuple[str, bool], ...] = (
    ("plastic-au-my-01-notification.xml", True),
    ("plastic-au-my-03-acknowledgement.xml", False),
    ("plastic-au-my-06-consent-decision.xml", False),
    ("plastic-au-my-07-movement-announcement.xml", True),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One message of the demo, as the timeline shows it.

    Attributes:
        at: seconds since the demo started, when the message was submitted.
        sender: the sending Single Window.
        receiver: the receiving Single Window.
        message_type: the document sent.
        message_id: its message id.
        state: its final outbound state (``receipted`` when all went well).
        attempts: delivery attempts.
        digest: base64 SHA-256 of the signed envelope sent.
        receipt_digest: the digest the partner's signed receipt quotes.
        seconds: from submission to receipt.
        delivered: whether the receiver's back office pulled it from its inbox.

    """

    at: float
    sender: str
    receiver: str
    message_type: str
    message_id: str
    state: str
    attempts: int
    digest: str
    receipt_digest: str | None
    seconds: float
    delivered: bool

    @property
    def ok(self) -> bool:
        """Return whether the step was receipted for exactly the bytes sent and reached the back office."""
        return self.state == "receipted" and self.receipt_digest == self.digest and self.delivered


def _pull(node: GatewayNode, message_id: str, cursor: list[int]) -> bool:
    """Pull the node's inbox from the cursor, acknowledge what came, return whether ``message_id`` was there."""
    found = False
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        page = node.inbox(since=cursor[0])
        cursor[0] = page["next"]
        if page["messages"]:
            node.acknowledge([entry["sequence"] for entry in page["messages"]])
        found = any(entry["message_id"] == message_id for entry in page["messages"])
        if not found:
            time.sleep(0.02)
    return found


def run_demo(directory: Path, samples: Path, *, on_step: Callable[[Step], None] = lambda step: None) -> list[Step]:
    """Run the demo exchange with stores in ``directory`` and documents from ``samples``/messages.

    Args:
        directory: an empty folder for the two SQLite stores.
        samples: the samples folder (its ``messages`` holds the flow's documents).
        on_step: called after each step, for live output.

    """
    steps: list[Step] = []
    started = time.monotonic()
    with gateway_pair(directory) as pair:
        cursors = {pair.exporting.participant: [0], pair.importing.participant: [0]}
        previous: str | None = None
        for name, from_exporter in DEMO_FLOW:
            sender, receiver = (pair.exporting, pair.importing) if from_exporter else (pair.importing, pair.exporting)
            document = codec.from_xml((samples / "messages" / name).read_bytes(), Envelope).document
            at = time.monotonic() - started
            queued = sender.submit(document, to=receiver.participant, ref_to=previous)
            status = sender.wait_for(queued["message_id"], state="receipted", timeout=60)
            seconds = time.monotonic() - started - at
            receipt_digest = None
            if status["receipt_xml"]:
                receipt = codec.from_xml(status["receipt_xml"].encode("utf-8"), Envelope).document
                receipt_digest = receipt.received_digest.value if isinstance(receipt, Receipt) else None
            delivered = _pull(receiver, queued["message_id"], cursors[receiver.participant])
            step = Step(
                at=at,
                sender=sender.participant,
                receiver=receiver.participant,
                message_type=type(document).__name__,
                message_id=queued["message_id"],
                state=status["state"],
                attempts=status["attempts"],
                digest=queued["digest"],
                receipt_digest=receipt_digest,
                seconds=seconds,
                delivered=delivered,
            )
            steps.append(step)
            on_step(step)
            previous = queued["message_id"]
    return steps


def timestamp() -> str:
    """Return the wall-clock time for the demo's header line."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
