"""Signed envelopes: what verify must accept and every way of forging or bending one it must refuse.

Every rejection is built from a genuinely signed envelope (signed with the test PKI), changed the way an
attacker would change it. Where signxml alone would accept the forgery, a test says so, to show why
picexchange checks it itself (DESIGN §6).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from picexchange import codec, schemas, signing, testpki
from picexchange.codec import Limits
from picexchange.errors import (
    BusinessRuleError,
    ConfigurationError,
    MessageError,
    MessageTooLarge,
    ParseError,
    SchemaError,
    SignatureError,
    TrustError,
)
from picexchange.files.registry import load_trust
from picexchange.models.envelope import Envelope, UtilityBlock
from picexchange.models.pic import Acknowledgement
from picexchange.trust import Identity, Partner, RegisteredCertificate, TrustStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VALID_TO = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
NS = {"env": "urn:picexchange:envelope:1", "ds": "http://www.w3.org/2000/09/xmldsig#"}
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def pki() -> testpki.TestPki:
    return testpki.make_test_pki(
        ["AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD"], not_before=VALID_FROM, not_after=VALID_TO
    )


@pytest.fixture(scope="module")
def trust(pki: testpki.TestPki) -> TrustStore:
    return pki.trust()


def make_envelope(sender: str = "MY:DOE", receiver: str = "AU:DCCEEW") -> Envelope:
    acknowledgement = Acknowledgement(
        notification_number="AU2026-0042",
        country=sender[:2],
        competent_authority=sender,
        notification_received_on=dt.date(2026, 3, 2),
        acknowledged_on=dt.date(2026, 3, 3),
        complete=False,
        remarks="Please attach the contract between the exporter and the facility.",
    )
    return Envelope.wrap(
        acknowledgement,
        message_id=uuid.UUID("6f1c2a47-52a4-4a8b-9d0e-3c1f5e2b7a10"),
        conversation_id="AU2026-0042",
        sender=sender,
        receiver=receiver,
        created=dt.datetime(2026, 3, 3, 9, 30, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def envelope() -> Envelope:
    return make_envelope()


@pytest.fixture(scope="module")
def signed(pki: testpki.TestPki, envelope: Envelope) -> bytes:
    """A genuine envelope from MY:DOE to AU:DCCEEW, pretty-printed (whitespace is signed too)."""
    return signing.sign(codec.to_xml(envelope), pki["MY:DOE"].identity)


def verify(raw: bytes, trust: TrustStore, **options: Any) -> signing.Verified:
    return signing.verify(raw, trust=trust, now=options.pop("now", NOW), **options)


def tree(raw: bytes) -> etree._Element:
    return codec.parse(raw)


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def signxml_sign(
    data: etree._Element,
    key: Any,
    certificate: x509.Certificate,
    *,
    signer: type[XMLSigner] = XMLSigner,
    algorithm: SignatureMethod = SignatureMethod.RSA_SHA256,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    c14n_method: CanonicalizationMethod = EXC_C14N,
    **options: Any,
) -> bytes:
    """Sign with signxml directly, the way a careless or hostile peer might."""
    made = signer(signature_algorithm=algorithm, digest_algorithm=digest, c14n_algorithm=c14n_method)
    return serialise(made.sign(data, key=key, cert=[certificate], **options))


def self_signed(
    key: Any, *, subject: str = "MY:DOE", ca: bool = False, digital_signature: bool = True
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{subject} - TEST ONLY")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_TO)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=not digital_signature,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def partner_with(certificate: x509.Certificate, participant: str = "MY:DOE", **window: dt.datetime) -> Partner:
    return Partner(
        id=participant,
        name="Department of Environment Malaysia",
        country=participant[:2],
        role=testpki.KNOWN_PARTICIPANTS["MY:DOE"][1],
        utility_blocks=frozenset({UtilityBlock.PIC}),
        certificates=(RegisteredCertificate.of(certificate, **window),),
    )


# ------------------------------------------------------------------------------------------------ genuine


def test_a_signed_envelope_verifies_and_reads_what_was_signed(
    signed: bytes, trust: TrustStore, envelope: Envelope, pki: testpki.TestPki
) -> None:
    """Verify returns the envelope decoded from the signed tree, the signer and its certificate."""
    verified = verify(signed, trust, receiver="AU:DCCEEW")
    assert verified.envelope == envelope
    assert verified.signer.id == "MY:DOE"
    assert verified.certificate == pki["MY:DOE"].certificate
    assert verified.algorithm is signing.SignatureAlgorithm.RSA_SHA256
    assert verified.signed_xml.tag == "{urn:picexchange:envelope:1}Envelope"
    assert verified.signed_xml.find("ds:Signature", NS) is None


def test_the_signature_is_enveloped_over_the_whole_envelope(signed: bytes) -> None:
    """One ds:Signature, last child, Reference URI="", exclusive C14N, the signer's certificate in KeyInfo."""
    root = tree(signed)
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert len(root.findall(".//ds:Signature", NS)) == 1
    references = root.findall("ds:Signature/ds:SignedInfo/ds:Reference", NS)
    assert [reference.get("URI") for reference in references] == [""]
    transforms = [item.get("Algorithm") for item in references[0].iterfind("ds:Transforms/ds:Transform", NS)]
    assert transforms == [signing.ENVELOPED, signing.EXCLUSIVE_C14N]
    method = root.find("ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod", NS)
    assert method is not None and method.get("Algorithm") == signing.EXCLUSIVE_C14N
    assert len(root.findall("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)) == 1


def test_the_signed_envelope_still_validates_against_the_schemas(signed: bytes) -> None:
    """The envelope XSD allows exactly the one ds:Signature after the Body."""
    schemas.check_envelope(tree(signed))
    schemas.check_document(tree(signed))
    assert schemas.validate(signed).ok


@pytest.mark.parametrize(
    ("key_type", "algorithm"),
    [
        (testpki.KeyType.RSA_2048, signing.SignatureAlgorithm.RSA_PSS_SHA256),
        (testpki.KeyType.RSA_3072, signing.SignatureAlgorithm.RSA_SHA384),
        (testpki.KeyType.EC_P256, None),
        (testpki.KeyType.EC_P384, None),
    ],
)
def test_rsa_pss_stronger_rsa_and_ecdsa_sign_and_verify(
    key_type: testpki.KeyType, algorithm: signing.SignatureAlgorithm | None, envelope: Envelope
) -> None:
    """RSA-PSS, RSA-3072 and ECDSA on P-256 and P-384 are accepted; EC keys pick the curve's hash."""
    other = testpki.make_test_pki(["MY:DOE"], not_before=VALID_FROM, not_after=VALID_TO, key_type=key_type)
    raw = signing.sign(envelope, other["MY:DOE"].identity, algorithm=algorithm)
    verified = verify(raw, other.trust())
    expected = (
        algorithm
        or {
            testpki.KeyType.EC_P256: signing.SignatureAlgorithm.ECDSA_SHA256,
            testpki.KeyType.EC_P384: signing.SignatureAlgorithm.ECDSA_SHA384,
        }[key_type]
    )
    assert verified.algorithm is expected
    assert verified.envelope == envelope


def test_sign_takes_a_model_a_tree_or_bytes_and_leaves_the_tree_alone(pki: testpki.TestPki, envelope: Envelope) -> None:
    """The three inputs give the same signed envelope; a tree given is not modified."""
    identity = pki["MY:DOE"].identity
    root = codec.encode(envelope)
    before = c14n(root)
    from_tree = signing.sign(root, identity)
    assert c14n(root) == before
    assert from_tree == signing.sign(envelope, identity) == signing.sign(serialise(root), identity)


def test_verify_leaves_a_tree_given_alone_and_returns_a_tree_of_its_own(signed: bytes, trust: TrustStore) -> None:
    """signxml reads the caller's tree in place: it keeps its signature and bytes; the result is another tree."""
    root = tree(signed)
    before = serialise(root)
    verified = signing.verify(root, trust=trust, now=NOW, receiver="AU:DCCEEW")
    assert serialise(root) == before
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert verified.signed_xml.getroottree() is not root.getroottree()
    assert verified.signed_xml.find("ds:Signature", NS) is None
    # The same tree verifies again: nothing of the first check was left in it.
    assert signing.verify(root, trust=trust, now=NOW, receiver="AU:DCCEEW").envelope == verified.envelope


def test_a_comment_inside_a_signed_value_is_refused(signed: bytes, trust: TrustStore) -> None:
    """Comments are not signed (C14N without comments), so one inside a value is refused before verifying.

    A reader stopping at the comment would act on "Please"; the rule and its tests are in test_signed_text.py.
    """
    raw = signed.replace(b"<pic:Remarks>Please attach", b"<pic:Remarks>Please<!-- hi --> attach")
    assert raw != signed
    with pytest.raises(ParseError, match="a comment inside the document is not allowed") as caught:
        verify(raw, trust)
    assert caught.value.path == "/Envelope/Body/Acknowledgement/Remarks"


# ------------------------------------------------------------------------------------------------ tampering


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<env:Receiver>AU:DCCEEW<", b"<env:Receiver>AU:ABF<"),
        (b"<env:MessageId>6f1c2a47", b"<env:MessageId>6f1c2a48"),
        (b"<env:Created>2026-03-03T09:30:00Z", b"<env:Created>2026-03-04T09:30:00Z"),
        (b"<env:ConversationId>AU2026-0042<", b"<env:ConversationId>AU2026-0043<"),
    ],
    ids=["receiver", "message-id", "created", "conversation"],
)
def test_a_changed_header_is_rejected(signed: bytes, trust: TrustStore, old: bytes, new: bytes) -> None:
    """Routing data is signed with the rest: changing it breaks the digest."""
    assert old in signed
    with pytest.raises(SignatureError, match="changed after signing"):
        verify(signed.replace(old, new), trust)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<pic:Complete>false<", b"<pic:Complete>true<"),
        (b"the facility.</pic:Remarks>", b"the facility!</pic:Remarks>"),
        (b"<pic:AcknowledgedOn>2026-03-03<", b"<pic:AcknowledgedOn>2026-03-04<"),
    ],
    ids=["complete", "remarks", "date"],
)
def test_a_changed_body_is_rejected(signed: bytes, trust: TrustStore, old: bytes, new: bytes) -> None:
    """The business document is signed: changing a value breaks the digest."""
    assert old in signed
    with pytest.raises(SignatureError, match="changed after signing"):
        verify(signed.replace(old, new), trust)


