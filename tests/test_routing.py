"""One header reader and one routing decision, whichever way a signed envelope comes in (issue 9).

Every routing and trust refusal is made once, by :func:`picexchange.signing.admit` (receiver, sender, Utility
Block), the certificate pinning in :func:`picexchange.signing.verify` and :func:`~picexchange.signing.check_created`,
and reads the header only through :func:`picexchange.signing.read_header`. So a refused message meets the same
:class:`~picexchange.errors.TrustError` — same reason, same path, same message id — through ``exchange.accept``,
``signing.verify`` and the reply reading of ``exchange.read_reply`` and the HTTP client.
"""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from picexchange import codec, exchange, signing
from picexchange.client import Client
from picexchange.errors import MessageError, ParseError, RemoteError, TrustError, UnverifiedReplyError
from picexchange.models.envelope import Envelope, Error, Receipt, UtilityBlock
from picexchange.models.pic import Acknowledgement, Notification
from picexchange.signing import TrustReason
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import Identity, Partner, TrustStore

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(signing.__file__).resolve().parent
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VALID_TO = dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
US, PEER, THIRD, CUSTOMS = "MY:DOE", "AU:DCCEEW", "SG:NEA", "MY:RMCD"
URL = "https://au-dcceew.sw.test/ub/v1/messages"
CERTIFICATE_PATH = "/Envelope/Signature/KeyInfo/X509Data/X509Certificate"

#: The entry points that read a signed envelope someone sent us.
ACCEPT, VERIFY, READ_REPLY, CLIENT = "accept", "verify", "read_reply", "client"
ALL = frozenset({ACCEPT, VERIFY, READ_REPLY, CLIENT})
MESSAGES = frozenset({ACCEPT, VERIFY})  # a message to deliver, not a reply
REPLIES = frozenset({VERIFY, READ_REPLY, CLIENT})  # a reply from the partner we sent to


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki([PEER, US, CUSTOMS, THIRD], not_before=VALID_FROM, not_after=VALID_TO)


