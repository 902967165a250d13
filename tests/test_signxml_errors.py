"""signxml's foreign exceptions become our SignatureError at the boundary, never a traceback (issue 9).

Each input passes everything :func:`picexchange.signing.verify` checks before it hands the envelope to signxml
(safe parse, signature shape, envelope schema, registered certificate), and then makes signxml itself raise
something that is not a signxml exception: ``TypeError`` (an empty SignatureValue reaches ``b64decode(None)``)
or an lxml error (signxml
re-parses the envelope with IDs collected, and a duplicate or malformed ``xml:id`` in the business document,
which the envelope schema leaves for later, is a syntax error to it). Each must come out as SignatureError,
the foreign exception as its cause, the message id attached; and through ``exchange.accept`` too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from picexchange import codec, exchange, signing
from picexchange.errors import SignatureError
from picexchange.models.envelope import Envelope
from picexchange.testpki import TestPki, make_test_pki

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
SENDER, RECEIVER = "AU:DCCEEW", "MY:DOE"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki(
        [SENDER, RECEIVER], not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=30)
    )


@pytest.fixture(scope="module")
def sealed(pki: TestPki) -> exchange.Sealed:
    document = codec.from_xml((SAMPLES / "plastic-au-my-01-notification.xml").read_bytes(), Envelope).document
    return exchange.seal(document, me=pki[SENDER].identity, to=RECEIVER, now=NOW)


def _signature_value(text: bytes) -> Callable[[bytes], bytes]:
    def mutate(raw: bytes) -> bytes:
        element = b"<ds:SignatureValue/>" if not text else b"<ds:SignatureValue>" + text + b"</ds:SignatureValue>"
        changed = re.sub(rb"<ds:SignatureValue>.*?</ds:SignatureValue>", element, raw, count=1, flags=re.S)
        assert changed != raw
        return changed

    return mutate


def _xml_ids(*values: bytes) -> Callable[[bytes], bytes]:
    """Put ``xml:id`` attributes on the first elements of the business document (inside the Body)."""

    def mutate(raw: bytes) -> bytes:
        at = raw.index(b"<pic:Notification")
        for value in values:
            end = raw.index(b">", at)
            raw = raw[:end] + b' xml:id="' + value + b'"' + raw[end:]
            at = raw.index(b"<pic:", end)
        return raw

    return mutate


CASES: dict[str, tuple[Callable[[bytes], bytes], type[BaseException]]] = {
    "empty-signature-value-type-error": (_signature_value(b""), TypeError),
    "duplicate-xml-id-lxml-error": (_xml_ids(b"x", b"x"), etree.LxmlError),
    "xml-id-not-an-ncname-lxml-error": (_xml_ids(b"1 2"), etree.LxmlError),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_foreign_exception_inside_signxml_is_a_signature_error(
    pki: TestPki, sealed: exchange.Sealed, name: str
) -> None:
    """SignatureError (code ``signature``, the message id attached), caused by what signxml raised."""
    mutate, foreign = CASES[name]
    raw = mutate(sealed.raw)
    with pytest.raises(SignatureError) as caught:
        signing.verify(raw, trust=pki.trust(), now=NOW, receiver=RECEIVER)
    assert type(caught.value) is SignatureError  # not a TrustError: the certificate was the registered one
    assert caught.value.code == "signature"
    assert str(caught.value).startswith("the signature cannot be verified: ")
    assert isinstance(caught.value.__cause__, foreign), repr(caught.value.__cause__)
    assert caught.value.message_id == str(sealed.message_id)


@pytest.mark.parametrize("name", list(CASES))
def test_the_gateway_path_answers_such_input_with_a_signed_error(
    pki: TestPki, sealed: exchange.Sealed, name: str
) -> None:
    """``exchange.accept`` raises the same SignatureError, and an Error reply can be built for it."""
    mutate, _ = CASES[name]
    raw = mutate(sealed.raw)
    me = pki[RECEIVER].identity
    with pytest.raises(SignatureError) as caught:
        exchange.accept(raw, me=me, trust=pki.trust(), now=NOW)
    reply = exchange.error_for(caught.value, raw=raw, me=me, now=NOW)
    assert b"signature" in reply.raw


@pytest.mark.parametrize("junk", ["ééééAAAA", "AAAA!AAA", "AAAA*AAA"])
def test_a_signature_value_that_is_not_base64_is_refused_before_signxml(
    pki: TestPki, sealed: exchange.Sealed, junk: str
) -> None:
    """Non-ASCII characters (once a ValueError inside signxml) or stray ones (which its decoder skipped) are refused
    by the shape check, by rule, with the element's path."""
    raw = _signature_value(junk.encode())(sealed.raw)
    with pytest.raises(SignatureError) as caught:
        signing.verify(raw, trust=pki.trust(), now=NOW, receiver=RECEIVER)
    assert caught.value.rule_id == signing.SignatureRule.UNVERIFIABLE.value
    assert caught.value.text.startswith("ds:SignatureValue is not base64")
    assert caught.value.path is not None and caught.value.path.endswith("/SignatureValue")
    assert caught.value.__cause__ is not None and not isinstance(caught.value.__cause__, SignatureError)