def test_an_added_element_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Adding an optional header element after signing breaks the digest."""
    raw = signed.replace(b"</env:Created>", b"</env:Created><env:TestIndicator>true</env:TestIndicator>")
    with pytest.raises(SignatureError, match="changed after signing"):
        verify(raw, trust)


def test_a_changed_signature_value_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """The signature value must verify with the Sender's registered key."""
    root = tree(signed)
    value = root.find("ds:Signature/ds:SignatureValue", NS)
    assert value is not None and value.text is not None
    value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
    with pytest.raises(SignatureError, match="does not verify"):
        verify(serialise(root), trust)


def test_a_changed_digest_value_is_rejected(signed: bytes, trust: TrustStore, pki: testpki.TestPki) -> None:
    """A digest matching forged content does not help: SignedInfo itself is signed."""
    forged = tree(signed.replace(b"<pic:Complete>false<", b"<pic:Complete>true<"))
    signature = forged.find("ds:Signature", NS)
    assert signature is not None
    forged.remove(signature)
    digest = base64.b64encode(hashlib.sha256(c14n(forged)).digest()).decode()
    forged.append(signature)
    digest_value = signature.find("ds:SignedInfo/ds:Reference/ds:DigestValue", NS)
    assert digest_value is not None
    digest_value.text = digest
    with pytest.raises(SignatureError, match="does not verify"):
        verify(serialise(forged), trust)


