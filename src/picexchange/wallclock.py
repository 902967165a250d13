"""The protocol engine as ``picexchange`` exports it: ``now`` defaults to the wall clock, messages may be ``str``.

The engine (:mod:`picexchange.exchange`, :mod:`picexchange.signing`) is pure: it is given ``now`` and bytes
and never asks a clock. That is what the gateway and the tests want (one ``now`` per request, a simulated
clock in replays); a vendor calling ``px.seal(...)`` from a web handler wants the current time. This shell
is the one place between the two: each function here is the engine's function of the same name, with

- ``now: dt.datetime | None = None``: None means the current time in UTC, read once per call;
- a message given as ``str`` encoded UTF-8 (:func:`picexchange.codec.message_bytes`, which refuses a str
  whose XML declaration names another encoding); pass the bytes as received where you have them, since a
  Receipt proves the SHA-256 of exactly those bytes;
- ``me`` where the engine needs our identity, taken from the partner registry's ``[[me]]`` entries
  (``trust.hosted``) when not given.

Everything else (checks, errors, results) is the engine's, unchanged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Set

from lxml import etree

from picexchange import codec, exchange, signing
from picexchange.errors import ConfigurationError, MessageError
from picexchange.exchange import DEFAULT_ACCEPT_POLICY, AcceptPolicy, Inbound, Receipted, Sealed
from picexchange.models.envelope import Document, UtilityBlock
from picexchange.trust import Hosted, Identity, TrustStore

__all__ = ["accept", "accept_for", "error_for", "read_reply", "receipt_for", "reopen", "seal", "verify"]


def _now(now: dt.datetime | None) -> dt.datetime:
    """Return ``now``, or the current time in UTC when it is None."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (e.g. dt.datetime.now(dt.UTC))")
    return now


def _hosted(me: Identity | Hosted | None, trust: TrustStore | None) -> Hosted:
    """Return who we are: ``me``, or the registry's ``[[me]]`` entries."""
    if me is not None:
        return Hosted.of(me)
    if trust is None or trust.hosted is None:
        source = trust.source if trust is not None else None
        raise ConfigurationError("the partner registry names no [[me]]: give me=(our identity)", source=source)
    return trust.hosted


def seal(
    document: Document,
    *,
    me: Identity,
    to: str,
    now: dt.datetime | None = None,
    message_id: uuid.UUID | None = None,
    conversation_id: str | None = None,
    ref_to: uuid.UUID | None = None,
    utility_block: UtilityBlock | None = None,
    test: bool = False,
) -> Sealed:
    """Wrap ``document`` in an envelope from ``me`` to ``to``, sign it, and return the bytes to send.

    Keep the result (``sealed.raw``) until the partner's receipt arrives: a retry sends those bytes again,
    never a new seal of the same document (see :func:`picexchange.exchange.seal` for every argument;
    ``now``, the envelope's Created, defaults to the current time).

    Raises:
        SchemaError, BusinessRuleError: a header value is not valid (a participant id, the conversation id),
            with its path under ``/Envelope/Header``.

    """
    return exchange.seal(
        document,
        me=me,
        to=to,
        now=_now(now),
        message_id=message_id,
        conversation_id=conversation_id,
        ref_to=ref_to,
        utility_block=utility_block,
        test=test,
    )


def reopen(
    raw: bytes | str,
    *,
    me: Identity | Hosted | None = None,
    trust: TrustStore | None = None,
    now: dt.datetime | None = None,
) -> Sealed:
    """Return the :class:`Sealed` of an envelope we signed before (read back from storage), to resend unchanged.

    ``me`` defaults to ``trust.hosted``; see :func:`picexchange.exchange.reopen` for the checks.
    """
    return exchange.reopen(codec.message_bytes(raw), me=_hosted(me, trust), now=_now(now))


def accept(
    raw: bytes | str,
    *,
    trust: TrustStore,
    me: Identity | Hosted | None = None,
    now: dt.datetime | None = None,
    policy: AcceptPolicy = DEFAULT_ACCEPT_POLICY,
) -> Inbound:
    """Run every check of an inbound message; return it, or raise the :class:`MessageError` to answer with.

    The Receiver must be one of ``me`` (by default every participant of ``trust.hosted``, the registry's
    ``[[me]]``); see :func:`picexchange.exchange.accept` for the checks and errors.
    """
    hosted = _hosted(me, trust)
    return exchange.accept_for(
        codec.message_bytes(raw), hosted=hosted.participants, trust=trust, now=_now(now), policy=policy
    )


