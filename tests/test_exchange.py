"""Two Single Windows against each other through the I/O-free engine: seal, accept, receipt, read_reply."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from picexchange import codec, exchange, signing
from picexchange.errors import (
    BusinessRuleError,
    ConfigurationError,
    MessageTooLarge,
    ParseError,
    RemoteError,
    SchemaError,
    SignatureError,
    TrustError,
)
from picexchange.models.common import Digest
from picexchange.models.envelope import Envelope, Error, Receipt, UtilityBlock
from picexchange.models.pic import Notification
from picexchange.testpki import TestPki, make_test_pki
from picexchange.trust import Identity, TrustStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        ["AU:DCCEEW", "MY:DOE", "MY:RMCD", "SG:NEA"],
        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2028, 1, 1, tzinfo=dt.UTC),
    )


def _registry(pki: TestPki, *, pic_only_for: str | None = None) -> TrustStore:
    partners = []
    for item in pki.participants:
        partner = item.partner
        if partner.id == pic_only_for:
            partner = type(partner)(
                **{
                    **{s: getattr(partner, s) for s in partner.__slots__},
                    "utility_blocks": frozenset({UtilityBlock.EXPORT}),
                }
            )
        partners.append(partner)
    return TrustStore.of(partners)


@pytest.fixture(scope="module")
def notification() -> Notification:
    envelope = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope)
    document = envelope.document
    assert isinstance(document, Notification)
    return document


def test_a_sealed_notification_is_accepted_and_receipted_for_its_exact_bytes(
    pki: TestPki, notification: Notification
) -> None:
    """What one side seals the other accepts; the receipt quotes the digest of the bytes sent."""
    exporter, importer = pki["AU:DCCEEW"], pki["MY:DOE"]
    trust = pki.trust()
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW)
    inbound = exchange.accept(sealed.raw, me=importer.identity, trust=trust, now=NOW + dt.timedelta(seconds=2))
    assert inbound.document == notification
    assert inbound.signer.id == "AU:DCCEEW"
    assert inbound.digest == sealed.digest == exchange.digest_of(sealed.raw)
    receipt = exchange.receipt_for(inbound, me=importer.identity, now=NOW + dt.timedelta(seconds=3))
    receipted = exchange.read_reply(receipt.raw, sent=sealed, me=exporter.identity, trust=trust, now=NOW)
    assert receipted.receipt.ref_to_message_id == sealed.message_id
    assert receipted.envelope.header.conversation_id == notification.notification_number
    assert receipted.envelope.header.utility_block is UtilityBlock.PIC


@pytest.mark.parametrize("test", [False, True])
@pytest.mark.parametrize(
    "received_at",
    [
        NOW + dt.timedelta(seconds=3),
        dt.datetime(2026, 11, 25, 12, 0, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    ],
)
def test_a_receipt_is_the_envelope_and_bytes_the_model_path_makes(
    pki: TestPki, notification: Notification, test: bool, received_at: dt.datetime
) -> None:
    """receipt_for fills a template; it must sign exactly the envelope Receipt + seal (the model path) would."""
    exporter, importer = pki["AU:DCCEEW"], pki["MY:DOE"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW, test=test)
    inbound = exchange.accept(sealed.raw, me=importer.identity, trust=pki.trust(), now=NOW)
    message_id = uuid.uuid4()
    receipt = exchange.receipt_for(inbound, me=importer.identity, now=received_at, message_id=message_id)
    by_model = exchange.seal(
        Receipt(
            ref_to_message_id=sealed.message_id,
            received_digest=Digest(value=inbound.digest),
            received_at=received_at,
        ),
        me=importer.identity,
        to="AU:DCCEEW",
        now=received_at,
        message_id=message_id,
        conversation_id=notification.notification_number,
        ref_to=sealed.message_id,
        utility_block=UtilityBlock.PIC,
        test=test,
    )
    assert receipt.envelope == by_model.envelope
    assert receipt.raw == by_model.raw  # RSA PKCS#1 v1.5 signatures are deterministic: same input, same bytes
    assert receipt.digest == by_model.digest


def test_a_receipt_tree_is_signed_as_sign_signs_it_and_the_signer_checks_still_refuse(
    pki: TestPki, notification: Notification
) -> None:
    """receipt_for signs its template tree without sign()'s checks of a foreign tree: same bytes, same refusals."""
    exporter, importer = pki["AU:DCCEEW"], pki["MY:DOE"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW)
    inbound = exchange.accept(sealed.raw, me=importer.identity, trust=pki.trust(), now=NOW)
    receipt = exchange.receipt_for(inbound, me=importer.identity, now=NOW)
    document = receipt.envelope.document
    assert isinstance(document, Receipt)
    tree = exchange._receipt_template(False).fill(receipt.envelope.header, document)
    before = etree.tostring(tree)
    assert signing._sign_built(tree, importer.identity, sender="MY:DOE") == signing.sign(tree, importer.identity)
    assert signing._sign_built(tree, importer.identity, sender="MY:DOE") == receipt.raw
    assert etree.tostring(tree) == before  # neither path changes the tree it signs
    read = exchange.read_reply(receipt.raw, sent=sealed, me=exporter.identity, trust=pki.trust(), now=NOW)
    assert read.receipt.received_digest.value == sealed.digest
    # A Sender that is not the signer, and a weak key, are refused as sign() refuses them, at every call.
    with pytest.raises(TrustError, match="Sender is MY:DOE, but we sign as MY:RMCD") as caught:
        signing._sign_built(tree, pki["MY:RMCD"].identity, sender="MY:DOE")
    assert caught.value.reason == "signer-not-sender"
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = Identity(participant="MY:DOE", private_key=weak_key, certificate=_certificate_of(weak_key))
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="RSA key of 1024 bits is too small"):
            exchange.receipt_for(inbound, me=weak, now=NOW)