# ------------------------------------------------------------------------------------------------ placement


def test_an_unsigned_envelope_is_rejected(envelope: Envelope, trust: TrustStore) -> None:
    """No ds:Signature, no message."""
    with pytest.raises(SignatureError, match="not signed"):
        verify(codec.to_xml(envelope), trust)


def test_a_removed_signature_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Stripping the signature from a genuine envelope leaves an unsigned one."""
    root = tree(signed)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    root.remove(signature)
    with pytest.raises(SignatureError, match="not signed"):
        verify(serialise(root), trust)


def test_a_duplicated_signature_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Exactly one ds:Signature: a second copy is refused, even an identical one."""
    root = tree(signed)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    root.append(copy.deepcopy(signature))
    with pytest.raises(SignatureError, match="2 ds:Signature"):
        verify(serialise(root), trust)


def test_a_signature_moved_into_the_header_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """The signature must be the last child of the Envelope."""
    root = tree(signed)
    signature = root.find("ds:Signature", NS)
    header = root.find("env:Header", NS)
    assert signature is not None and header is not None
    header.append(signature)
    with pytest.raises(SignatureError, match="Header, Body and ds:Signature"):
        verify(serialise(root), trust)


def test_the_signed_envelope_moved_inside_another_element_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Wrapping: a genuine envelope inside an attacker's element is not accepted as the message."""
    wrapper = etree.Element("{urn:picexchange:envelope:1}Envelope")
    forged = make_envelope(receiver="AU:ABF")
    for child in codec.encode(forged):
        wrapper.append(child)
    header = wrapper.find("env:Header", NS)
    assert header is not None
    header.append(tree(signed))  # the original hidden inside the forged header
    with pytest.raises(SignatureError, match="Header, Body and ds:Signature"):
        verify(serialise(wrapper), trust)
    outer = etree.Element("Wrapper")
    outer.append(tree(signed))
    with pytest.raises(SignatureError, match="root element is Wrapper"):
        verify(serialise(outer), trust)


