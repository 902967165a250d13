"""What an operator may read and do, shared by the back-office API and the console.

Both doors (bearer tokens on ``/api/v1``, the console's session) authenticate a
:class:`~picexchange.gateway.auth.BackofficeClient`; from there the same functions decide what it sees and
what it may change, so the API and the console never disagree:

- a client sees a received message when it acts for the participant it was addressed to, and a message we
  send when it acts for the participant that signed it (the header's ``Sender`` in the stored bytes: the
  outbox keeps no other record of it); any other message is :class:`~picexchange.errors.Forbidden`;
- :func:`retry_outbound` sends a failed message again and :func:`give_up_outbound` gives up a queued one
  (:meth:`~picexchange.store.Store.requeue`, :meth:`~picexchange.store.Store.give_up`); a message in another
  state is :class:`~picexchange.errors.OutboxActionRefused`. The caller audits the action.
"""

from __future__ import annotations

import datetime as dt

from picexchange import codec, signing
from picexchange.errors import Forbidden, NotFound, OutboxActionRefused, ParseError, StoreError
from picexchange.gateway.app import Gateway
from picexchange.gateway.auth import BackofficeClient, acting_as
from picexchange.store import OutboundStatus, OutboxEntry, ReceivedEntry

__all__ = [
    "actable",
    "give_up_outbound",
    "outbound_for",
    "received_for",
    "retry_outbound",
    "sender_of",
]

MAX_REASON = 500
"""The longest reason an operator may give for giving a message up (it becomes the message's last error)."""


def actable(gateway: Gateway, client: BackofficeClient) -> frozenset[str]:
    """Return the hosted participants ``client`` acts for.

    Raises:
        Forbidden: it acts for none of the participants this gateway hosts.

    """
    allowed = acting_as(client, gateway.hosted)
    if not allowed:
        raise Forbidden(f"client {client.name} may act for none of the participants this gateway hosts")
    return allowed


def sender_of(data: bytes, *, limits: codec.Limits = codec.DEFAULT_LIMITS) -> str | None:
    """Return the header ``Sender`` of a signed envelope we stored, or None if it cannot be read."""
    try:
        return signing.read_header(codec.parse(data, limits=limits)).sender
    except ParseError:
        return None


def outbound_for(gateway: Gateway, client: BackofficeClient, message_id: str) -> OutboxEntry:
    """Return a message we send, if ``client`` acts for the participant that signed it.

    Raises:
        NotFound: no such message in the outbox.
        Forbidden: the client does not act for its sender.

    """
    allowed = actable(gateway, client)
    entry = gateway.store.outbox_message(message_id)
    if entry is None:
        raise NotFound(f"no outbound message {message_id}")
    sender = sender_of(entry.message.data, limits=gateway.policy.limits)
    if sender not in allowed:
        raise Forbidden(f"client {client.name} may not act for {sender or 'the sender of'} message {message_id}")
    return entry


def received_for(gateway: Gateway, client: BackofficeClient, sender: str, message_id: str) -> ReceivedEntry:
    """Return a received message, if ``client`` acts for the participant it was addressed to.

    Raises:
        NotFound: no such message from ``sender``.
        Forbidden: the client does not act for its receiver.

    """
    allowed = actable(gateway, client)
    entry = gateway.store.received_message(sender, message_id)
    if entry is None:
        raise NotFound(f"no message {message_id} from {sender}")
    if entry.message.receiver not in allowed:
        raise Forbidden(f"client {client.name} may not read messages to {entry.message.receiver}")
    return entry


def _refused(gateway: Gateway, exc: StoreError, message_id: str, *, needs: str, done: str) -> Exception:
    """Return the refusal of an action the message's state does not allow; an outage stays a StoreError."""
    if exc.retryable:
        return exc
    status = gateway.store.outbound_status(message_id)
    state = status.state.value if status is not None else "gone"
    return OutboxActionRefused(f"message {message_id} is {state}: only a {needs} message can be {done}")


def retry_outbound(gateway: Gateway, client: BackofficeClient, message_id: str, *, now: dt.datetime) -> OutboundStatus:
    """Send a failed message again (same bytes, same id), due at ``now``; wake the outbox worker.

    Raises:
        NotFound: no such message.
        Forbidden: the client does not act for its sender.
        OutboxActionRefused: the message is not failed.

    """
    outbound_for(gateway, client, message_id)
    try:
        gateway.store.requeue(message_id, at=now)
    except StoreError as exc:
        raise _refused(gateway, exc, message_id, needs="failed", done="sent again") from exc
    gateway.wake()
    return _status(gateway, message_id)


def give_up_outbound(
    gateway: Gateway, client: BackofficeClient, message_id: str, *, reason: str | None, now: dt.datetime
) -> OutboundStatus:
    """Give up a queued message: it becomes failed, its last error naming the client and ``reason``.

    Raises:
        NotFound: no such message.
        Forbidden: the client does not act for its sender.
        OutboxActionRefused: the message is not queued.

    """
    outbound_for(gateway, client, message_id)
    text = f"given up by {client.name}" + (f": {reason.strip()}" if reason and reason.strip() else "")
    try:
        gateway.store.give_up(message_id, reason=text[: MAX_REASON + 100], at=now)
    except StoreError as exc:
        raise _refused(gateway, exc, message_id, needs="queued", done="given up") from exc
    return _status(gateway, message_id)


def _status(gateway: Gateway, message_id: str) -> OutboundStatus:
    status = gateway.store.outbound_status(message_id)
    if status is None:  # pragma: no cover -- outbox messages are never deleted
        raise NotFound(f"no outbound message {message_id}")
    return status