def _certificate_of(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MY:DOE - TEST ONLY")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_a_message_for_someone_else_is_refused_before_its_signature_is_checked(
    pki: TestPki, notification: Notification
) -> None:
    sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)
    with pytest.raises(TrustError) as caught:
        exchange.accept(sealed.raw, me=pki["MY:RMCD"].identity, trust=pki.trust(), now=NOW)
    assert "addressed to MY:DOE, not to MY:RMCD" in caught.value.text
    assert caught.value.message_id == str(sealed.message_id)
    assert caught.value.path == "/Envelope/Header/Receiver"
    assert caught.value.reason == "receiver-not-hosted"
    # Before the signature: a broken signature on a misrouted message is still refused as misrouted.
    tampered = sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<")
    with pytest.raises(TrustError) as misrouted:
        exchange.accept(tampered, me=pki["MY:RMCD"].identity, trust=pki.trust(), now=NOW)
    assert misrouted.value.reason == "receiver-not-hosted"


def test_an_unknown_sender_is_refused(pki: TestPki, notification: Notification) -> None:
    sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)
    others = TrustStore.of(p.partner for p in pki.participants if p.id != "AU:DCCEEW")
    with pytest.raises(TrustError, match="unknown sender AU:DCCEEW") as caught:
        exchange.accept(sealed.raw, me=pki["MY:DOE"].identity, trust=others, now=NOW)
    assert caught.value.reason == "unknown-sender"


def test_a_sender_not_allowed_for_the_utility_block_is_refused(pki: TestPki, notification: Notification) -> None:
    sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)
    with pytest.raises(TrustError, match="may not send messages of Utility Block pic") as caught:
        exchange.accept(sealed.raw, me=pki["MY:DOE"].identity, trust=_registry(pki, pic_only_for="AU:DCCEEW"), now=NOW)
    assert caught.value.reason == "utility-block-not-allowed"


def test_a_changed_byte_in_the_body_breaks_the_signature(pki: TestPki, notification: Notification) -> None:
    sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW)
    tampered = sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<")
    assert tampered != sealed.raw
    with pytest.raises(SignatureError):
        exchange.accept(tampered, me=pki["MY:DOE"].identity, trust=pki.trust(), now=NOW)