@pytest.fixture(scope="module")
def notification() -> Notification:
    raw = (ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes()
    document = codec.from_xml(raw, Envelope).document
    assert isinstance(document, Notification)
    return document


@pytest.fixture(scope="module")
def sent(pki: TestPki) -> exchange.Sealed:
    """What we (MY:DOE) sent the peer: the message its replies answer."""
    acknowledgement = Acknowledgement(
        notification_number="AU2026-0042",
        country="MY",
        competent_authority=US,
        notification_received_on=dt.date(2026, 3, 2),
        acknowledged_on=dt.date(2026, 3, 3),
        complete=True,
    )
    return exchange.seal(acknowledgement, me=pki[US].identity, to=PEER, now=NOW)


# ------------------------------------------------------------------------------------------------ the table


def _self_signed(key: rsa.RSAPrivateKey, subject: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{subject} - TEST ONLY")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_TO)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _impostor(pki: TestPki) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Identity(participant=PEER, private_key=key, certificate=_self_signed(key, PEER))


def _posing(pki: TestPki) -> Identity:
    third = pki[THIRD]
    return Identity(participant=PEER, private_key=third.private_key, certificate=third.certificate)


def _without_peer(pki: TestPki) -> TrustStore:
    return TrustStore.of(p.partner for p in pki.participants if p.id != PEER)


def _peer_export_only(pki: TestPki) -> TrustStore:
    return TrustStore.of(
        replace(p.partner, utility_blocks=frozenset({UtilityBlock.EXPORT})) if p.id == PEER else p.partner
        for p in pki.participants
    )


@dataclass(frozen=True, kw_only=True)
class Case:
    """One refusal: how the offending envelope is made, and where it must be refused."""

    reason: TrustReason
    path: str
    entries: frozenset[str]
    signer: Callable[[TestPki], Identity] = lambda pki: pki[PEER].identity
    to: str = US
    trust: Callable[[TestPki], TrustStore] = lambda pki: pki.trust()
    created: dt.datetime = NOW
    now: dt.datetime = NOW
    verify_policy: signing.VerifyPolicy = field(default_factory=signing.VerifyPolicy)


CASES = {
    "misrouted": Case(
        reason=TrustReason.RECEIVER_NOT_HOSTED, path="/Envelope/Header/Receiver", entries=ALL, to=CUSTOMS
    ),
    "third-party-reply": Case(
        reason=TrustReason.UNEXPECTED_SENDER,
        path="/Envelope/Header/Sender",
        entries=REPLIES,
        signer=lambda pki: pki[THIRD].identity,
    ),
    "unknown-sender": Case(
        reason=TrustReason.UNKNOWN_SENDER, path="/Envelope/Header/Sender", entries=ALL, trust=_without_peer
    ),
    "utility-block": Case(
        reason=TrustReason.UTILITY_BLOCK_NOT_ALLOWED,
        path="/Envelope/Header/UtilityBlock",
        entries=MESSAGES,
        trust=_peer_export_only,
    ),
    "impostor-certificate": Case(
        reason=TrustReason.CERTIFICATE_NOT_REGISTERED, path=CERTIFICATE_PATH, entries=ALL, signer=_impostor
    ),
    "another-partners-certificate": Case(
        reason=TrustReason.CERTIFICATE_OF_ANOTHER_PARTNER, path=CERTIFICATE_PATH, entries=ALL, signer=_posing
    ),
    "expired-certificate": Case(
        reason=TrustReason.CERTIFICATE_NOT_VALID,
        path=CERTIFICATE_PATH,
        entries=ALL,
        created=VALID_TO + dt.timedelta(days=1),
        now=VALID_TO + dt.timedelta(days=1),
    ),
    "weak-for-the-policy": Case(
        reason=TrustReason.CERTIFICATE_REFUSED,
        path=CERTIFICATE_PATH,
        entries=MESSAGES,
        verify_policy=signing.VerifyPolicy(min_rsa_bits=3072),
    ),
    "from-the-future": Case(
        reason=TrustReason.CREATED_IN_FUTURE,
        path="/Envelope/Header/Created",
        entries=MESSAGES,
        created=NOW + dt.timedelta(minutes=6),
    ),
    "replayed-old": Case(
        reason=TrustReason.CREATED_TOO_OLD,
        path="/Envelope/Header/Created",
        entries=MESSAGES,
        created=NOW - dt.timedelta(days=31),
    ),
}

Outcome = tuple[type[MessageError], str | None, str | None, str | None]


def _message(pki: TestPki, case: Case, notification: Notification) -> exchange.Sealed:
    """The peer's notification to us, made as the case says."""
    envelope = Envelope.wrap(
        notification,
        message_id=uuid.uuid4(),
        conversation_id=notification.notification_number,
        sender=PEER,
        receiver=case.to,
        created=case.created,
    )
    identity = case.signer(pki)
    if identity.participant != PEER:
        envelope = envelope.model_copy(
            update={"header": envelope.header.model_copy(update={"sender": identity.participant})}
        )
    raw = signing.sign(envelope, identity)
    return exchange.Sealed(envelope=envelope, raw=raw, digest=exchange.digest_of(raw))


def _reply(pki: TestPki, case: Case, sent: exchange.Sealed) -> exchange.Sealed:
    """The peer's receipt for what we sent, made as the case says."""
    receipt = Receipt(
        ref_to_message_id=sent.message_id,
        received_digest={"value": sent.digest},  # type: ignore[arg-type]
        received_at=case.created,
    )
    return exchange.seal(
        receipt,
        me=case.signer(pki),
        to=case.to,
        now=case.created,
        conversation_id=sent.envelope.header.conversation_id,
        ref_to=sent.message_id,
        utility_block=UtilityBlock.PIC,
    )


def _outcome(error: MessageError) -> Outcome:
    return type(error), getattr(error, "reason", None), error.path, error.message_id


def _refusal(entry: str, case: Case, pki: TestPki, notification: Notification, sent: exchange.Sealed) -> Outcome:
    """Return what ``entry`` raises for the case's envelope (the error behind the client's verdict)."""
    trust = case.trust(pki)
    me = pki[US].identity
    policy = exchange.AcceptPolicy(verify=case.verify_policy)
    try:
        if entry == ACCEPT:
            exchange.accept(_message(pki, case, notification).raw, me=me, trust=trust, now=case.now, policy=policy)
        elif entry == VERIFY:
            signing.verify(
                _message(pki, case, notification).raw,
                trust=trust,
                now=case.now,
                hosted={US},
                sender=PEER,
                freshness=policy.freshness,
                policy=case.verify_policy,
            )
        elif entry == READ_REPLY:
            exchange.read_reply(_reply(pki, case, sent).raw, sent=sent, me=me, trust=trust, now=case.now)
        else:
            body = _reply(pki, case, sent).raw
            transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
            with Client(me=me, trust=trust, transport=transport, clock=lambda: case.now) as client:
                try:
                    client.deliver(sent, endpoint=URL)
                except UnverifiedReplyError as exc:
                    assert exc.reason == "trust"
                    assert isinstance(exc.__cause__, MessageError)
                    return _outcome(exc.__cause__)
    except MessageError as exc:
        return _outcome(exc)
    raise AssertionError(f"{entry} accepted the envelope")


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_refusal_is_the_same_whichever_entry_point_reads_it(
    name: str, pki: TestPki, notification: Notification, sent: exchange.Sealed
) -> None:
    """Same TrustError, reason and path through accept, verify, read_reply and the client's reply reading."""
    case = CASES[name]
    for entry in sorted(case.entries):
        kind, reason, path, message_id = _refusal(entry, case, pki, notification, sent)
        assert (kind, reason, path) == (TrustError, case.reason.value, case.path), entry
        assert message_id is not None and uuid.UUID(message_id), entry


@pytest.mark.parametrize("name", sorted(name for name, case in CASES.items() if ACCEPT in case.entries))
def test_the_signed_error_tells_the_sender_the_reason(name: str, pki: TestPki, notification: Notification) -> None:
    """The refusal's reason travels back as the rule id of the signed Error; the sender reads it in RemoteError."""
    case = CASES[name]
    message = _message(pki, case, notification)
    with pytest.raises(TrustError) as caught:
        exchange.accept(
            message.raw,
            me=pki[US].identity,
            trust=case.trust(pki),
            now=case.now,
            policy=exchange.AcceptPolicy(verify=case.verify_policy),
        )
    reply = exchange.error_for(caught.value, raw=message.raw, me=pki[US].identity, now=case.now)
    error = reply.envelope.document
    assert isinstance(error, Error) and error.code.value == "trust"
    assert [(issue.rule_id, issue.path) for issue in error.issue] == [(case.reason.value, case.path)]


def test_the_sender_reads_the_reason_in_remote_error(pki: TestPki, notification: Notification) -> None:
    """End to end: the peer's client gets the rule id of our refusal in RemoteError.issues."""
    case = CASES["unknown-sender"]
    message = _message(pki, case, notification)
    with pytest.raises(TrustError) as caught:
        exchange.accept(message.raw, me=pki[US].identity, trust=case.trust(pki), now=NOW)
    reply = exchange.error_for(caught.value, raw=message.raw, me=pki[US].identity, now=NOW)
    with pytest.raises(RemoteError) as remote:
        exchange.read_reply(reply.raw, sent=message, me=pki[PEER].identity, trust=pki.trust(), now=NOW)
    assert remote.value.code == "trust"
    assert [issue.rule_id for issue in remote.value.issues] == [TrustReason.UNKNOWN_SENDER.value]


def test_the_table_covers_every_reason_an_entry_point_can_meet() -> None:
    """Every reason has a row, except the signed header disagreeing with the received one (see below)."""
    assert {case.reason for case in CASES.values()} == set(TrustReason) - {TrustReason.SIGNER_NOT_SENDER}


def test_reasons_are_distinct_and_documented() -> None:
    """One stable code per rule, each with its docstring in the enum (the reference for integrators)."""
    assert len({reason.value for reason in TrustReason}) == len(TrustReason)
    tree = ast.parse((SOURCE / "signing.py").read_text(encoding="utf-8"))
    enum_class = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "TrustReason")
    body = enum_class.body
    documented = {
        target.id
        for node, following in zip(body, body[1:], strict=False)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
        and isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    }
    assert documented == {reason.name for reason in TrustReason}


def test_signing_as_someone_else_is_refused_as_signer_not_sender(pki: TestPki, notification: Notification) -> None:
    """The rule the verifier applies to the signed header holds for what we sign too."""
    envelope = Envelope.wrap(
        notification, message_id=uuid.uuid4(), sender=PEER, receiver=US, conversation_id="AU2026-0042", created=NOW
    )
    with pytest.raises(TrustError) as caught:
        signing.sign(envelope, pki[US].identity)
    assert caught.value.reason == TrustReason.SIGNER_NOT_SENDER.value
    assert caught.value.path == "/Envelope/Header/Sender"


def test_replies_answer_any_utility_block(pki: TestPki, sent: exchange.Sealed) -> None:
    """The Utility Block permission is for messages to deliver; a Receipt from a partner of another block passes."""
    reply = _reply(pki, CASES["utility-block"], sent)
    receipted = exchange.read_reply(reply.raw, sent=sent, me=pki[US].identity, trust=_peer_export_only(pki), now=NOW)
    assert receipted.receipt.ref_to_message_id == sent.message_id


# ------------------------------------------------------------------------------------------------ hosted set


def test_a_gateway_hosting_several_participants_accepts_for_each(pki: TestPki, notification: Notification) -> None:
    """accept_for takes the set of hosted participants; a Receiver outside it is refused and named."""
    hosted = frozenset({US, CUSTOMS})
    for to in sorted(hosted):
        message = _message(pki, replace(CASES["misrouted"], to=to), notification)
        inbound = exchange.accept_for(message.raw, hosted=hosted, trust=pki.trust(), now=NOW)
        assert inbound.envelope.header.receiver == to
    elsewhere = _message(pki, replace(CASES["misrouted"], to=THIRD), notification)
    with pytest.raises(TrustError) as caught:
        exchange.accept_for(elsewhere.raw, hosted=hosted, trust=pki.trust(), now=NOW)
    assert caught.value.reason == TrustReason.RECEIVER_NOT_HOSTED.value
    assert caught.value.text == f"the message is addressed to {THIRD}, not to {US}, {CUSTOMS}"


def test_admit_decides_on_ids_alone(pki: TestPki) -> None:
    """The routing decision needs the header's ids and the registry, nothing signed: it runs before any crypto."""
    header = signing.RoutingHeader(
        sender=PEER,
        receiver=US,
        message_id=None,
        conversation_id=None,
        ref_to=None,
        utility_block=UtilityBlock.PIC,
        message_type="Notification",
        created=None,
    )
    partner: Partner = signing.admit(header, hosted={US}, trust=pki.trust())
    assert partner.id == PEER
    assert signing.admit(header, hosted=None, trust=pki.trust()) is partner
    with pytest.raises(TrustError) as caught:
        signing.admit(replace(header, utility_block=None), hosted={US}, trust=pki.trust())
    assert caught.value.reason == TrustReason.UTILITY_BLOCK_NOT_ALLOWED.value


def test_verify_takes_one_receiver_or_a_hosted_set_not_both(pki: TestPki, sent: exchange.Sealed) -> None:
    with pytest.raises(ValueError, match="not both"):
        signing.verify(sent.raw, trust=pki.trust(), now=NOW, receiver=PEER, hosted={PEER})
    assert signing.verify(sent.raw, trust=pki.trust(), now=NOW, receiver=PEER).header.receiver == PEER


# ------------------------------------------------------------------------------------------------ one reader


def _with_comment_in_receiver(raw: bytes) -> bytes:
    split = raw.replace(b"<env:Receiver>MY:DOE<", b"<env:Receiver>MY:<!--c-->DOE<")
    assert split != raw
    return split


def test_a_comment_in_the_receiver_is_refused_by_every_entry_point(
    pki: TestPki, notification: Notification, sent: exchange.Sealed
) -> None:
    """``<Receiver>MY:<!--c-->DOE</Receiver>`` is refused as a comment, never routed as 'MY:' nor as 'MY:DOE'."""
    message = _with_comment_in_receiver(_message(pki, replace(CASES["misrouted"], to=US), notification).raw)
    reply = _with_comment_in_receiver(_reply(pki, replace(CASES["misrouted"], to=US), sent).raw)
    attempts: dict[str, Callable[[], object]] = {
        ACCEPT: lambda: exchange.accept(message, me=pki[US].identity, trust=pki.trust(), now=NOW),
        VERIFY: lambda: signing.verify(message, trust=pki.trust(), now=NOW, hosted={US}),
        READ_REPLY: lambda: exchange.read_reply(reply, sent=sent, me=pki[US].identity, trust=pki.trust(), now=NOW),
    }
    for entry, attempt in attempts.items():
        with pytest.raises(ParseError, match="comment") as caught:
            attempt()
        assert caught.value.path == "/Envelope/Header/Receiver", entry


def test_the_header_reader_reads_the_whole_text_never_the_part_before_a_comment() -> None:
    """Should a tree with a comment reach the reader (codec.parse refuses it), it reads 'MY:DOE', not 'MY:'."""
    raw = (ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml").read_bytes()
    root = etree.fromstring(raw.replace(b"<env:Receiver>MY:DOE<", b"<env:Receiver>MY:<!--c-->DOE<"))  # noqa: S320
    receiver = root.find("{urn:picexchange:envelope:1}Header/{urn:picexchange:envelope:1}Receiver")
    assert receiver is not None and receiver.text == "MY:"
    header = signing.read_header(root)
    assert header.receiver == "MY:DOE"
    assert (header.sender, header.utility_block, header.message_type) == ("AU:DCCEEW", UtilityBlock.PIC, "Notification")
    assert header.created == dt.datetime(2026, 1, 21, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=11)))