def test_a_second_body_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Wrapping: a forged Body placed before the signed one is refused before anything reads it."""
    root = tree(signed)
    forged_body = codec.encode(make_envelope(receiver="AU:ABF")).find("env:Body", NS)
    assert forged_body is not None
    root.insert(1, forged_body)
    with pytest.raises(SignatureError, match="Header, Body and ds:Signature"):
        verify(serialise(root), trust)


def test_the_original_hidden_in_a_ds_object_is_rejected(signed: bytes, trust: TrustStore, pki: testpki.TestPki) -> None:
    """Wrapping: forged content with the genuine envelope tucked into a ds:Object of the signature.

    signxml alone accepts a ds:Object added to a genuine signature (the enveloped transform removes it
    before digesting), so picexchange refuses ds:Object outright.
    """
    root = tree(signed)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    hidden = etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}Object")
    hidden.append(tree(codec.to_xml(make_envelope(receiver="AU:ABF"))))
    raw = serialise(root)
    config = SignatureConfiguration(location="./", expect_references=1)
    XMLVerifier().verify(tree(raw), x509_cert=pki["MY:DOE"].certificate, expect_config=config)  # signxml: fine
    with pytest.raises(SignatureError, match="ds:Object is not allowed"):
        verify(raw, trust)


def test_a_reference_to_part_of_the_envelope_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """The one Reference must be URI="" (the whole envelope), not an element picked by Id."""
    root = codec.encode(make_envelope())
    body = root.find("env:Body", NS)
    assert body is not None
    body.set("Id", "body")
    doe = pki["MY:DOE"]
    raw = signxml_sign(root, doe.private_key, doe.certificate, reference_uri="#body")
    with pytest.raises(SignatureError, match='URI=""'):
        verify(raw, trust)


def test_two_references_are_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """Exactly one Reference."""
    root = codec.encode(make_envelope())
    for name in ("Header", "Body"):
        element = root.find(f"env:{name}", NS)
        assert element is not None
        element.set("Id", name.lower())
    doe = pki["MY:DOE"]
    raw = signxml_sign(root, doe.private_key, doe.certificate, reference_uri=["#header", "#body"])
    with pytest.raises(SignatureError, match="exactly one Reference, not 2"):
        verify(raw, trust)


# ------------------------------------------------------------------------------------------------ algorithms


class _Sha1Signer(XMLSigner):
    """A signer told to allow SHA-1, as old peers do."""

    def check_deprecated_methods(self) -> None:
        return None


def test_a_sha1_signature_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """RSA-SHA1 is refused even with a genuine key."""
    doe = pki["MY:DOE"]
    raw = signxml_sign(
        codec.encode(make_envelope()),
        doe.private_key,
        doe.certificate,
        signer=_Sha1Signer,
        algorithm=SignatureMethod.RSA_SHA1,
    )
    with pytest.raises(SignatureError, match="SHA-1 signatures"):
        verify(raw, trust)


def test_a_sha1_digest_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """A SHA-256 signature over a SHA-1 reference digest is refused."""
    doe = pki["MY:DOE"]
    raw = signxml_sign(
        codec.encode(make_envelope()), doe.private_key, doe.certificate, signer=_Sha1Signer, digest=DigestAlgorithm.SHA1
    )
    with pytest.raises(SignatureError, match="SHA-1 digests"):
        verify(raw, trust)


def test_a_policy_can_narrow_the_algorithms(signed: bytes, trust: TrustStore) -> None:
    """A policy accepting only ECDSA refuses an RSA signature; a policy cannot widen the defaults."""
    only_ec = signing.VerifyPolicy(signature_algorithms=frozenset({signing.SignatureAlgorithm.ECDSA_SHA256}))
    with pytest.raises(SignatureError, match="not accepted by the policy"):
        verify(signed, trust, policy=only_ec)
    with pytest.raises(ConfigurationError):
        signing.VerifyPolicy(min_rsa_bits=1024)


@pytest.mark.parametrize(
    "c14n_method",
    [
        CanonicalizationMethod.CANONICAL_XML_1_1,
        CanonicalizationMethod.CANONICAL_XML_1_0,
        CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS,
    ],
)
def test_canonicalisation_other_than_exclusive_c14n_is_rejected(
    pki: testpki.TestPki, trust: TrustStore, c14n_method: CanonicalizationMethod
) -> None:
    """Inclusive C14N and C14N with comments are refused."""
    doe = pki["MY:DOE"]
    raw = signxml_sign(codec.encode(make_envelope()), doe.private_key, doe.certificate, c14n_method=c14n_method)
    with pytest.raises(SignatureError, match="exclusive C14N without comments"):
        verify(raw, trust)


def test_a_reference_without_the_c14n_transform_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """Without an explicit exclusive C14N transform signxml would fall back to inclusive C14N 1.1."""
    doe = pki["MY:DOE"]
    raw = signxml_sign(
        codec.encode(make_envelope()), doe.private_key, doe.certificate, exclude_c14n_transform_element=True
    )
    with pytest.raises(SignatureError, match="transforms must be enveloped-signature then exclusive C14N"):
        verify(raw, trust)


class _XPathSigner(XMLSigner):
    """Adds an XPath transform that signxml silently ignores when verifying."""

    def _build_transforms_for_reference(self, *, transforms_node: Any, reference: Any, **options: Any) -> None:
        super()._build_transforms_for_reference(transforms_node=transforms_node, reference=reference, **options)
        xpath = etree.SubElement(
            transforms_node,
            "{http://www.w3.org/2000/09/xmldsig#}Transform",
            Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116",
        )
        etree.SubElement(xpath, "{http://www.w3.org/2000/09/xmldsig#}XPath").text = "not(ancestor-or-self::env:Body)"


def test_a_transform_other_than_enveloped_and_exclusive_c14n_is_rejected(
    pki: testpki.TestPki, trust: TrustStore
) -> None:
    """An extra XPath transform is refused, though signxml alone accepts the signature."""
    doe = pki["MY:DOE"]
    raw = signxml_sign(codec.encode(make_envelope()), doe.private_key, doe.certificate, signer=_XPathSigner)
    config = SignatureConfiguration(location="./", expect_references=1)
    XMLVerifier().verify(tree(raw), x509_cert=doe.certificate, expect_config=config)  # signxml: fine
    with pytest.raises(SignatureError, match="transforms"):
        verify(raw, trust)


def test_a_key_value_beside_the_certificate_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """KeyInfo carries the signer's certificate and nothing else (no ambiguous KeyValue)."""
    doe = pki["MY:DOE"]
    raw = signxml_sign(codec.encode(make_envelope()), doe.private_key, doe.certificate, always_add_key_value=True)
    with pytest.raises(SignatureError, match="KeyInfo must hold the signer's certificate only"):
        verify(raw, trust)