def accept_for(
    raw: bytes | str,
    *,
    hosted: Set[str],
    trust: TrustStore,
    now: dt.datetime | None = None,
    policy: AcceptPolicy = DEFAULT_ACCEPT_POLICY,
) -> Inbound:
    """Run :func:`accept` with the Receiver one of ``hosted`` (see :func:`picexchange.exchange.accept_for`)."""
    return exchange.accept_for(codec.message_bytes(raw), hosted=hosted, trust=trust, now=_now(now), policy=policy)


def receipt_for(
    inbound: Inbound,
    *,
    me: Identity | Hosted,
    now: dt.datetime | None = None,
    message_id: uuid.UUID | None = None,
) -> Sealed:
    """Return our signed Receipt for ``inbound``, signed by the participant it was addressed to.

    ``me`` is our identity, or every hosted one (``trust.hosted``): the Receipt is signed by the one the
    message's Receiver names. See :func:`picexchange.exchange.receipt_for`.
    """
    hosted = Hosted.of(me)
    signer = hosted.identity(inbound.envelope.header.receiver) or hosted.first
    return exchange.receipt_for(inbound, me=signer, now=_now(now), message_id=message_id)


def error_for(
    error: MessageError,
    *,
    raw: bytes | str | None,
    me: Identity | Hosted,
    now: dt.datetime | None = None,
    limits: codec.Limits = codec.DEFAULT_LIMITS,
    message_id: uuid.UUID | None = None,
) -> Sealed:
    """Return our signed Error reply for a message refused with ``error`` (see :func:`picexchange.exchange.error_for`).

    A ``raw`` given as a str that cannot be encoded is treated as unreadable: the reply then goes to
    ``ZZ:UNKNOWN``, as for any message whose header cannot be read.
    """
    try:
        received = None if raw is None else codec.message_bytes(raw)
    except MessageError:
        received = None
    return exchange.error_for(error, raw=received, me=me, now=_now(now), limits=limits, message_id=message_id)


def read_reply(
    raw: bytes | str,
    *,
    sent: Sealed,
    trust: TrustStore,
    me: Identity | None = None,
    now: dt.datetime | None = None,
) -> Receipted:
    """Verify the partner's reply to ``sent``: a Receipt for exactly those bytes, or a signed Error.

    ``me`` defaults to the hosted participant that sent the message (``trust.hosted``). See
    :func:`picexchange.exchange.read_reply`.

    Raises:
        RemoteError: the partner refused the message with a signed Error.
        SignatureError, TrustError, ParseError, SchemaError: no genuine reply of that partner.

    """
    sender = me if me is not None else _hosted(None, trust).identity(sent.sender)
    if sender is None:
        raise ConfigurationError(
            f"{sent.sender} sent the message, but the registry does not host it", source=trust.source
        )
    return exchange.read_reply(codec.message_bytes(raw), sent=sent, me=sender, trust=trust, now=_now(now))


def verify(
    raw: bytes | str | etree._Element,
    *,
    trust: TrustStore,
    now: dt.datetime | None = None,
    receiver: str | None = None,
    hosted: Set[str] | None = None,
    sender: str | None = None,
    freshness: signing.Freshness | None = None,
    policy: signing.VerifyPolicy = signing.DEFAULT_POLICY,
    limits: codec.Limits = codec.DEFAULT_LIMITS,
) -> signing.Verified:
    """Check that ``raw`` is an envelope signed, as a whole, by the partner its header names as Sender.

    ``now`` (certificate validity, and Created with ``freshness``) defaults to the current time; see
    :func:`picexchange.signing.verify` for the checks.
    """
    received = raw if isinstance(raw, etree._Element) else codec.message_bytes(raw)
    return signing.verify(
        received,
        trust=trust,
        now=_now(now),
        receiver=receiver,
        hosted=hosted,
        sender=sender,
        freshness=freshness,
        policy=policy,
        limits=limits,
    )
