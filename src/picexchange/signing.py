"""Sign and verify envelopes: enveloped XMLDSig over the whole envelope, through signxml, with a pinned policy.

Every message between two Single Windows is an :class:`~picexchange.models.envelope.Envelope` signed by the
sender's Single Window, so the receiver knows who sent it and that nothing — routing data included — was
changed. The signature, the one shape we make and accept:

- is enveloped, the last child of the root, with one ``Reference URI=""`` over the whole envelope;
- uses exclusive C14N (without comments) for SignedInfo and for the reference, after the
  enveloped-signature transform;
- is RSA-SHA256, RSA-PSS or ECDSA-SHA256, or stronger (SHA-1 never), with SHA-256 or stronger digests;
- carries the signer's certificate, and only that, in ``KeyInfo``.

:func:`verify` does not take signxml's word for it: signxml by default lets wrapping variants, content
hidden in ``ds:Object`` and signatures over part of the document through. It checks the shape above
itself, picks the candidate partner from the header's Sender and verifies against *that partner's*
registered certificates only (a new ``XMLVerifier`` per call), checks the certificate policy signxml does
not (key size, CA flag, key usage, the registered period), and builds its result only from the tree
signxml returns — the canonical form of what was signed — never from the raw input.

Routing and permissions are decided here, once, for every way an envelope comes in (``exchange.accept``,
:func:`verify`, ``exchange.read_reply`` and so the client): :func:`read_header` is the one reader of header
fields in a tree; :func:`admit` decides receiver (one of the hosted participants), expected sender, known
sender and Utility Block; :func:`verify` pins the certificate to that partner and decides again on the signed
header; :func:`check_created` decides the clock skew. Each refusal is a
:class:`~picexchange.errors.TrustError` whose ``reason`` is a documented :class:`TrustReason`.
"""

from __future__ import annotations

import binascii
import copy
import ctypes
import datetime as dt
import enum
import hashlib
import sys
from base64 import b64decode
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any

import cryptography.exceptions
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from pydantic import TypeAdapter, ValidationError
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature, SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from picexchange import codec, schemas
from picexchange.codec import DEFAULT_LIMITS, Limits
from picexchange.errors import (
    BusinessRuleError,
    ConfigurationError,
    MessageError,
    SchemaError,
    SignatureError,
    TrustError,
)
from picexchange.models.base import NS_ENVELOPE, schema_proven
from picexchange.models.common import Timestamp
from picexchange.models.envelope import Envelope, MessageType, UtilityBlock
from picexchange.trust import (
    MIN_RSA_BITS,
    Identity,
    Partner,
    RegisteredCertificate,
    TrustStore,
    describe_certificate,
    key_problem,
)

__all__ = [
    "DEFAULT_FRESHNESS",
    "DEFAULT_POLICY",
    "DigestMethod",
    "Freshness",
    "RoutingHeader",
    "SignatureAlgorithm",
    "SignatureRule",
    "TrustReason",
    "Verified",
    "VerifyPolicy",
    "admit",
    "check_created",
    "read_header",
    "sign",
    "verify",
]

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
EXCLUSIVE_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
ENVELOPED = SignatureConstructionMethod.enveloped.value

_ENVELOPE = f"{{{NS_ENVELOPE}}}Envelope"
_HEADER = f"{{{NS_ENVELOPE}}}Header"
_BODY = f"{{{NS_ENVELOPE}}}Body"


def _ds(name: str) -> str:
    return f"{{{NS_DS}}}{name}"


class SignatureAlgorithm(enum.StrEnum):
    """Signature algorithms we sign with and accept (the XMLDSig algorithm URIs)."""

    RSA_SHA256 = SignatureMethod.RSA_SHA256.value
    RSA_SHA384 = SignatureMethod.RSA_SHA384.value
    RSA_SHA512 = SignatureMethod.RSA_SHA512.value
    RSA_PSS_SHA256 = SignatureMethod.SHA256_RSA_MGF1.value
    RSA_PSS_SHA384 = SignatureMethod.SHA384_RSA_MGF1.value
    RSA_PSS_SHA512 = SignatureMethod.SHA512_RSA_MGF1.value
    ECDSA_SHA256 = SignatureMethod.ECDSA_SHA256.value
    ECDSA_SHA384 = SignatureMethod.ECDSA_SHA384.value
    ECDSA_SHA512 = SignatureMethod.ECDSA_SHA512.value

    @property
    def is_rsa(self) -> bool:
        """Return whether the algorithm needs an RSA key."""
        return not self.name.startswith("ECDSA")

    @property
    def digest(self) -> DigestMethod:
        """Return the reference digest of the same strength."""
        return DigestMethod["SHA" + self.name[-3:]]


class DigestMethod(enum.StrEnum):
    """Reference digest algorithms we sign with and accept (the XMLDSig ``ds:DigestMethod`` URIs).

    Not the ``Digest`` element of a Receipt or an annex (:class:`picexchange.models.common.Digest`, the SHA-256 of
    some bytes): this is how each signed reference is hashed.
    """

    SHA256 = DigestAlgorithm.SHA256.value
    SHA384 = DigestAlgorithm.SHA384.value
    SHA512 = DigestAlgorithm.SHA512.value