# ------------------------------------------------------------------------------------------------ trust


def test_an_unknown_sender_is_rejected(pki: testpki.TestPki) -> None:
    """A genuine signature by a participant not in our registry is refused."""
    others = TrustStore.of([pki["AU:DCCEEW"].partner])
    raw = signing.sign(make_envelope(), pki["MY:DOE"].identity)
    with pytest.raises(TrustError, match="unknown sender MY:DOE") as caught:
        verify(raw, others)
    assert caught.value.reason == "unknown-sender"


def test_a_certificate_not_registered_for_the_sender_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """A key and certificate the attacker made, naming MY:DOE, are not MY:DOE's registered certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = Identity(participant="MY:DOE", private_key=key, certificate=self_signed(key))
    raw = signing.sign(make_envelope(), impostor)
    with pytest.raises(TrustError, match="not registered for MY:DOE") as caught:
        verify(raw, trust)
    assert caught.value.reason == "certificate-not-registered"


def test_another_partners_genuine_certificate_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """AU:ABF signing as MY:DOE with its own genuine key and certificate: the certificate is not MY:DOE's."""
    abf = pki["AU:ABF"]
    posing = Identity(participant="MY:DOE", private_key=abf.private_key, certificate=abf.certificate)
    raw = signing.sign(make_envelope(), posing)
    with pytest.raises(TrustError, match="belongs to AU:ABF, not to the header's Sender MY:DOE") as caught:
        verify(raw, trust)
    assert caught.value.reason == "certificate-of-another-partner"


def test_another_partners_genuine_key_with_the_senders_certificate_is_rejected(
    pki: testpki.TestPki, trust: TrustStore
) -> None:
    """AU:ABF's key with MY:DOE's (public) certificate in KeyInfo: the signature does not verify."""
    raw = signxml_sign(codec.encode(make_envelope()), pki["AU:ABF"].private_key, pki["MY:DOE"].certificate)
    with pytest.raises(SignatureError, match="does not verify with the registered certificate of MY:DOE"):
        verify(raw, trust)


def test_a_receiver_other_than_us_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """With receiver given, the signed Receiver must be it (no replay to another receiver)."""
    verify(signed, trust, receiver="AU:DCCEEW")
    with pytest.raises(TrustError, match="addressed to AU:DCCEEW, not to AU:ABF") as caught:
        verify(signed, trust, receiver="AU:ABF")
    assert caught.value.reason == "receiver-not-hosted"


