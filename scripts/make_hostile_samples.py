"""Write the hostile samples built from a real signed message, and samples/hostile/expected.json.

Run from the repository root with the project's virtual environment:

    .venv/bin/python scripts/make_hostile_samples.py

Every file written here starts from ``samples/messages/plastic-au-my-01-notification.xml`` (AU:DCCEEW to
MY:DOE) and is signed with the TEST ONLY key of AU:DCCEEW in ``samples/keys`` where the attack needs a valid
signature: a comment or a processing instruction is not covered by exclusive C14N, so those messages verify,
and only the rule of :func:`picexchange.codec.parse` refuses them. RSA PKCS#1 v1.5 signatures are
deterministic, so the output is the same on every run. The hand-written files of ``samples/hostile`` are
left alone; ``expected.json`` covers them too: for each file, what :func:`picexchange.exchange.accept` must
raise when MY:DOE receives it with ``samples/keys/partners.toml`` as its registry (the error code, its HTTP
status, a phrase of its text, and the path, line and smaller parsing limits where they matter).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from picexchange import codec, signing
from picexchange.codec import Limits
from picexchange.files.registry import load_trust
from picexchange.testpki import file_stem
from picexchange.trust import Identity, TrustStore

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "samples" / "hostile"
KEYS = ROOT / "samples" / "keys"
BASE = ROOT / "samples" / "messages" / "plastic-au-my-01-notification.xml"
SENDER, RECEIVER = "AU:DCCEEW", "MY:DOE"
NS = {"env": "urn:picexchange:envelope:1", "pic": "urn:picexchange:ub:pic:1", "cmn": "urn:picexchange:common:1"}
#: A SignatureValue that verifies nothing: the attacker has only the partner's public certificate.
GARBAGE_SIGNATURE = b"A" * 344

# Sizes of the floods kept as files: over the default per-element bounds and below ~300 KB each. Floods over
# the totals of the default Limits would be megabytes; the files carry smaller ones, refused under the smaller
# limits expected.json names, and tests/test_parsing.py builds the full-size ones.
NAMESPACE_FLOOD = 10_000
ATTRIBUTE_FLOOD = 10_000
SPREAD_LIMITS = Limits(max_attributes=1000, max_namespace_declarations=1000)


@cache
def identity(participant: str) -> Identity:
    """Return the TEST ONLY signing identity of ``participant`` from samples/keys."""
    stem = file_stem(participant)
    key = serialization.load_pem_private_key((KEYS / f"{stem}.key.pem").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    certificate = x509.load_pem_x509_certificate((KEYS / f"{stem}.cert.pem").read_bytes())
    return Identity(participant=participant, private_key=key, certificate=certificate)


@cache
def trust() -> TrustStore:
    """Return the registry of the sample participants (certificates only)."""
    return load_trust(KEYS / "partners.toml")


def base_tree() -> etree._Element:
    """Return a new tree of the unsigned base message."""
    return codec.parse(BASE.read_bytes())


def sign(root: etree._Element) -> bytes:
    """Sign ``root`` as AU:DCCEEW; a tree is signed as it is, with no parse and so no parsing bounds."""
    return signing.sign(root, identity(SENDER))


def garbage_signature(signed: bytes) -> bytes:
    """Return ``signed`` with its SignatureValue replaced by bytes that verify nothing."""
    return re.sub(rb"<ds:SignatureValue>[^<]*<", b"<ds:SignatureValue>" + GARBAGE_SIGNATURE + b"<", signed, count=1)


def namespace_flood(count: int) -> bytes:
    """Return the signed base with ``count`` unused namespace declarations on the root and a garbage signature.

    Exclusive C14N leaves out declarations no element uses, so with the genuine SignatureValue this message
    would still verify; the garbage one is the keyless attacker of issue 7 (20 000 of them cost 2.3 s).
    """
    declarations = b"".join(b' xmlns:n%d="urn:n:%d"' % (i, i) for i in range(count))
    signed = garbage_signature(sign(base_tree()))
    return signed.replace(b"<env:Envelope ", b"<env:Envelope" + declarations + b" ", 1)


def attribute_flood(count: int) -> bytes:
    """Return the base with ``count`` attributes on IntendedQuantity/Tonnes, genuinely signed (signed data)."""
    root = base_tree()
    quantity = root.find(".//pic:IntendedQuantity/cmn:Tonnes", NS)
    assert quantity is not None
    for i in range(count):
        quantity.set(f"a{i}", "1")
    return sign(root)


def attributes_spread(per_element: int, elements: int) -> bytes:
    """Return the base with ``per_element`` attributes on each of ``elements`` added Remarks-like elements.

    Each element stays under the per-element bound; together they pass the total. The elements are
    Notification children the schema does not know, which matters only after the parse bounds.
    """
    root = base_tree()
    body = root.find(".//pic:Notification", NS)
    assert body is not None
    for n in range(elements):
        extra = etree.SubElement(body, f"{{{NS['pic']}}}Padding")
        for i in range(per_element):
            extra.set(f"a{i}", str(n))
    return sign(root)


def namespaces_spread(per_element: int, elements: int) -> bytes:
    """Return the signed base with ``per_element`` unused declarations on each of its first ``elements`` children.

    Unused declarations are not signed (exclusive C14N), so they are added to the signed bytes and the
    signature stays valid: what a replay of a genuine message with a namespace flood looks like.
    """
    signed = sign(base_tree())
    # The end of each start tag's name, the root's left out.
    starts = [match.end() for match in re.finditer(rb"<(?:env|pic|cmn):\w+", signed)][1 : elements + 1]
    assert len(starts) == elements
    pieces, last = [], 0
    for n, at in enumerate(starts):
        pieces += [signed[last:at], b"".join(b' xmlns:s%d_%d="urn:s:%d:%d"' % (n, i, n, i) for i in range(per_element))]
        last = at
    pieces.append(signed[last:])
    return b"".join(pieces)


def text_split(path: str, old: str, build: Callable[[etree._Element, str], None]) -> bytes:
    """Return the base signed with the text ``old`` of the element at ``path`` rebuilt by ``build``."""
    root = base_tree()
    element = root.find(path, NS)
    assert element is not None and element.text == old, (path, element.text if element is not None else None)
    element.text = None
    build(element, old)
    return sign(root)


def _comment_inside(at: int, comment: str = "") -> Callable[[etree._Element, str], None]:
    def build(element: etree._Element, text: str) -> None:
        element.text = text[:at]
        node = etree.Comment(comment)
        node.tail = text[at:]
        element.append(node)

    return build


def _pi_inside(at: int) -> Callable[[etree._Element, str], None]:
    def build(element: etree._Element, text: str) -> None:
        element.text = text[:at]
        node = etree.ProcessingInstruction("render", "hide")
        node.tail = text[at:]
        element.append(node)

    return build


def signed_files() -> dict[str, bytes]:
    """Return the hostile files this script writes, by name."""
    return {
        "namespace-flood.xml": namespace_flood(NAMESPACE_FLOOD),
        "attribute-flood.xml": attribute_flood(ATTRIBUTE_FLOOD),
        "attributes-spread.xml": attributes_spread(25, 50),
        "namespaces-spread.xml": namespaces_spread(25, 50),
        # Issue 7: verifies as 160 (C14N drops the comment), was shown as 1.
        "comment-in-quantity.xml": text_split(".//pic:IntendedQuantity/cmn:Tonnes", "160", _comment_inside(1)),
        # Issue 7: one header reader read 'MY:', another 'MY:DOE'.
        "comment-in-receiver.xml": text_split(".//env:Receiver", "MY:DOE", _comment_inside(3, "c")),
        "pi-in-business-content.xml": text_split(
            ".//pic:Exporter/cmn:Name", "Southern Cross Polymers Pty Ltd", _pi_inside(len("Southern Cross "))
        ),
        # A genuine signature (of the root element, as signxml signs), then a stylesheet PI put before the root:
        # URI="" covers it for xmlsec1 and Santuario, not for signxml, so the profile refuses it by name.
        "stylesheet-pi-signed.xml": _before_root(
            sign(base_tree()), b'<?xml-stylesheet type="text/xsl" href="view.xsl"?>'
        ),
    }


def _before_root(signed: bytes, item: bytes) -> bytes:
    """Return ``signed`` with ``item`` (a prolog processing instruction) between the XML declaration and the root."""
    declaration, _, rest = signed.partition(b"?>")
    return declaration + b"?>\n" + item + rest


_PARSE = {"code": "parse", "http_status": 400}
_SIGNATURE = {"code": "signature", "http_status": 403}
_NOTIFICATION = "/Envelope/Body/Notification"

#: What exchange.accept raises for each file (MY:DOE receiving, samples/keys/partners.toml as the registry).
EXPECTED: Mapping[str, Mapping[str, Any]] = {
    "billion-laughs.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed", "line": 2},
    "binary-png.bin": {**_PARSE, "text": "not well-formed"},
    "binary-random.bin": {**_PARSE, "text": "not well-formed"},
    "cdata-wrapped-envelope.xml": {**_PARSE, "text": "not well-formed"},
    "empty.xml": {**_PARSE, "text": "document is empty"},
    "external-dtd-file.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "external-dtd-http.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "parameter-entities.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "quadratic-blowup.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "stylesheet-pi.xml": {**_SIGNATURE, "text": "the envelope is not signed"},
    "too-many-elements.xml": {
        **_PARSE,
        "text": "1583 elements, more than the limit of 1000",
        "limits": {"max_elements": 1000},
    },
    "truncated.xml": {**_PARSE, "text": "not well-formed", "line": 32},
    "utf16-doctype.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "utf7-doctype.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "utf8-bom-doctype.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "whitespace-only.xml": {**_PARSE, "text": "document is empty"},
    "xinclude.xml": {**_SIGNATURE, "text": "the envelope is not signed"},
    "xxe-file.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "xxe-http.xml": {**_PARSE, "text": "DOCTYPE declarations are not allowed"},
    "namespace-flood.xml": {
        **_PARSE,
        # the three of the envelope's own prefixes that its elements use, and the flood
        "text": f"element Envelope declares {NAMESPACE_FLOOD + 3} namespaces, more than the limit of 32 per element",
        "path": "/Envelope",
        "line": 2,
    },
    "attribute-flood.xml": {
        **_PARSE,
        "text": f"element Tonnes has {ATTRIBUTE_FLOOD} attributes, more than the limit of 32 per element",
        "path": f"{_NOTIFICATION}/IntendedQuantity/Tonnes",
        "line": 47,
    },
    "attributes-spread.xml": {
        **_PARSE,
        "text": "document has 1256 attributes, more than the limit of 1000",
        "path": f"{_NOTIFICATION}/Padding[41]",
        "line": 157,
        "limits": {"max_attributes": 1000},
    },
    "namespaces-spread.xml": {
        **_PARSE,
        "text": "document declares 1254 namespaces, more than the limit of 1000",
        "path": f"{_NOTIFICATION}/IntendedQuantity/Tonnes",
        "line": 47,
        "limits": {"max_namespace_declarations": 1000},
    },
    "comment-in-quantity.xml": {
        **_PARSE,
        "text": "a comment inside the document is not allowed (in Tonnes)",
        "path": f"{_NOTIFICATION}/IntendedQuantity/Tonnes",
        "line": 47,
    },
    "comment-in-receiver.xml": {
        **_PARSE,
        "text": "a comment inside the document is not allowed (in Receiver)",
        "path": "/Envelope/Header/Receiver",
        "line": 7,
    },
    "stylesheet-pi-signed.xml": {
        **_SIGNATURE,
        "text": "a processing instruction (<?xml-stylesheet ...?>) before or after the Envelope is not allowed",
        "line": 2,
    },
    "pi-in-business-content.xml": {
        **_PARSE,
        "text": "a processing instruction inside the document is not allowed (in Name)",
        "path": f"{_NOTIFICATION}/Exporter/Name",
        "line": 21,
    },
}


def build() -> dict[Path, bytes]:
    """Return every file this script writes, by path."""
    files = {HOSTILE / name: data for name, data in signed_files().items()}
    files[HOSTILE / "expected.json"] = (json.dumps(EXPECTED, indent=2, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    """Write the files; print what was written."""
    files = build()
    for path, data in files.items():
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