class SignatureRule(enum.StrEnum):
    """Which rule of the signature profile refused a signature: the ``rule_id`` of a :class:`SignatureError`.

    One value per rule of ``docs/signature-profile.md``; a signed ``Error`` reply carries it as its issue's rule id,
    so the sender learns which rule its signature broke, not only that it is not accepted.
    """

    NOT_AN_ENVELOPE = "not-an-envelope"
    """The root element is not an Envelope (an envelope wrapped in another element, or a bare document)."""
    NOT_SIGNED = "not-signed"
    """The envelope holds no ds:Signature."""
    OUTSIDE_ROOT = "outside-root"
    """A processing instruction before or after the Envelope: XMLDSig's ``URI=""`` covers it, some signers do not."""
    SEVERAL_SIGNATURES = "several-signatures"
    """The envelope holds more than one ds:Signature, anywhere."""
    HIDDEN_CONTENT = "hidden-content"
    """A ds:Object or ds:Manifest, which could carry content outside what is checked."""
    PLACEMENT = "placement"
    """The Envelope's children are not Header, Body, ds:Signature in this order (a signature first, in the Header)."""
    SIGNATURE_OUTLINE = "signature-outline"
    """ds:Signature (or SignedInfo, Reference, KeyInfo) does not hold exactly the elements of the profile."""
    ALGORITHM_PARAMETERS = "algorithm-parameters"
    """An algorithm element has no Algorithm, or has parameters (an InclusiveNamespaces PrefixList, an XPath)."""
    CANONICALIZATION = "canonicalization"
    """SignedInfo's CanonicalizationMethod is not exclusive C14N without comments (inclusive C14N, 1.1, comments)."""
    SHA1 = "sha1"
    """A SHA-1 signature method (RSA-SHA1, DSA-SHA1, ECDSA-SHA1) or reference digest."""
    SIGNATURE_METHOD = "signature-method"
    """A signature method outside the accepted list, or outside a narrowed verify policy."""
    DIGEST_METHOD = "digest-method"
    """A reference digest outside the accepted list."""
    REFERENCES = "references"
    """SignedInfo holds more or fewer than one Reference."""
    REFERENCE_URI = "reference-uri"
    """The Reference is not ``URI=""`` (an Id, ``#xpointer(/)``, none) or does not cover the whole envelope."""
    TRANSFORMS = "transforms"
    """The transforms are not exactly enveloped-signature then exclusive C14N (none, a missing C14N, an XPath)."""
    KEY_INFO = "key-info"
    """KeyInfo is not one X509Data with one X509Certificate (KeyValue, KeyName, a chain, IssuerSerial, not base64)."""
    DIGEST_MISMATCH = "digest-mismatch"
    """The signed content was changed after signing."""
    SIGNATURE_VALUE = "signature-value"
    """The signature value does not verify with the sender's registered certificate."""
    UNVERIFIABLE = "unverifiable"
    """The signature cannot be processed at all (malformed values the checks above do not name)."""
    ALREADY_SIGNED = "already-signed"
    """``sign`` was given an envelope that already holds a ds:Signature."""
    ENVELOPE_ID = "envelope-id"
    """``sign`` was given an Envelope with an Id attribute (the reference is URI="", never an Id)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyPolicy:
    """What :func:`verify` accepts; the defaults are the rules of this module's docstring and can only be narrowed.

    Attributes:
        signature_algorithms: accepted signature algorithms (SHA-1 is never among them).
        digest_algorithms: accepted reference digests.
        min_rsa_bits: smallest RSA key accepted (at least 2048).

    """

    signature_algorithms: frozenset[SignatureAlgorithm] = frozenset(SignatureAlgorithm)
    digest_algorithms: frozenset[DigestMethod] = frozenset(DigestMethod)
    min_rsa_bits: int = MIN_RSA_BITS

    def __post_init__(self) -> None:
        if self.min_rsa_bits < MIN_RSA_BITS:
            raise ConfigurationError(f"min_rsa_bits may not be below {MIN_RSA_BITS}")
        if not self.signature_algorithms or not self.digest_algorithms:
            raise ConfigurationError("a verify policy must accept at least one algorithm of each kind")
        if not set(self.signature_algorithms) <= set(SignatureAlgorithm) or not set(self.digest_algorithms) <= set(
            DigestMethod
        ):
            raise ConfigurationError("a verify policy may only narrow the accepted algorithms")


DEFAULT_POLICY = VerifyPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """A genuine envelope: what was signed, who signed it, with which certificate.

    Attributes:
        envelope: the envelope decoded from the signed tree (never from the raw input).
        signed_xml: the root of the signed tree as signxml returns it (canonical form, no signature, no
            comments); decode further data only from here.
        signer: the registered partner whose certificate verified the signature (the header's Sender).
        certificate: the certificate that verified it.
        algorithm: the signature algorithm used.
        header: the routing fields read from ``signed_xml`` (:func:`read_header`), the ones the checks passed.

    """

    envelope: Envelope
    signed_xml: etree._Element = field(repr=False)
    signer: Partner
    certificate: x509.Certificate = field(repr=False)
    algorithm: SignatureAlgorithm
    header: RoutingHeader


# ------------------------------------------------------------------------------------------------ routing
#
# One reader of the header and one place that decides routing and permissions, for every entry point:
# exchange.accept (a message for a participant we host), verify (any signed envelope) and exchange.read_reply
# (a partner's answer to what we sent). The checks run cheapest first, so a stranger cannot make us spend
# signature work (docs/architecture.md, "The path of an inbound message"): receiver is one of ours -> sender
# is the one expected (replies) -> sender is a registered partner -> allowed this Utility Block -> the
# signature's certificate is that partner's, valid and strong enough -> (the signature itself) -> the signed
# header says the same -> Created within the allowed window.


class TrustReason(enum.StrEnum):
    """Why a message was refused as untrusted: :attr:`picexchange.errors.TrustError.reason`, one per rule."""

    RECEIVER_NOT_HOSTED = "receiver-not-hosted"
    """The header's Receiver is none of the participants we host: misrouted, or replayed to another receiver."""
    UNEXPECTED_SENDER = "unexpected-sender"
    """A reply whose Sender is not the partner the message went to (a third party answering for it)."""
    UNKNOWN_SENDER = "unknown-sender"
    """The header's Sender is not in the partner registry."""
    UTILITY_BLOCK_NOT_ALLOWED = "utility-block-not-allowed"
    """The Sender is registered, but not for the message's Utility Block (replies answer any block)."""
    CERTIFICATE_OF_ANOTHER_PARTNER = "certificate-of-another-partner"
    """The signature's certificate is registered, but for another partner than the header's Sender."""
    CERTIFICATE_NOT_REGISTERED = "certificate-not-registered"
    """The signature's certificate is not registered for anyone (an impostor's own certificate)."""
    CERTIFICATE_NOT_VALID = "certificate-not-valid"
    """The Sender's certificate is expired, not yet valid, or outside the period we registered it for."""
    CERTIFICATE_REFUSED = "certificate-refused"
    """The Sender's certificate fails the certificate policy (weak key or issuer, CA, key usage, SHA-1, ...)."""
    SIGNER_NOT_SENDER = "signer-not-sender"
    """The signed header's Sender or routing is not the partner whose certificate verified the signature."""
    CREATED_IN_FUTURE = "created-in-future"
    """The header's Created lies further in the future than the allowed clock skew."""
    CREATED_TOO_OLD = "created-too-old"
    """The header's Created is older than the allowed age: a replay of an old message."""


#: Where each header field is, for the paths of the errors about it.
_PATHS = {
    "Sender": "/Envelope/Header/Sender",
    "Receiver": "/Envelope/Header/Receiver",
    "UtilityBlock": "/Envelope/Header/UtilityBlock",
    "Created": "/Envelope/Header/Created",
}
_TIMESTAMP: TypeAdapter[dt.datetime] = TypeAdapter(Timestamp)
_HEADER_FIELDS = {
    f"{{{NS_ENVELOPE}}}{name}": name
    for name in (
        "Sender",
        "Receiver",
        "MessageId",
        "ConversationId",
        "RefToMessageId",
        "UtilityBlock",
        "MessageType",
        "Created",
    )
}
_REPLIES = frozenset({MessageType.RECEIPT.value, MessageType.ERROR.value})


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingHeader:
    """The envelope header's routing fields, as :func:`read_header` read them from one tree.

    Read from the tree signature verification returned (:attr:`Verified.header`) it is what was signed; read
    from the received tree it only chooses whom to check the signature against, or whom to answer. A field
    is None when the element is missing, empty, or (for the typed ones) not a valid value.

    Attributes:
        sender: ``Sender``, the participant id that claims to have signed.
        receiver: ``Receiver``, the participant id the message is for.
        message_id: ``MessageId`` as written.
        conversation_id: ``ConversationId``, the notification number.
        ref_to: ``RefToMessageId`` as written: the message this one answers.
        utility_block: ``UtilityBlock``, when it is one we know.
        message_type: ``MessageType`` as written (``Notification``, ``Receipt``, ...).
        created: ``Created``, when it is a valid time stamp with a time zone.

    """

    sender: str | None
    receiver: str | None
    message_id: str | None
    conversation_id: str | None
    ref_to: str | None
    utility_block: UtilityBlock | None
    message_type: str | None
    created: dt.datetime | None

    @property
    def is_reply(self) -> bool:
        """Return whether the message is a transport reply (Receipt or Error), not a message to deliver."""
        return self.message_type in _REPLIES


def read_header(root: etree._Element) -> RoutingHeader:
    """Read the routing fields of the envelope header of ``root``: the one reader of header fields in a tree.

    Each value is its element's whole text, stripped (:func:`picexchange.codec.text_of`, as
    :func:`picexchange.codec.header_text` reads one field): the text the signature covers and
    :func:`picexchange.codec.decode` reads — never the text before a first child node.
    """
    texts: dict[str, str] = {}
    header = root.find(_HEADER)
    # One pass over the header's children (a path lookup per field costs about 7 us each, benchmarks/bench_routing.py);
    # the first element of each name counts, as a path lookup would find it.
    for child in header if header is not None else ():
        name = _HEADER_FIELDS.get(child.tag) if isinstance(child.tag, str) else None
        if name is not None and name not in texts:
            texts[name] = codec.text_of(child).strip()

    def text(name: str) -> str | None:
        return texts.get(name) or None

    block = text("UtilityBlock")
    created = text("Created")
    try:
        when = _TIMESTAMP.validate_python(created) if created is not None else None
    except ValidationError:
        when = None
    return RoutingHeader(
        sender=text("Sender"),
        receiver=text("Receiver"),
        message_id=text("MessageId"),
        conversation_id=text("ConversationId"),
        ref_to=text("RefToMessageId"),
        utility_block=next((item for item in UtilityBlock if item.value == block), None),
        message_type=text("MessageType"),
        created=when,
    )


def _refused(reason: TrustReason, text: str, field_name: str | None = None) -> TrustError:
    return TrustError(text, reason=reason.value, path=_PATHS.get(field_name or ""))


def admit(
    header: RoutingHeader,
    *,
    hosted: Set[str] | None,
    trust: TrustStore,
    sender: str | None = None,
) -> Partner:
    """Decide whether the header's routing is allowed; return the partner whose certificates may verify it.

    The cheap refusals, before any signature work: the Receiver is one of ``hosted``; the Sender is ``sender``
    when one is expected (a reply comes from the partner the message went to); the Sender is a registered
    partner; that partner may send the message's Utility Block (a Receipt or Error answers any block).

    Args:
        header: the header as :func:`read_header` read it.
        hosted: the participant ids we receive for; None accepts any Receiver (verifying a stored file).
        trust: the partner registry.
        sender: the only Sender accepted, when one is expected.

    Raises:
        TrustError: with the :class:`TrustReason` of the first rule broken and the header field's path.

    """
    if hosted is not None and header.receiver not in hosted:
        ours = ", ".join(sorted(hosted)) or "nobody"
        raise _refused(
            TrustReason.RECEIVER_NOT_HOSTED, f"the message is addressed to {header.receiver}, not to {ours}", "Receiver"
        )
    if sender is not None and header.sender != sender:
        raise _refused(
            TrustReason.UNEXPECTED_SENDER, f"the message is signed by {header.sender}, not by {sender}", "Sender"
        )
    partner = trust.partner(header.sender or "")
    if partner is None:
        raise _refused(
            TrustReason.UNKNOWN_SENDER, f"unknown sender {header.sender}: not in the partner registry", "Sender"
        )
    # A Receipt or Error answers a message of the Utility Block it names; any registered partner may answer
    # what we sent it (a Customs administration registered for `export` still receipts a misrouted `pic`).
    if not header.is_reply and (header.utility_block is None or not partner.may_send(header.utility_block)):
        block = header.utility_block.value if header.utility_block is not None else "(none)"
        raise _refused(
            TrustReason.UTILITY_BLOCK_NOT_ALLOWED,
            f"{partner.id} may not send messages of Utility Block {block}",
            "UtilityBlock",
        )
    return partner


def _pinned(
    partner: Partner, trust: TrustStore, certificate: etree._Element, *, now: dt.datetime, policy: VerifyPolicy
) -> RegisteredCertificate:
    """Return the partner's registered certificate the signature presents, valid at ``now`` and strong enough."""
    presented = _certificate_in(certificate)
    path, line = codec.element_path(certificate), certificate.sourceline
    # The certificate a signature presents is only compared with the registered ones, byte for byte; it is
    # never parsed (a hostile certificate cannot reach the ASN.1 parser) nor trusted.
    registered = partner.registered(presented)
    if registered is None:
        owner = trust.owner_of(presented)
        if owner is not None:
            raise TrustError(
                f"the signature's certificate belongs to {owner.id}, not to the header's Sender {partner.id}",
                reason=TrustReason.CERTIFICATE_OF_ANOTHER_PARTNER.value,
                path=path,
                line=line,
            )
        fingerprint = hashlib.sha256(presented).hexdigest()[:16]
        raise TrustError(
            f"the signature's certificate (SHA-256 {fingerprint}) is not registered for {partner.id}",
            reason=TrustReason.CERTIFICATE_NOT_REGISTERED.value,
            path=path,
            line=line,
        )
    problem = registered.validity_problem(now)
    if problem is not None:
        raise TrustError(
            f"{partner.id}: {problem}", reason=TrustReason.CERTIFICATE_NOT_VALID.value, path=path, line=line
        )
    # The whole certificate policy again, its issuer included: a registry built in code was never loaded.
    weak = registered.problems(min_rsa_bits=policy.min_rsa_bits)
    if weak:
        raise TrustError(
            f"{partner.id}: certificate {describe_certificate(registered.certificate)} may not sign: {'; '.join(weak)}",
            reason=TrustReason.CERTIFICATE_REFUSED.value,
            path=path,
            line=line,
        )
    return registered


@dataclass(frozen=True, slots=True, kw_only=True)
class Freshness:
    """How far a message's Created may lie from the time it is received.

    Attributes:
        max_clock_skew: how far in the future Created may lie (the sender's clock runs ahead).
        max_age: how old Created may be; older messages are refused as stale (a replay of an old message to a
            fresh receiver). Longer than any retry horizon, since retries resend the original bytes.

    """

    max_clock_skew: dt.timedelta = dt.timedelta(minutes=5)
    max_age: dt.timedelta = dt.timedelta(days=30)


DEFAULT_FRESHNESS = Freshness()


def check_created(header: RoutingHeader, *, now: dt.datetime, freshness: Freshness) -> None:
    """Refuse a message whose Created lies outside ``freshness`` around ``now``.

    Raises:
        TrustError: ``created-in-future`` or ``created-too-old`` (a missing Created counts as too old).

    """
    created = header.created
    if created is not None and created - now > freshness.max_clock_skew:
        raise _refused(
            TrustReason.CREATED_IN_FUTURE,
            f"Created {created.isoformat()} is in the future by more than {freshness.max_clock_skew}",
            "Created",
        )
    if created is None or now - created > freshness.max_age:
        shown = created.isoformat() if created is not None else "(missing)"
        raise _refused(
            TrustReason.CREATED_TOO_OLD, f"Created {shown} is older than {freshness.max_age.days} days", "Created"
        )


# ------------------------------------------------------------------------------------------------ signing


def _default_algorithm(identity: Identity) -> SignatureAlgorithm:
    key = identity.private_key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {
            "secp384r1": SignatureAlgorithm.ECDSA_SHA384,
            "secp521r1": SignatureAlgorithm.ECDSA_SHA512,
        }.get(key.curve.name, SignatureAlgorithm.ECDSA_SHA256)
    return SignatureAlgorithm.RSA_SHA256


_KEY_CHECKS: dict[tuple[object, SignatureAlgorithm | None], tuple[str | None, SignatureAlgorithm, bool]] = {}
"""What the key checks of :func:`_signing_algorithm` found, by (private key object, requested algorithm):
the key's weakness, the algorithm chosen and whether it fits the key. They depend on the key alone, which is
immutable; key objects compare by identity, so another object holding the same key is checked again."""

_KEY_CHECKS_KEPT = 64


def _signing_algorithm(identity: Identity, algorithm: SignatureAlgorithm | None) -> SignatureAlgorithm:
    """Return the algorithm ``identity`` signs with: ``algorithm``, else the one its key's type and curve call for.

    The checks run for every signature; their findings are computed once per key (:data:`_KEY_CHECKS`).

    Raises:
        ConfigurationError: the key is too weak or of a kind we do not sign with, or ``algorithm`` does not
            fit it.

    """
    key = identity.private_key
    found = _KEY_CHECKS.get((key, algorithm))
    if found is None:
        chosen = algorithm or _default_algorithm(identity)
        found = (key_problem(key.public_key()), chosen, chosen.is_rsa == isinstance(key, rsa.RSAPrivateKey))
        if len(_KEY_CHECKS) >= _KEY_CHECKS_KEPT:
            _KEY_CHECKS.clear()
        _KEY_CHECKS[(key, algorithm)] = found
    weak, chosen, fits = found
    if weak is not None:
        raise ConfigurationError(f"the signing key of {identity.participant} may not sign: {weak}")
    if not fits:
        raise ConfigurationError(f"{chosen.name} does not fit the {type(key).__name__} of {identity.participant}")
    return chosen


def sign(
    envelope: Envelope | etree._Element | bytes,
    identity: Identity,
    *,
    algorithm: SignatureAlgorithm | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Sign an envelope with an enveloped XMLDSig signature over its whole root; return the bytes to send.

    The envelope is serialised once, here: send, store and resend exactly these bytes.

    Args:
        envelope: the envelope as a model, a parsed tree (left unchanged) or bytes.
        identity: our participant id, loaded key and certificate; the header's Sender must be ours.
        algorithm: the signature algorithm; by default RSA-SHA256 for RSA keys, ECDSA with the curve's
            hash for EC keys.
        limits: parsing bounds when ``envelope`` is bytes.

    Raises:
        SignatureError: the root is not an Envelope, it is already signed, or it has an Id attribute.
        TrustError: the header's Sender is not ``identity.participant``.
        ConfigurationError: the key is too weak, or ``algorithm`` does not fit it.
        ParseError, MessageTooLarge: ``envelope`` is bytes that are not a safe, bounded XML document.

    """
    if isinstance(envelope, Envelope):
        root = codec.encode(envelope)
    elif isinstance(envelope, bytes | bytearray):
        root = codec.parse(bytes(envelope), limits=limits)
    else:
        root = copy.deepcopy(envelope)  # the caller's tree stays as it was
    if root.tag != _ENVELOPE:
        raise SignatureError(
            f"only an Envelope can be signed, not {etree.QName(root).localname}",
            rule_id=SignatureRule.NOT_AN_ENVELOPE.value,
        )
    if next(root.iter(_ds("Signature")), None) is not None:
        raise SignatureError("the envelope is already signed", rule_id=SignatureRule.ALREADY_SIGNED.value)
    # With an Id on the root signxml would write URI="#id"; the rule is URI="", the whole document, with no Id a
    # wrapping attack could move.
    if any(etree.QName(name).localname.lower() == "id" for name in root.attrib):
        raise SignatureError("the Envelope root may not carry an Id attribute", rule_id=SignatureRule.ENVELOPE_ID.value)
    sender = read_header(root).sender
    if sender != identity.participant:
        raise TrustError(
            f"the header's Sender is {sender or 'missing'}, but we sign as {identity.participant}",
            reason=TrustReason.SIGNER_NOT_SENDER.value,
            path=_PATHS["Sender"],
        )
    chosen = _signing_algorithm(identity, algorithm)
    # Exclusive C14N leaves out namespace declarations no element uses, so they would travel unsigned:
    # drop them, so that every byte sent inside the envelope, apart from whitespace in tags, is signed.
    etree.cleanup_namespaces(root)
    return _enveloped_signature(root, identity, chosen)


def _sign_built(root: etree._Element, identity: Identity, *, sender: str) -> bytes:
    """Sign ``root`` as :func:`sign` signs a tree, for a tree built here to be signed by ``identity``.

    Only for :func:`picexchange.exchange.receipt_for`, which fills a copy of a template encoded from a model:
    an Envelope root with no signature, no Id and no unused namespace declaration (cleaned once, in the
    template), whose Sender element holds ``sender``, the validated envelope's Sender it was filled from.
    What :func:`sign` checks about a tree it is handed holds by construction, and nothing changes the tree,
    so it is neither checked again nor copied; the Sender is compared as :func:`sign` compares it, without
    reading it back from the tree, and the key checks run as in :func:`sign`. tests/test_exchange.py checks
    that the bytes equal :func:`sign`'s for the same tree.

    Raises:
        TrustError: ``sender`` is not ``identity.participant``.
        ConfigurationError: the key is too weak.
        SignatureError: signxml cannot sign the tree.

    """
    if sender != identity.participant:
        raise TrustError(
            f"the header's Sender is {sender or 'missing'}, but we sign as {identity.participant}",
            reason=TrustReason.SIGNER_NOT_SENDER.value,
            path=_PATHS["Sender"],
        )
    return _enveloped_signature(root, identity, _signing_algorithm(identity, None))


def _enveloped_signature(root: etree._Element, identity: Identity, algorithm: SignatureAlgorithm) -> bytes:
    """Return the bytes of ``root`` with an enveloped signature (signxml signs copies it makes; ``root`` is read)."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod(algorithm.value),
        digest_algorithm=DigestAlgorithm(algorithm.digest.value),
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        signed = signer.sign(root, key=identity.private_key, cert=[identity.certificate])
    except (SignXMLException, ValueError, TypeError, etree.LxmlError) as exc:
        raise SignatureError(f"the envelope cannot be signed: {exc}", rule_id=SignatureRule.UNVERIFIABLE.value) from exc
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


# ------------------------------------------------------------------------------------------------ verifying


def _error(rule: SignatureRule, text: str, element: etree._Element | None = None) -> SignatureError:
    """Return a SignatureError for ``rule``, located at ``element`` (path and source line), when given."""
    if element is None:
        return SignatureError(text, rule_id=rule.value)
    return SignatureError(text, path=codec.element_path(element), line=element.sourceline, rule_id=rule.value)


def _children(element: etree._Element) -> list[etree._Element]:
    # Comments and processing instructions are not covered by exclusive C14N without comments; skip them.
    return [child for child in element if isinstance(child.tag, str)]


def _only_child(parent: etree._Element, name: str, what: str) -> etree._Element:
    found = [child for child in _children(parent) if child.tag == _ds(name)]
    if len(found) != 1:
        raise _error(
            SignatureRule.SIGNATURE_OUTLINE, f"{what} must hold exactly one ds:{name}, not {len(found)}", parent
        )
    return found[0]


def _check_placement(root: etree._Element) -> etree._Element:
    """Check the envelope's outline: Header, Body, and one ds:Signature last; return the signature."""
    if root.tag != _ENVELOPE:
        raise _error(
            SignatureRule.NOT_AN_ENVELOPE,
            f"the root element is {etree.QName(root).localname}, not a signed Envelope "
            "(an envelope moved inside another element is not accepted)",
            root,
        )
    signatures = list(root.iter(_ds("Signature")))
    if not signatures:
        raise _error(SignatureRule.NOT_SIGNED, "the envelope is not signed (no ds:Signature)", root)
    # XMLDSig's URI="" is the whole document, so a conforming signer (xmlsec1, Santuario) digests a processing
    # instruction before or after the root too, while signxml digests the root element only: such a document
    # verifies in one library and not in the other. Refused by name rather than as a digest mismatch.
    for node in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(node, etree._ProcessingInstruction):
            raise SignatureError(
                f"a processing instruction (<?{node.target} ...?>) before or after the Envelope is not allowed in a "
                'signed message: whether Reference URI="" covers it differs between XMLDSig libraries',
                line=node.sourceline,
                rule_id=SignatureRule.OUTSIDE_ROOT.value,
            )
    if len(signatures) > 1:
        raise _error(
            SignatureRule.SEVERAL_SIGNATURES,
            f"the envelope holds {len(signatures)} ds:Signature elements; exactly one is allowed",
            signatures[1],
        )
    for hidden in ("Object", "Manifest"):
        found = next(root.iter(_ds(hidden)), None)
        if found is not None:
            raise _error(
                SignatureRule.HIDDEN_CONTENT,
                f"ds:{hidden} is not allowed: it could carry content outside what is checked",
                found,
            )
    outline = [child.tag for child in _children(root)]
    if outline != [_HEADER, _BODY, _ds("Signature")]:
        names = ", ".join(etree.QName(tag).localname for tag in outline)
        raise _error(
            SignatureRule.PLACEMENT,
            f"the envelope must hold Header, Body and ds:Signature in this order and nothing else, not {names}",
            root,
        )
    return signatures[0]


def _algorithm(element: etree._Element) -> str:
    value = element.get("Algorithm")
    if value is None:
        raise _error(
            SignatureRule.ALGORITHM_PARAMETERS, f"ds:{etree.QName(element).localname} has no Algorithm", element
        )
    extra = _children(element)
    if extra:
        name = etree.QName(element).localname
        raise _error(
            SignatureRule.ALGORITHM_PARAMETERS,
            f"ds:{name} may not have parameters (found {etree.QName(extra[0]).localname})",
            element,
        )
    return str(value)


def _check_signature_shape(signature: etree._Element, policy: VerifyPolicy) -> SignatureAlgorithm:
    """Check the signature is the one shape we accept (the module docstring); return its signature algorithm."""
    outline = [
        etree.QName(child).localname if etree.QName(child).namespace == NS_DS else child.tag
        for child in _children(signature)
    ]
    if outline != ["SignedInfo", "SignatureValue", "KeyInfo"]:
        raise _error(
            SignatureRule.SIGNATURE_OUTLINE,
            f"ds:Signature must hold SignedInfo, SignatureValue and KeyInfo only, not {', '.join(outline)}",
            signature,
        )
    signed_info = _only_child(signature, "SignedInfo", "ds:Signature")
    c14n = _algorithm(_only_child(signed_info, "CanonicalizationMethod", "ds:SignedInfo"))
    if c14n != EXCLUSIVE_C14N:
        raise SignatureError(
            f"SignedInfo must be canonicalised with exclusive C14N without comments, not {c14n}",
            rule_id=SignatureRule.CANONICALIZATION.value,
        )
    method = _algorithm(_only_child(signed_info, "SignatureMethod", "ds:SignedInfo"))
    if "sha1" in method.lower():
        raise SignatureError(f"SHA-1 signatures are not accepted ({method})", rule_id=SignatureRule.SHA1.value)
    try:
        algorithm = SignatureAlgorithm(method)
    except ValueError:
        raise SignatureError(
            f"signature algorithm {method} is not accepted", rule_id=SignatureRule.SIGNATURE_METHOD.value
        ) from None
    if algorithm not in policy.signature_algorithms:
        raise SignatureError(
            f"signature algorithm {algorithm.name} is not accepted by the policy",
            rule_id=SignatureRule.SIGNATURE_METHOD.value,
        )
    references = [child for child in _children(signed_info) if child.tag == _ds("Reference")]
    if len(references) != 1:
        raise _error(
            SignatureRule.REFERENCES,
            f"the signature must have exactly one Reference, not {len(references)}",
            signed_info,
        )
    reference = references[0]
    uri = reference.get("URI")
    if uri != "":
        raise _error(
            SignatureRule.REFERENCE_URI,
            f'the signature must cover the whole envelope (Reference URI=""), not {uri!r}',
            reference,
        )
    steps = _children(_only_child(reference, "Transforms", "ds:Reference"))
    transforms = [str(step.get("Algorithm")) for step in steps]
    if transforms != [ENVELOPED, EXCLUSIVE_C14N]:
        raise _error(
            SignatureRule.TRANSFORMS,
            "the Reference transforms must be enveloped-signature then exclusive C14N without comments, "
            f"not {', '.join(transforms) or 'none'}",
            reference,
        )
    for step in steps:
        _algorithm(step)  # no parameters (an InclusiveNamespaces list, an XPath)
    digest = _algorithm(_only_child(reference, "DigestMethod", "ds:Reference"))
    _check_base64(_only_child(reference, "DigestValue", "ds:Reference"))
    _check_base64(_only_child(signature, "SignatureValue", "ds:Signature"))
    if "sha1" in digest.lower():
        raise SignatureError(f"SHA-1 digests are not accepted ({digest})", rule_id=SignatureRule.SHA1.value)
    if digest not in {item.value for item in policy.digest_algorithms}:
        raise SignatureError(f"digest algorithm {digest} is not accepted", rule_id=SignatureRule.DIGEST_METHOD.value)
    key_info = _only_child(signature, "KeyInfo", "ds:Signature")
    names = [etree.QName(child).localname for child in _children(key_info)]
    if names != ["X509Data"]:
        raise _error(
            SignatureRule.KEY_INFO,
            f"KeyInfo must hold the signer's certificate only (X509Data), not {', '.join(names) or 'nothing'}",
            key_info,
        )
    x509_data = _only_child(key_info, "X509Data", "ds:KeyInfo")
    if [etree.QName(child).localname for child in _children(x509_data)] != ["X509Certificate"]:
        raise _error(
            SignatureRule.KEY_INFO, "X509Data must hold exactly one X509Certificate and nothing else", x509_data
        )
    return algorithm


def _base64_of(element: etree._Element, rule: SignatureRule, what: str) -> bytes:
    """Return the bytes of a base64 value (whitespace allowed); refuse any other character by ``rule``."""
    try:
        return b64decode("".join(codec.text_of(element).split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise _error(rule, f"{what} is not base64: {exc}", element) from exc


def _check_base64(element: etree._Element) -> None:
    """Refuse a DigestValue or SignatureValue that is not base64 (signxml's decoder would skip stray characters)."""
    _base64_of(element, SignatureRule.UNVERIFIABLE, f"ds:{etree.QName(element).localname}")


def _certificate_element(signature: etree._Element) -> etree._Element:
    element = signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces={"ds": NS_DS})
    assert element is not None  # checked by _check_signature_shape
    return element


def _certificate_in(element: etree._Element) -> bytes:
    """Return the DER bytes of the X509Certificate ``element``; they are compared, never parsed."""
    der = _base64_of(element, SignatureRule.KEY_INFO, "the certificate in KeyInfo")
    if not der:
        raise _error(SignatureRule.KEY_INFO, "the X509Certificate in KeyInfo is empty", element)
    return der


class _InPlaceVerifier(XMLVerifier):
    """signxml's verifier reading the caller's tree where it is, instead of a serialised and re-parsed copy."""

    def get_root(self, data: Any) -> Any:
        """Return ``data`` itself when it is an lxml element.

        signxml copies its input so that it may change the copy, but ``verify`` only reads the root it gets:
        it finds the signature there and serialises root and signature into copies of its own (its reference
        check and its enveloped transform each parse one) before changing anything. The tree is the whole
        document :func:`picexchange.codec.parse` made, so the copy held one more tree of a large message at
        signxml's peak and bought nothing (benchmarks/README.md, memory).
        """
        if isinstance(data, etree._Element):
            return data
        return super().get_root(data)  # type: ignore[no-untyped-call]  # signxml leaves it untyped


# Below this size (of the canonical form signxml returns) the freed trees are too small to be worth giving back.
_RETURN_HEAP_FROM = 256 * 1024


def _malloc_trim() -> Any:
    """Return glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


_MALLOC_TRIM = _malloc_trim()


def _return_freed_trees(size: int) -> None:
    """Give the pages of the trees signxml freed back to the system before decoding (glibc, large messages).

    libxml2 allocates a tree in many small blocks from the C heap; once freed they stay in glibc's free lists,
    resident, and decoding allocates the models elsewhere (Python's own arenas), so without this the models of
    a large message come on top of signxml's peak of three trees instead of into its freed pages.
    """
    if _MALLOC_TRIM is not None and size >= _RETURN_HEAP_FROM:
        _MALLOC_TRIM(0)


def _signxml_verify(
    root: etree._Element,
    certificate: x509.Certificate,
    *,
    now: dt.datetime,
    algorithm: SignatureAlgorithm,
    policy: VerifyPolicy,
    sender: str,
) -> etree._Element:
    """Run signxml with a pinned certificate and an explicit allow-list; translate everything it raises."""
    config = SignatureConfiguration(
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod(algorithm.value)}),
        digest_algorithms=frozenset(DigestAlgorithm(item.value) for item in policy.digest_algorithms),
        verification_time=now,
    )
    try:
        # A new verifier per call: signxml keeps per-call state on the instance. It reads the tree codec.parse
        # made (no DTD, no entities) in place, and re-parses its own serialisations of it, with its
        # resolve_entities=False, for the reference check.
        result = _InPlaceVerifier().verify(root, x509_cert=certificate, expect_config=config)
    except InvalidDigest as exc:
        raise SignatureError(
            "the signed content was changed after signing (digest mismatch)",
            rule_id=SignatureRule.DIGEST_MISMATCH.value,
        ) from exc
    except InvalidCertificate as exc:
        raise TrustError(
            f"the registered certificate of {sender} is not valid: {exc}",
            reason=TrustReason.CERTIFICATE_NOT_VALID.value,
        ) from exc
    except (InvalidSignature, cryptography.exceptions.InvalidSignature) as exc:
        raise SignatureError(
            f"the signature value does not verify with the registered certificate of {sender}",
            rule_id=SignatureRule.SIGNATURE_VALUE.value,
        ) from exc
    except (
        SignXMLException,
        cryptography.exceptions.UnsupportedAlgorithm,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        etree.LxmlError,
    ) as exc:
        raise SignatureError(
            f"the signature cannot be verified: {exc}", rule_id=SignatureRule.UNVERIFIABLE.value
        ) from exc
    if isinstance(result, list) or result.signed_xml is None:
        raise SignatureError("the signed data is not an XML element", rule_id=SignatureRule.UNVERIFIABLE.value)
    signed: etree._Element = result.signed_xml
    size = len(result.signed_data)
    del result  # its canonical bytes: only the tree parsed from them is kept
    _return_freed_trees(size)
    return signed


def verify(
    raw: bytes | etree._Element,
    *,
    trust: TrustStore,
    now: dt.datetime,
    receiver: str | None = None,
    hosted: Set[str] | None = None,
    sender: str | None = None,
    freshness: Freshness | None = None,
    policy: VerifyPolicy = DEFAULT_POLICY,
    limits: Limits = DEFAULT_LIMITS,
) -> Verified:
    """Check that ``raw`` is an envelope signed, as a whole, by the partner its header names as Sender.

    The checks run in this order, the first failure raising: safe bounded parse; the signature's placement
    and shape (one ds:Signature, last child of the root; one Reference URI=""; enveloped + exclusive C14N;
    accepted algorithms; no ds:Object; the signer's certificate alone in KeyInfo); envelope schema; the
    routing (:func:`admit`: Receiver hosted, Sender expected, known and allowed for the Utility Block); the
    certificate in KeyInfo registered for that Sender, valid at ``now`` and strong enough; the signature itself
    (signxml, pinned to that certificate); the signed tree is the whole Envelope, the routing of its header
    is admitted again and names the signer; Created within ``freshness`` when given.

    Args:
        raw: the bytes received, or their tree as :func:`picexchange.codec.parse` returned it (so a caller that
            already parsed them, like :func:`picexchange.exchange.accept`, does not parse twice).
        trust: the partner registry.
        now: the time to check certificate validity (and Created) at (aware).
        receiver: our participant id; when given, the header's Receiver must be it (``hosted`` of one).
        hosted: the participant ids we receive for; when given, the header's Receiver must be one of them.
        sender: when given, the header's Sender must be it (a reply comes from whom the message went to).
        freshness: when given, how far Created may lie from ``now``.
        policy: accepted algorithms and key sizes.
        limits: parsing bounds.

    Returns:
        The envelope and routing header decoded from what was signed, the signing partner and its certificate.

    Raises:
        ParseError, MessageTooLarge: not a safe, bounded XML document (DOCTYPE, entities, too deep, ...).
        SignatureError: no, several, misplaced or malformed signatures; anything but the whole envelope
            signed; disallowed algorithms or transforms; content changed after signing.
        TrustError: a routing or certificate refusal, its :class:`TrustReason` in ``reason``.
        SchemaError, BusinessRuleError: the (signed) envelope does not conform to the envelope schema.

    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if receiver is not None and hosted is not None:
        raise ValueError("give receiver or hosted, not both")
    ours = frozenset(hosted) if hosted is not None else frozenset({receiver}) if receiver is not None else None
    root = codec.parse(raw, limits=limits) if isinstance(raw, bytes) else raw
    return _verify_tree(
        root, received=None, trust=trust, now=now, hosted=ours, sender=sender, freshness=freshness, policy=policy
    )


def _verify_tree(
    root: etree._Element,
    *,
    received: RoutingHeader | None,
    trust: TrustStore,
    now: dt.datetime,
    hosted: Set[str] | None,
    sender: str | None = None,
    freshness: Freshness | None = None,
    policy: VerifyPolicy = DEFAULT_POLICY,
) -> Verified:
    """Run :func:`verify` on a parsed tree, from the signature's placement on.

    ``received`` is the tree's header when the caller already checked the envelope schema on this tree and read
    it (``exchange.accept_for``), so neither is done twice; None checks and reads it here.
    """
    signature = _check_placement(root)
    algorithm = _check_signature_shape(signature, policy)
    if received is None:
        schemas.check_envelope(root)
        # From here on the header is schema-valid. The routing read from the received tree only chooses whom to
        # check the signature against; the result is built from the signed tree, where it is decided again.
        received = read_header(root)
    try:
        partner = admit(received, hosted=hosted, trust=trust, sender=sender)
        registered = _pinned(partner, trust, _certificate_element(signature), now=now, policy=policy)
        signed = _signxml_verify(
            root, registered.certificate, now=now, algorithm=algorithm, policy=policy, sender=partner.id
        )
        envelope, header = _decode_signed(root, signed)
        if admit(header, hosted=hosted, trust=trust, sender=sender) is not partner or header.sender != partner.id:
            raise TrustError(
                f"the signed Sender {header.sender} is not the signer {partner.id}",
                reason=TrustReason.SIGNER_NOT_SENDER.value,
                path=_PATHS["Sender"],
            )
        if freshness is not None:
            check_created(header, now=now, freshness=freshness)
    except MessageError as exc:
        if exc.message_id is None:
            exc.message_id = received.message_id
        raise
    return Verified(
        envelope=envelope,
        signed_xml=signed,
        signer=partner,
        certificate=registered.certificate,
        algorithm=algorithm,
        header=header,
    )


def _decode_signed(root: etree._Element, signed: etree._Element) -> tuple[Envelope, RoutingHeader]:
    """Decode the envelope and its routing header from the signed tree; check it is the whole envelope."""
    # Enveloped transform over URI="": what was signed is the whole Envelope less its one signature.
    if signed.tag != _ENVELOPE or next(signed.iter(_ds("Signature")), None) is not None:
        raise SignatureError("the signed data is not the whole envelope", rule_id=SignatureRule.REFERENCE_URI.value)
    # The business document against the full schema, then the models. Both run on the received tree first
    # for their errors' lines (signxml's tree is a canonical re-parse whose lines are not the sender's);
    # what was signed is the same content, and the result is decoded from the signed tree only.
    schemas.check_document(root)
    try:
        # The full XSD has just proved the value facets on this content (signed is its canonical form).
        with schema_proven():
            envelope = codec.decode(signed, Envelope)
    except (SchemaError, BusinessRuleError):
        codec.decode(root, Envelope)  # raises the same problems, with the lines of the bytes received
        raise
    return envelope, read_header(signed)