def test_a_utility_block_the_sender_may_not_send_is_rejected(pki: testpki.TestPki, trust: TrustStore) -> None:
    """AU:ABF (Customs) may send export data, not PIC messages."""
    raw = signing.sign(make_envelope(sender="AU:ABF", receiver="MY:DOE"), pki["AU:ABF"].identity)
    with pytest.raises(TrustError, match="AU:ABF may not send messages of Utility Block pic") as caught:
        verify(raw, trust)
    assert caught.value.reason == "utility-block-not-allowed"


def test_an_expired_certificate_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """After the certificate's validity the signature is refused."""
    with pytest.raises(TrustError, match="expired on 2027-01-01") as caught:
        verify(signed, trust, now=dt.datetime(2027, 1, 2, tzinfo=dt.UTC))
    assert caught.value.reason == "certificate-not-valid"


def test_a_not_yet_valid_certificate_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Before the certificate's validity the signature is refused."""
    with pytest.raises(TrustError, match="not valid before 2026-01-01") as caught:
        verify(signed, trust, now=dt.datetime(2025, 12, 31, tzinfo=dt.UTC))
    assert caught.value.reason == "certificate-not-valid"


def test_a_certificate_past_its_registered_period_is_rejected(signed: bytes, pki: testpki.TestPki) -> None:
    """The registry's period narrows the certificate's own: a retired certificate is refused."""
    retired = TrustStore.of([partner_with(pki["MY:DOE"].certificate, not_after=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))])
    with pytest.raises(TrustError, match="expired on 2026-05-01") as caught:
        verify(signed, retired)
    assert caught.value.reason == "certificate-not-valid"


def test_key_rollover_accepts_the_new_certificate_and_refuses_the_retired_one(
    pki: testpki.TestPki, envelope: Envelope
) -> None:
    """Two certificates for one partner: each is accepted within its registered period only."""
    old, new = pki["MY:DOE"], testpki.make_test_pki(["MY:DOE"], not_before=VALID_FROM, not_after=VALID_TO)["MY:DOE"]
    switch = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    partner = Partner(
        id="MY:DOE",
        name="Department of Environment Malaysia",
        country="MY",
        role=old.partner.role,
        utility_blocks=old.partner.utility_blocks,
        certificates=(
            RegisteredCertificate.of(old.certificate, not_after=switch),
            RegisteredCertificate.of(new.certificate, not_before=switch - dt.timedelta(days=7)),
        ),
    )
    both = TrustStore.of([partner])
    assert verify(signing.sign(envelope, new.identity), both).certificate == new.certificate
    assert verify(signing.sign(envelope, old.identity), both, now=switch).certificate == old.certificate
    with pytest.raises(TrustError, match="expired"):
        verify(signing.sign(envelope, old.identity), both)


def test_an_rsa_key_below_2048_bits_is_rejected(envelope: Envelope) -> None:
    """A registered RSA-1024 certificate does not make a 1024-bit signature acceptable."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    certificate = self_signed(key)
    raw = signxml_sign(codec.encode(envelope), key, certificate)
    with pytest.raises(TrustError, match="RSA key of 1024 bits is too small") as caught:
        verify(raw, TrustStore.of([partner_with(certificate)]))
    assert caught.value.reason == "certificate-refused"
    with pytest.raises(ConfigurationError, match="too small"):
        signing.sign(envelope, Identity(participant="MY:DOE", private_key=key, certificate=certificate))


def test_a_ca_certificate_used_to_sign_is_rejected(envelope: Envelope) -> None:
    """A CA certificate is not a signing certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed(key, ca=True)
    raw = signing.sign(envelope, Identity(participant="MY:DOE", private_key=key, certificate=certificate))
    with pytest.raises(TrustError, match="CA certificate") as caught:
        verify(raw, TrustStore.of([partner_with(certificate)]))
    assert caught.value.reason == "certificate-refused"