@pytest.mark.parametrize(
    ("created", "words", "reason"),
    [
        (NOW + dt.timedelta(minutes=10), "in the future", "created-in-future"),
        (NOW - dt.timedelta(days=31), "older than 30 days", "created-too-old"),
    ],
)
def test_created_outside_the_allowed_window_is_refused(
    pki: TestPki, notification: Notification, created: dt.datetime, words: str, reason: str
) -> None:
    sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=created)
    with pytest.raises(TrustError, match=words) as caught:
        exchange.accept(sealed.raw, me=pki["MY:DOE"].identity, trust=pki.trust(), now=NOW)
    assert (caught.value.reason, caught.value.path) == (reason, "/Envelope/Header/Created")


def test_created_within_the_allowed_window_is_accepted(pki: TestPki, notification: Notification) -> None:
    """The window's edges belong to it: a clock 5 minutes ahead, a message 30 days old (retries resend it)."""
    for created in (NOW + dt.timedelta(minutes=5), NOW - dt.timedelta(days=30)):
        sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=created)
        inbound = exchange.accept(sealed.raw, me=pki["MY:DOE"].identity, trust=pki.trust(), now=NOW)
        assert inbound.signer.id == "AU:DCCEEW"


def test_oversize_and_hostile_input_fail_before_anything_else(pki: TestPki) -> None:
    importer = pki["MY:DOE"].identity
    with pytest.raises(MessageTooLarge):
        exchange.accept(
            b"<a/>" * 10,
            me=importer,
            trust=pki.trust(),
            now=NOW,
            policy=exchange.AcceptPolicy(limits=codec.Limits(max_bytes=16)),
        )
    with pytest.raises(ParseError):
        exchange.accept(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', me=importer, trust=pki.trust(), now=NOW)


def test_a_refusal_travels_back_as_a_signed_error_the_sender_reads_as_remote_error(
    pki: TestPki, notification: Notification
) -> None:
    """The importer refuses; its signed Error names the code and the path; the exporter gets RemoteError."""
    exporter, importer = pki["AU:DCCEEW"], pki["MY:DOE"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW)
    tampered = sealed.raw.replace(b"<pic:IntendedShipments>8<", b"<pic:IntendedShipments>9<")
    with pytest.raises(SignatureError) as caught:
        exchange.accept(tampered, me=importer.identity, trust=pki.trust(), now=NOW)
    reply = exchange.error_for(caught.value, raw=tampered, me=importer.identity, now=NOW)
    assert reply.receiver == "AU:DCCEEW"
    error = reply.envelope.document
    assert isinstance(error, Error) and error.code.value == "signature"
    with pytest.raises(RemoteError) as remote:
        exchange.read_reply(reply.raw, sent=sealed, me=exporter.identity, trust=pki.trust(), now=NOW)
    assert remote.value.code == "signature"
    assert remote.value.issues and remote.value.issues[0].text == caught.value.text


def test_an_error_for_unreadable_bytes_goes_to_the_unknown_participant(pki: TestPki) -> None:
    reply = exchange.error_for(
        ParseError("not well-formed XML", line=3), raw=b"<oops", me=pki["MY:DOE"].identity, now=NOW
    )
    assert reply.receiver == exchange.UNKNOWN_PARTICIPANT
    error = reply.envelope.document
    assert isinstance(error, Error) and error.issue[0].line == 3 and error.ref_to_message_id is None


def test_a_receipt_for_other_bytes_is_not_proof_of_receipt(pki: TestPki, notification: Notification) -> None:
    exporter, importer = pki["AU:DCCEEW"], pki["MY:DOE"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW)
    inbound = exchange.accept(sealed.raw, me=importer.identity, trust=pki.trust(), now=NOW)
    forged = exchange.seal(
        Receipt(
            ref_to_message_id=sealed.message_id,
            received_digest={"value": exchange.digest_of(b"other")},  # type: ignore[arg-type]
            received_at=NOW,
        ),
        me=importer.identity,
        to="AU:DCCEEW",
        now=NOW,
        conversation_id=inbound.envelope.header.conversation_id,
        ref_to=sealed.message_id,
        utility_block=UtilityBlock.PIC,
    )
    with pytest.raises(SignatureError, match="quotes digest"):
        exchange.read_reply(forged.raw, sent=sealed, me=exporter.identity, trust=pki.trust(), now=NOW)


def test_a_receipt_signed_by_a_third_party_is_refused(pki: TestPki, notification: Notification) -> None:
    exporter = pki["AU:DCCEEW"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW)
    inbound_elsewhere = exchange.Inbound(
        envelope=sealed.envelope, raw=sealed.raw, digest=sealed.digest, signer=exporter.partner
    )
    receipt = exchange.receipt_for(inbound_elsewhere, me=pki["SG:NEA"].identity, now=NOW)
    with pytest.raises(TrustError, match="signed by SG:NEA, not by MY:DOE") as caught:
        exchange.read_reply(receipt.raw, sent=sealed, me=exporter.identity, trust=pki.trust(), now=NOW)
    assert caught.value.reason == "unexpected-sender"


def test_a_fixed_message_id_is_kept(pki: TestPki, notification: Notification) -> None:
    fixed = uuid.UUID("0b5a2c1e-4d3f-4a6b-9c8d-7e6f5a4b3c2d")
    sealed = exchange.seal(notification, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW, message_id=fixed)
    assert sealed.message_id == fixed
    assert (
        exchange.accept(sealed.raw, me=pki["MY:DOE"].identity, trust=pki.trust(), now=NOW).envelope.header.message_id
        == fixed
    )


def test_a_genuinely_signed_breach_of_a_basel_rule_is_refused_with_rule_path_and_line(
    pki: TestPki, notification: Notification
) -> None:
    """Signed by the right key, schema-valid, but an individual shipment notification with 8 shipments."""
    envelope = Envelope.wrap(
        notification,
        message_id=uuid.uuid4(),
        sender="AU:DCCEEW",
        receiver="MY:DOE",
        conversation_id=notification.notification_number,
        created=NOW,
    )
    unsigned = codec.to_xml(envelope).replace(b"<pic:ShipmentMode>multiple<", b"<pic:ShipmentMode>individual<")
    raw = signing.sign(unsigned, pki["AU:DCCEEW"].identity)
    with pytest.raises(BusinessRuleError) as caught:
        exchange.accept(raw, me=pki["MY:DOE"].identity, trust=pki.trust(), now=NOW)
    [violation] = caught.value.violations
    assert violation.rule_id == "V-A 4"
    assert violation.path == "/Envelope/Body/Notification/IntendedShipments"
    line = next(n for n, text in enumerate(raw.decode().splitlines(), 1) if "<pic:IntendedShipments>" in text)
    assert violation.line == line
    assert caught.value.message_id == str(envelope.header.message_id)


def test_a_partner_registered_for_export_only_may_still_answer_a_pic_message(
    pki: TestPki, notification: Notification
) -> None:
    """Replies are not messages of a Utility Block: Customs (export only) can receipt what was sent to it."""
    exporter = pki["AU:DCCEEW"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:RMCD", now=NOW)
    inbound = exchange.Inbound(envelope=sealed.envelope, raw=sealed.raw, digest=sealed.digest, signer=exporter.partner)
    receipt = exchange.receipt_for(inbound, me=pki["MY:RMCD"].identity, now=NOW)
    assert UtilityBlock.PIC not in pki["MY:RMCD"].partner.utility_blocks
    receipted = exchange.read_reply(receipt.raw, sent=sealed, me=exporter.identity, trust=pki.trust(), now=NOW)
    assert receipted.receipt.ref_to_message_id == sealed.message_id


def test_a_transport_reply_posted_as_a_message_is_refused(pki: TestPki, notification: Notification) -> None:
    exporter, importer = pki["AU:DCCEEW"], pki["MY:DOE"]
    sealed = exchange.seal(notification, me=exporter.identity, to="MY:DOE", now=NOW)
    inbound = exchange.accept(sealed.raw, me=importer.identity, trust=pki.trust(), now=NOW)
    receipt = exchange.receipt_for(inbound, me=importer.identity, now=NOW)
    with pytest.raises(SchemaError) as caught:
        exchange.accept(receipt.raw, me=exporter.identity, trust=pki.trust(), now=NOW)
    assert caught.value.path == "/Envelope/Header/MessageType"
    assert caught.value.message_id == str(receipt.message_id)
