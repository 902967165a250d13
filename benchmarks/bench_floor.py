"""The floor: what receiving one signed envelope costs done with the bare libraries, as a yardstick only.

Run by hand: ``.venv/bin/python benchmarks/bench_floor.py [--messages N]`` prints the floor's own cost per step;
``benchmarks/bench_gateway.py`` imports it and reports the gateway as ratios to it, measured in the same run.

The floor does the work the gateway must do for one message, and nothing a product adds around it:

- the hardened lxml parse (the parser settings of :mod:`picexchange.codec`: no DTD, no entities, no network);
- lxml XSD validation of the whole envelope against the packaged schema (compiled once);
- the enveloped XMLDSig check by hand from its parts: exclusive C14N of the envelope without its signature,
  SHA-256, compared with the DigestValue; exclusive C14N of SignedInfo and a raw ``cryptography`` verify with
  the sender's registered key (no shape checks, no pinning, no certificate policy);
- the project's decode (:func:`picexchange.codec.decode`) of the tree into the Envelope model;
- one SQLite insert in a WAL database with ``synchronous=FULL`` (as the gateway's store), committed;
- a small signed receipt: a few elements naming the message and the digest of its bytes, exclusive C14N,
  a raw ``cryptography`` signature, serialised.

It is **not** a receiver to use: it checks no signature shape, trusts whatever key it is given and its
receipt follows no schema. The floor *receiver* is a minimal ASGI app doing that work per POST on the event
loop, served by uvicorn the way the gateway is served (h11, no access log, Nagle off), in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import socket
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from picexchange import codec, resources
from picexchange.models.envelope import Envelope

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_FLOOR = "urn:picexchange:bench:floor"
_SIGNATURE = f"{{{NS_DS}}}Signature"
# The parser settings of picexchange.codec (hardened: no DTD, no entities, no network).
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
    collect_ids=False,
)
_SIGNED_INFO = etree.XPath("ds:SignedInfo", namespaces={"ds": NS_DS})
_SIGNATURE_VALUE = etree.XPath("string(ds:SignatureValue)", namespaces={"ds": NS_DS})
_DIGEST_VALUE = etree.XPath("string(ds:SignedInfo/ds:Reference/ds:DigestValue)", namespaces={"ds": NS_DS})

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def packaged_schema() -> etree.XMLSchema:
    """Compile the packaged full schema (the one ``schemas.check_document`` uses) with lxml, once."""
    name = resources.DRIVER_XSD
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    tree = etree.fromstring(resources.xsd_bytes(name), parser, base_url=resources.xsd_location(name))
    return etree.XMLSchema(tree.getroottree())


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def raw_sign(key: Key, data: bytes) -> bytes:
    """Sign ``data`` with RSA PKCS#1 v1.5 or ECDSA, SHA-256: the bare ``cryptography`` call."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def raw_verify(key: PublicKey, signature: bytes, data: bytes) -> None:
    """Verify ``signature`` over ``data`` (raises cryptography's InvalidSignature)."""
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def check_enveloped(root: etree._Element, key: PublicKey) -> None:
    """Check the enveloped signature of ``root`` by hand: digest of the rest, then SignedInfo's signature.

    The signature is detached for the digest (the enveloped-signature transform) and put back.
    """
    signature = root[-1]
    if signature.tag != _SIGNATURE:
        raise ValueError("not signed")
    root.remove(signature)
    try:
        digest = base64.b64encode(hashlib.sha256(_c14n(root)).digest()).decode("ascii")
    finally:
        root.append(signature)
    if digest != "".join(str(_DIGEST_VALUE(signature)).split()):
        raise ValueError("digest mismatch")
    signed_info = _SIGNED_INFO(signature)
    assert isinstance(signed_info, list)
    value = base64.b64decode("".join(str(_SIGNATURE_VALUE(signature)).split()))
    raw_verify(key, value, _c14n(signed_info[0]))