def test_a_certificate_without_digital_signature_usage_is_rejected(envelope: Envelope) -> None:
    """Key usage must allow digital signatures."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed(key, digital_signature=False)
    raw = signing.sign(envelope, Identity(participant="MY:DOE", private_key=key, certificate=certificate))
    with pytest.raises(TrustError, match="key usage does not allow digital signatures") as caught:
        verify(raw, TrustStore.of([partner_with(certificate)]))
    assert caught.value.reason == "certificate-refused"


# ------------------------------------------------------------------------------------------------ sign


def test_sign_refuses_an_envelope_whose_sender_is_not_us(pki: testpki.TestPki) -> None:
    """We sign only as ourselves."""
    with pytest.raises(TrustError, match="Sender is MY:DOE, but we sign as AU:DCCEEW") as caught:
        signing.sign(make_envelope(), pki["AU:DCCEEW"].identity)
    assert caught.value.reason == "signer-not-sender"


def test_sign_refuses_signed_documents_ids_and_other_roots(pki: testpki.TestPki, signed: bytes) -> None:
    """Only an unsigned Envelope without an Id attribute can be signed (so that the Reference is URI="")."""
    identity = pki["MY:DOE"].identity
    with pytest.raises(SignatureError, match="already signed"):
        signing.sign(signed, identity)
    root = codec.encode(make_envelope())
    root.set("Id", "envelope")
    with pytest.raises(SignatureError, match="Id attribute"):
        signing.sign(root, identity)
    document = codec.encode(make_envelope().document)
    with pytest.raises(SignatureError, match="only an Envelope can be signed"):
        signing.sign(document, identity)


def test_sign_refuses_an_algorithm_that_does_not_fit_the_key(pki: testpki.TestPki) -> None:
    """An RSA key cannot make an ECDSA signature."""
    with pytest.raises(ConfigurationError, match="ECDSA_SHA256 does not fit"):
        signing.sign(make_envelope(), pki["MY:DOE"].identity, algorithm=signing.SignatureAlgorithm.ECDSA_SHA256)


def test_the_key_checks_refuse_at_every_call_and_for_each_algorithm(pki: testpki.TestPki) -> None:
    """The key checks are decided once per key, and still refuse every signature they refused."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    identity = Identity(participant="MY:DOE", private_key=weak, certificate=self_signed(weak))
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="signing key of MY:DOE may not sign: RSA key of 1024 bits"):
            signing.sign(make_envelope(), identity)
    good = pki["MY:DOE"].identity
    assert signing.sign(make_envelope(), good)  # RSA-SHA256 decided for this key first
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="ECDSA_SHA256 does not fit the RSAPrivateKey of MY:DOE"):
            signing.sign(make_envelope(), good, algorithm=signing.SignatureAlgorithm.ECDSA_SHA256)
    pss = signing.sign(make_envelope(), good, algorithm=signing.SignatureAlgorithm.RSA_PSS_SHA256)
    assert verify(pss, pki.trust()).signer.id == "MY:DOE"


# ------------------------------------------------------------------------------------------------ hostile XML


def _with_doctype(signed: bytes, doctype: bytes) -> bytes:
    head, _, rest = signed.partition(b"?>")
    return head + b"?>\n" + doctype + rest


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE env:Envelope [<!ENTITY x "AU:ABF">]>',
        b'<!DOCTYPE env:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b'<!DOCTYPE env:Envelope SYSTEM "http://attacker.example/x.dtd">',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>',
    ],
    ids=["internal-entity", "external-entity", "external-dtd", "entity-expansion"],
)
def test_a_doctype_before_a_genuine_envelope_is_rejected(signed: bytes, trust: TrustStore, doctype: bytes) -> None:
    """DTDs and entities never reach signxml: the safe parser refuses them first."""
    with pytest.raises(ParseError, match="DOCTYPE"):
        verify(_with_doctype(signed, doctype), trust)


def test_oversized_deep_and_malformed_input_is_rejected(signed: bytes, trust: TrustStore) -> None:
    """Size is bounded before parsing, depth and element count after; broken XML is a ParseError."""
    with pytest.raises(MessageTooLarge):
        verify(signed, trust, limits=Limits(max_bytes=1000))
    with pytest.raises(ParseError, match="deeper than 4"):
        verify(signed, trust, limits=Limits(max_depth=4))
    with pytest.raises(ParseError, match="more than the limit of 10"):
        verify(signed, trust, limits=Limits(max_elements=10))
    with pytest.raises(ParseError, match="not well-formed"):
        verify(signed[:-40], trust)
    with pytest.raises(ParseError, match="empty"):
        verify(b"", trust)


HOSTILE = sorted(p for p in (SAMPLES / "hostile").glob("*") if p.suffix in (".xml", ".bin"))
# The smaller parsing limits some hostile files are refused under (samples/hostile/expected.json).
HOSTILE_LIMITS = {
    name: expected.get("limits", {})
    for name, expected in json.loads((SAMPLES / "hostile" / "expected.json").read_text()).items()
}


