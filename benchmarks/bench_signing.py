"""Measure signing and verifying envelopes against the bare floor of the same work.

Run by hand from the repository root:

    .venv/bin/python benchmarks/bench_signing.py [--rounds 7] [--keys rsa2048,rsa3072,ec-p256]

For each sample message type (``samples/messages/max-*.xml``, one per type) and key type it times, in the
same run and interleaved (this machine's speed drifts up to 2x within seconds, DESIGN §7):

- ``c14n``: a bare exclusive C14N of the parsed document (lxml);
- ``raw sign`` / ``raw verify``: cryptography signing / verifying the SHA-256 digest of that C14N
  (RSA PKCS#1 v1.5 or ECDSA), i.e. the cryptographic floor;
- ``sign``: ``picexchange.signing.sign(bytes)`` (parse, signxml enveloped signature, serialise once);
- ``signxml``: ``XMLVerifier().verify`` alone on the parsed signed tree, pinned certificate (what verify
  spends in signxml: it serialises and re-parses the tree several times);
- ``checks``: safe parse + envelope schema + decode into the Envelope model (the non-signature part);
- ``verify``: ``picexchange.signing.verify(bytes)`` (safe parse, shape checks, envelope schema, pinned
  signxml verification, decode of the signed tree).

Ratios (``×``) compare sign with (c14n + SHA-256 + raw sign), signxml and verify with (c14n + SHA-256 +
raw verify). Times are medians per
message, in milliseconds. Numbers go into notes, never into assertions.

Measured 2026-11-25 on the 2-core python-svc machine (signxml 5.2, lxml 6.1, cryptography 50), the 14
max-* samples (3.5-14 KB signed); the RSA-2048 block was quiet, the others ran beside other test suites:

============  ===============  ====================  ======================  =========================
key           sign, ms         sign / floor          signxml verify / floor  picexchange verify / floor
============  ===============  ====================  ======================  =========================
RSA-2048      0.70-1.37        2.0x (1.9-3.1)        11x (9.6-12.7)          26x (22-29), 0.8-2.4 ms
RSA-3072      1.4-3.4          1.4x (0.7-1.9)        7.4x (4.5-16)           16x (10-37), 0.9-2.8 ms
ECDSA P-256   0.34-1.6         9.9x (6.9-13)         5.3x (4.5-9.9)          12x (5-24), 0.9-3.1 ms
============  ===============  ====================  ======================  =========================

Signing is close to the cost of the private-key operation for RSA (2x); for ECDSA, whose raw signature
takes 0.03 ms, signxml's serialising and re-parsing dominate (10x). Verifying is far above the floor
because a public-key check is cheap (0.02 ms for RSA-2048): signxml alone spends about 0.35 ms for a 4 KB
message (it serialises and re-parses the tree six times), and picexchange adds the safe parse, the shape
checks, the envelope schema and the decode of the signed tree into the model (0.1-0.6 ms, the ``checks``
column). In absolute terms a signed 4 KB message costs about 0.8 ms to sign and 0.9 ms to verify.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from picexchange import codec, schemas, signing, testpki
from picexchange.models.envelope import Envelope
from picexchange.trust import Identity, TrustStore

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "messages"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def median_ms(function: Callable[[], object], *, rounds: int, minimum: float = 0.05) -> float:
    """Return the median time of one call in ms, over ``rounds`` batches of at least ``minimum`` s each."""
    function()
    calls = 1
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - started
        if elapsed >= minimum:
            break
        calls *= 2
    samples = [elapsed / calls]
    for _ in range(rounds - 1):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter() - started) / calls)
    return statistics.median(samples) * 1000


def raw_functions(key: testpki.SigningKey, digest: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
    """Return bare sign and verify of a SHA-256 digest with ``key``."""
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_signature = key.sign(digest, padding.PKCS1v15(), prehashed)
        rsa_public = key.public_key()
        return (
            lambda: key.sign(digest, padding.PKCS1v15(), prehashed),
            lambda: rsa_public.verify(rsa_signature, digest, padding.PKCS1v15(), prehashed),
        )
    ec_signature = key.sign(digest, ec.ECDSA(prehashed))
    ec_public = key.public_key()
    return lambda: key.sign(digest, ec.ECDSA(prehashed)), lambda: ec_public.verify(
        ec_signature, digest, ec.ECDSA(prehashed)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--keys", default="rsa2048,rsa3072,ec-p256")
    options = parser.parse_args()
    files = sorted(SAMPLES.glob("max-*.xml"))
    if not files:
        raise SystemExit(f"no samples in {SAMPLES}")
    header = (
        f"{'message':<26} {'key':<8} {'bytes':>6} {'c14n':>6} {'raw sign':>8} {'sign':>6} {'sign×':>6} "
        f"{'raw vfy':>7} {'signxml':>7} {'sxml×':>6} {'checks':>6} {'verify':>6} {'vfy×':>6}"
    )
    print(header)
    print("-" * len(header))
    ratios: dict[str, list[tuple[float, float]]] = {}
    for key_name in options.keys.split(","):
        key_type = testpki.KeyType(key_name)
        senders = sorted({codec.from_xml(path.read_bytes()).header.sender for path in files})  # type: ignore[attr-defined]
        pki = testpki.make_test_pki(
            senders,
            not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            not_after=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
            key_type=key_type,
        )
        trust = pki.trust()
        for path in files:
            raw = path.read_bytes()
            sender = pki[codec.from_xml(raw).header.sender]  # type: ignore[attr-defined]
            identity = sender.identity
            signed = signing.sign(raw, identity)
            root = codec.parse(raw)
            document = etree.tostring(root, method="c14n", exclusive=True)
            digest = hashlib.sha256(document).digest()
            raw_sign, raw_verify = raw_functions(sender.private_key, digest)
            signed_root = codec.parse(signed)
            config = SignatureConfiguration(location="./", expect_references=1, verification_time=NOW)

            def c14n_only(root: etree._Element = root) -> bytes:
                return etree.tostring(root, method="c14n", exclusive=True)

            def sha_only(document: bytes = document) -> bytes:
                return hashlib.sha256(document).digest()

            def signxml_only(
                root: etree._Element = signed_root,
                cert: x509.Certificate = sender.certificate,
                config: SignatureConfiguration = config,
            ) -> object:
                return XMLVerifier().verify(root, x509_cert=cert, expect_config=config)

            def checks_only(raw: bytes = signed) -> object:
                parsed = codec.parse(raw)
                schemas.check_envelope(parsed)
                return codec.decode(parsed, Envelope)

            def ours_sign(raw: bytes = raw, identity: Identity = identity) -> bytes:
                return signing.sign(raw, identity)

            def ours_verify(raw: bytes = signed, trust: TrustStore = trust) -> object:
                return signing.verify(raw, trust=trust, now=NOW)

            c14n = median_ms(c14n_only, rounds=options.rounds)
            sha = median_ms(sha_only, rounds=options.rounds)
            bare_sign = median_ms(raw_sign, rounds=options.rounds)
            sign_ms = median_ms(ours_sign, rounds=options.rounds)
            bare_verify = median_ms(raw_verify, rounds=options.rounds)
            signxml_ms = median_ms(signxml_only, rounds=options.rounds)
            checks_ms = median_ms(checks_only, rounds=options.rounds)
            verify_ms = median_ms(ours_verify, rounds=options.rounds)
            sign_ratio = sign_ms / (c14n + sha + bare_sign)
            verify_ratio = verify_ms / (c14n + sha + bare_verify)
            signxml_ratio = signxml_ms / (c14n + sha + bare_verify)
            ratios.setdefault(key_name, []).append((sign_ratio, verify_ratio, signxml_ratio))
            name = path.stem.removeprefix("max-")
            print(
                f"{name:<26} {key_name:<8} {len(signed):>6} {c14n:>6.3f} {bare_sign:>8.3f} {sign_ms:>6.3f} "
                f"{sign_ratio:>5.1f}x {bare_verify:>7.3f} {signxml_ms:>7.3f} {signxml_ratio:>5.1f}x {checks_ms:>6.3f} "
                f"{verify_ms:>6.3f} {verify_ratio:>5.1f}x"
            )
    print()
    for key_name, triples in ratios.items():
        signs, verifies, bare = ([t[i] for t in triples] for i in range(3))
        print(
            f"{key_name}: sign {statistics.median(signs):.1f}x the floor ({min(signs):.1f}-{max(signs):.1f}), "
            f"signxml verify {statistics.median(bare):.1f}x ({min(bare):.1f}-{max(bare):.1f}), "
            f"picexchange verify {statistics.median(verifies):.1f}x ({min(verifies):.1f}-{max(verifies):.1f})"
        )


if __name__ == "__main__":
    main()