def test_verified_carries_the_header_read_from_the_signed_tree(pki: TestPki, sent: exchange.Sealed) -> None:
    verified = signing.verify(sent.raw, trust=pki.trust(), now=NOW, hosted={PEER})
    assert verified.header == signing.read_header(verified.signed_xml)
    assert verified.header.message_id == str(sent.message_id) and verified.header.sender == US


_LOOKUPS = frozenset({"find", "findall", "findtext", "iterfind", "iter", "xpath"})


def _header_lookups(tree: ast.AST) -> list[tuple[str, int]]:
    """Return (enclosing function, line) of each header lookup: a header_text call or a tree search for Header."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            searches_header = name in _LOOKUPS and any("header" in ast.unparse(arg).lower() for arg in node.args)
            if name == "header_text" or searches_header:
                found.append((function.name, node.lineno))
    return found


def test_the_lookup_finder_sees_both_kinds_of_lookup() -> None:
    source = (
        "def a(root):\n    return codec.header_text(root, 'Sender')\n"
        "def b(root):\n    return root.find(f'{{{NS}}}Header/{{{NS}}}Receiver')\n"
        "def c(root):\n    return root.find(_HEADER)\n"
        "def d(root):\n    return root.find('Body')\n"
    )
    assert [name for name, _ in _header_lookups(ast.parse(source))] == ["a", "b", "c"]


def test_no_module_but_the_one_header_reader_looks_up_header_fields() -> None:
    """Only signing.read_header reads header fields from a tree (through codec.header_text, which it owns)."""
    found = {
        (str(path.relative_to(SOURCE)), name)
        for path in sorted(SOURCE.rglob("*.py"))
        for name, _ in _header_lookups(ast.parse(path.read_text(encoding="utf-8")))
    }
    # codec.header_text, the lookup of one field, stays for callers outside the package; nothing inside calls it.
    assert found == {("signing.py", "read_header"), ("codec.py", "header_text")}, found


def test_every_trust_error_names_its_reason() -> None:
    """Each TrustError raised in the package carries a reason; a refusal without one could not be told apart."""
    missing = [
        (str(path.relative_to(SOURCE)), node.lineno)
        for path in sorted(SOURCE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "TrustError"
        and not any(keyword.arg == "reason" for keyword in node.keywords)
    ]
    assert missing == []