def bare_seal(root: etree._Element, key: Key, certificate: x509.Certificate) -> bytes:
    """Sign ``root`` (an unsigned envelope tree, changed in place) the way signxml does, with bare lxml calls.

    The enveloped XMLDSig of the profile: digest of the exclusive C14N of the root, a SignedInfo over it,
    its exclusive C14N signed, the certificate in KeyInfo; then serialised once.
    """
    digest = base64.b64encode(hashlib.sha256(_c14n(root)).digest()).decode("ascii")
    method = (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        if isinstance(key, rsa.RSAPrivateKey)
        else "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    )
    ds = f"{{{NS_DS}}}"
    signature = etree.SubElement(root, ds + "Signature", nsmap={"ds": NS_DS})
    signed_info = etree.SubElement(signature, ds + "SignedInfo")
    etree.SubElement(signed_info, ds + "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(signed_info, ds + "SignatureMethod", Algorithm=method)
    reference = etree.SubElement(signed_info, ds + "Reference", URI="")
    transforms = etree.SubElement(reference, ds + "Transforms")
    etree.SubElement(transforms, ds + "Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
    etree.SubElement(transforms, ds + "Transform", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(reference, ds + "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(reference, ds + "DigestValue").text = digest
    etree.SubElement(signature, ds + "SignatureValue").text = base64.b64encode(
        raw_sign(key, _c14n(signed_info))
    ).decode("ascii")
    der = certificate.public_bytes(serialization.Encoding.DER)
    key_info = etree.SubElement(signature, ds + "KeyInfo")
    etree.SubElement(etree.SubElement(key_info, ds + "X509Data"), ds + "X509Certificate").text = base64.b64encode(
        der
    ).decode("ascii")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def small_receipt(message_id: str, digest: str, key: Key) -> bytes:
    """Return a small signed receipt: the message id and digest, and a raw signature over their C14N."""
    receipt = etree.Element(f"{{{NS_FLOOR}}}Receipt", nsmap={None: NS_FLOOR})
    etree.SubElement(receipt, f"{{{NS_FLOOR}}}RefToMessageId").text = message_id
    etree.SubElement(receipt, f"{{{NS_FLOOR}}}ReceivedDigest").text = digest
    etree.SubElement(receipt, f"{{{NS_FLOOR}}}ReceivedAt").text = dt.datetime.now(dt.UTC).isoformat()
    value = raw_sign(key, _c14n(receipt))
    etree.SubElement(receipt, f"{{{NS_FLOOR}}}SignatureValue").text = base64.b64encode(value).decode("ascii")
    return bytes(etree.tostring(receipt, encoding="UTF-8"))


def check_receipt(raw: bytes, key: PublicKey, digest: str) -> None:
    """The floor client's check of a floor receipt: its signature, and that it quotes ``digest``."""
    receipt = etree.fromstring(raw, _PARSER)
    value = receipt[-1]
    receipt.remove(value)
    raw_verify(key, base64.b64decode(value.text or ""), _c14n(receipt))
    if receipt[1].text != digest:
        raise ValueError("the receipt quotes another digest")


class FloorReceiver:
    """The bare-library work of receiving one message (see the module docstring), on one SQLite connection."""

    def __init__(self, *, sender_key: PublicKey, key: Key, database: Path) -> None:
        self.sender_key = sender_key
        self.key = key
        self.schema = packaged_schema()
        self.db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS inbound (message_id TEXT PRIMARY KEY, sender TEXT, received_at TEXT, "
            "data BLOB, receipt BLOB)"
        )

    def receive(self, raw: bytes) -> bytes:
        """Parse, validate, check the signature, decode, store and receipt ``raw``; return the receipt."""
        root = etree.fromstring(raw, _PARSER)
        self.schema.assertValid(root)
        check_enveloped(root, self.sender_key)
        envelope = codec.decode(root, Envelope)
        digest = base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")
        message_id = str(envelope.header.message_id)
        receipt = small_receipt(message_id, digest, self.key)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "INSERT OR IGNORE INTO inbound VALUES (?, ?, ?, ?, ?)",
            (message_id, envelope.header.sender, dt.datetime.now(dt.UTC).isoformat(), raw, receipt),
        )
        self.db.execute("COMMIT")
        return receipt


_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def floor_app(receiver: FloorReceiver) -> Callable[[_Scope, _Receive, _Send], Awaitable[None]]:
    """Return the minimal ASGI app: ``POST`` runs :meth:`FloorReceiver.receive` on the body; ``GET`` says ok."""

    async def app(scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            status, body = 200, receiver.receive(b"".join(chunks))
        else:
            status, body = 200, b"ok"
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/xml")]}
        )
        await send({"type": "http.response.body", "body": body})

    return app


def serve_floor(folder: Path, port: int, sender_certificate: Path, key: Path) -> None:
    """Serve the floor receiver on ``port`` until killed (the child process of ``bench_gateway``)."""
    import uvicorn

    certificate = x509.load_pem_x509_certificate(sender_certificate.read_bytes())
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    public = certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    receiver = FloorReceiver(sender_key=public, key=private, database=folder / "floor.db")
    config = uvicorn.Config(floor_app(receiver), log_config=None, access_log=False, lifespan="off", server_header=False)
    # IPPROTO_TCP, so asyncio turns Nagle off as it does for the gateway's listener.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


# ------------------------------------------------------------------------------------------------- by hand


def _steps(messages: int) -> None:
    """Print what each step of the floor costs on the sealed sample (microseconds, median)."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_gateway import EXPORTER, IMPORTER, SAMPLE, seal_all, write_pki

    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    with tempfile.TemporaryDirectory() as scratch:
        pki = write_pki(Path(scratch))
        sealed = seal_all(pki, document, messages)
        sender = pki[EXPORTER].certificate.public_key()
        assert isinstance(sender, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        receiver = FloorReceiver(sender_key=sender, key=pki[IMPORTER].private_key, database=Path(scratch) / "f.db")
        roots = [etree.fromstring(item.raw, _PARSER) for item in sealed]
        steps: dict[str, Callable[[int], object]] = {
            "parse": lambda i: etree.fromstring(sealed[i].raw, _PARSER),
            "XSD": lambda i: receiver.schema.assertValid(roots[i]),
            "C14N+SHA-256+verify": lambda i: check_enveloped(roots[i], sender),
            "decode": lambda i: codec.decode(roots[i], Envelope),
            "receipt": lambda i: small_receipt("x", "y", receiver.key),
            "whole receive": lambda i: receiver.receive(sealed[i].raw),
        }
        print(f"{len(sealed[0].raw)} bytes per message, {messages} messages, median microseconds per step")
        for name, step in steps.items():
            times = []
            for i in range(messages):
                start = time.perf_counter()
                step(i)
                times.append(time.perf_counter() - start)
            print(f"  {name:22} {statistics.median(times) * 1e6:8.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    _steps(parser.parse_args().messages)
