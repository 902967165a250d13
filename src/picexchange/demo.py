"""The demo exchange: two Single Window gateways on loopback walk a plastic-waste PIC case.

Each Single Window hosts its country's competent authority and its Customs, each signing with its own key:
Australia's hosts AU:DCCEEW and AU:ABF, Malaysia's MY:DOE and MY:RMCD. The exporting competent authority
notifies the importing one; Malaysia acknowledges and consents; Australian Customs sends the export data of
the first shipment to Malaysian Customs. Each message goes between the participants its sample's header
names, sent as its Sender. Every message goes through the real stack: back-office API → outbox → signed
envelope over HTTP → partner checks → durable store → signed receipt → back office pulls its inbox. The run
succeeds only if every step was receipted, by the participant it was for, with the digest of exactly the
bytes sent.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from picexchange import codec, resources
from picexchange.models.envelope import Envelope, Receipt
from picexchange.testing import GatewayNode, gateway_pair

__all__ = ["DEMO_FLOW", "DEMO_FLOW_NAME", "DEMO_SINGLE_WINDOWS", "Step", "run_demo"]

#: The participants each Single Window hosts: (exporting, importing).
DEMO_SINGLE_WINDOWS: tuple[tuple[str, ...], tuple[str, ...]] = (("AU:DCCEEW", "AU:ABF"), ("MY:DOE", "MY:RMCD"))

#: The packaged sample flow the demo takes its messages from (``picexchange flows list``).
DEMO_FLOW_NAME = "plastic-au-my"

#: (message file of that flow, from exporting side?) in the order the demo sends them; its header names sender
#: and receiver.
DEMO_FLOW: tuple[tuple[str, bool], ...] = (
    ("01-notification.xml", True),
    ("02-acknowledgement.xml", False),
    ("03-consent-decision.xml", False),
    ("04-movement-announcement.xml", True),
    ("05-export-data.xml", True),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One message of the demo, as the timeline shows it.

    Attributes:
        at: seconds since the demo started, when the message was submitted.
        sender: the participant that sent (and signed) it.
        receiver: the participant it was for.
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


def run_demo(
    directory: Path,
    messages: Traversable | None = None,
    *,
    on_step: Callable[[Step], None] = lambda step: None,
    on_case: Callable[[str, dict[str, Any]], None] = lambda participants, detail: None,
) -> list[Step]:
    """Run the demo exchange with stores in ``directory`` and the documents of :data:`DEMO_FLOW`.

    Args:
        directory: an empty folder for the two SQLite stores.
        messages: the folder holding :data:`DEMO_FLOW`'s files; the packaged flow :data:`DEMO_FLOW_NAME`'s by
            default, so the demo runs from an installed wheel in any directory.
        on_step: called after each step, for live output.
        on_case: called at the end for each Single Window with its hosted participants (``AU:DCCEEW + AU:ABF``)
            and its back office's view of the case (``GET /api/v1/cases/{number}``).

    """
    folder = messages if messages is not None else resources.flow_folder(DEMO_FLOW_NAME)
    steps: list[Step] = []
    started = time.monotonic()
    exporting, importing = DEMO_SINGLE_WINDOWS
    with gateway_pair(directory, exporter=exporting, importer=importing) as pair:
        cursors = {pair.exporting.participant: [0], pair.importing.participant: [0]}
        previous: str | None = None
        for name, from_exporter in DEMO_FLOW:
            sender, receiver = (pair.exporting, pair.importing) if from_exporter else (pair.importing, pair.exporting)
            envelope = codec.from_xml(folder.joinpath(name).read_bytes(), Envelope)
            document, header = envelope.document, envelope.header
            at = time.monotonic() - started
            queued = sender.submit(document, to=header.receiver, ref_to=previous, sender=header.sender)
            status = sender.wait_for(queued["message_id"], state="receipted", timeout=60)
            seconds = time.monotonic() - started - at
            receipt_digest = None
            if status["receipt_xml"]:
                receipt = codec.from_xml(status["receipt_xml"].encode("utf-8"), Envelope)
                # The receipt must come from the participant the message was for, addressed to its sender.
                if (receipt.header.sender, receipt.header.receiver) == (header.receiver, header.sender):
                    document_of_receipt = receipt.document
                    if isinstance(document_of_receipt, Receipt):
                        receipt_digest = document_of_receipt.received_digest.value
            delivered = _pull(receiver, queued["message_id"], cursors[receiver.participant])
            step = Step(
                at=at,
                sender=header.sender,
                receiver=header.receiver,
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
        number = envelope.header.conversation_id
        for node in (pair.exporting, pair.importing):
            on_case(" + ".join(node.participants), node.case(number))
    return steps


def timestamp() -> str:
    """Return the wall-clock time for the demo's header line."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