@pytest.mark.parametrize("path", HOSTILE, ids=[p.name for p in HOSTILE])
def test_every_hostile_sample_is_refused_without_a_foreign_exception(path: Path, trust: TrustStore) -> None:
    """The hostile-XML corpus ends in a MessageError (ParseError for the attacks, SignatureError if unsigned)."""
    with pytest.raises(MessageError) as caught:
        verify(path.read_bytes(), trust, limits=Limits(**{"max_elements": 1000, **HOSTILE_LIMITS[path.name]}))
    assert isinstance(caught.value, ParseError | MessageTooLarge | SignatureError)


# ------------------------------------------------------------------------------------------------ properties


def _signed_region(raw: bytes) -> tuple[int, int]:
    return raw.index(b"<env:Envelope"), raw.index(b"<ds:Signature")


def _accepted_only_if_unchanged(raw: bytes, original: bytes, trust: TrustStore) -> None:
    """The changed bytes are refused with a MessageError, or what was signed is exactly the original."""
    try:
        verified = verify(raw, trust)
    except MessageError:
        return
    # Accepted: then the change was outside the signed information (e.g. whitespace inside a tag).
    assert c14n(verified.signed_xml) == c14n(verify(original, trust).signed_xml)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_inside_the_signed_content_is_rejected(
    data: st.DataObject, signed: bytes, trust: TrustStore
) -> None:
    """Every one-byte change between <env:Envelope and <ds:Signature is refused unless C14N-invisible."""
    start, end = _signed_region(signed)
    position = data.draw(st.integers(start, end - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != signed[position]), label="byte")
    _accepted_only_if_unchanged(signed[:position] + bytes([byte]) + signed[position + 1 :], signed, trust)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_anywhere_raises_only_message_errors(
    data: st.DataObject, signed: bytes, trust: TrustStore
) -> None:
    """A change anywhere, signature included, never leaks a foreign exception nor changes what is read."""
    position = data.draw(st.integers(0, len(signed) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != signed[position]), label="byte")
    _accepted_only_if_unchanged(signed[:position] + bytes([byte]) + signed[position + 1 :], signed, trust)


def test_every_text_character_of_the_signed_content_is_covered(signed: bytes, trust: TrustStore) -> None:
    """Exhaustively: changing any one letter or digit inside the envelope is refused."""
    start, end = _signed_region(signed)
    checked = 0
    for position in range(start, end):
        if not chr(signed[position]).isalnum():
            continue
        replacement = b"X" if signed[position : position + 1] != b"X" else b"Y"
        with pytest.raises(MessageError):
            verify(signed[:position] + replacement + signed[position + 1 :], trust)
        checked += 1
    assert checked > 500


# ------------------------------------------------------------------------------------------------ decoding


def _signed_with(pki: testpki.TestPki, changes: dict[str, str]) -> bytes:
    """Sign the Acknowledgement of make_envelope with some of its texts replaced (tag local name -> text)."""
    root = codec.encode(make_envelope())
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in changes:
            element.text = changes[etree.QName(element).localname]
    return signing.sign(root, pki["MY:DOE"].identity)


@pytest.mark.parametrize(
    ("name", "text"),
    [("Country", "QQ"), ("Remarks", "x" * 5000)],
    ids=["not-in-the-code-list", "too-long"],
)
def test_a_broken_value_facet_in_a_genuine_signature_is_refused_with_its_path(
    pki: testpki.TestPki, trust: TrustStore, name: str, text: str
) -> None:
    """The decode of what was signed leaves value facets to the full XSD, which refuses them first."""
    with pytest.raises(SchemaError) as caught:
        verify(_signed_with(pki, {name: text}), trust)
    assert any(issue.path and issue.path.endswith(f"/{name}") for issue in caught.value.issues)


def test_a_broken_business_rule_in_a_genuine_signature_is_still_refused(
    pki: testpki.TestPki, trust: TrustStore
) -> None:
    """Schema-valid, but acknowledged before it was received: the model's own rules still run on decode."""
    with pytest.raises(BusinessRuleError):
        verify(_signed_with(pki, {"AcknowledgedOn": "2026-03-01"}), trust)


# ------------------------------------------------------------------------------------------------ samples


SIGNED_SAMPLES = sorted((SAMPLES / "signed").glob("*.xml"))


@pytest.mark.parametrize("path", SIGNED_SAMPLES, ids=[p.name for p in SIGNED_SAMPLES])
def test_signed_samples_verify_with_the_sample_keys(path: Path) -> None:
    """samples/signed/ holds genuine copies of samples/messages/, signed with samples/keys/."""
    trust = load_trust(SAMPLES / "keys" / "partners.toml")
    verified = signing.verify(path.read_bytes(), trust=trust, now=NOW)
    original = codec.from_xml((SAMPLES / "messages" / path.name).read_bytes())
    assert verified.envelope == original
    assert verified.signer.id == verified.envelope.header.sender
