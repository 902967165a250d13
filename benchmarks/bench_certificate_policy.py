"""Measure what the certificate policy adds to verifying a message, next to the verification itself.

Run by hand from the repository root:

    .venv/bin/python benchmarks/bench_certificate_policy.py [--rounds 7] [--number 200]

``signing.verify`` runs the whole policy (``RegisteredCertificate.problems``) each time a certificate is
presented, so its cost is paid per message. In the same run and interleaved (this machine's speed drifts up
to 2x within seconds, DESIGN §7) it times, per call:

- ``policy``: ``certificate_problems`` on a test PKI certificate issued by an RSA-2048 CA (key, basic
  constraints, key usage, extended key usage, signature hash, issuer key from the signature, critical
  extensions);
- ``policy + issuer``: the same with the issuer's certificate registered (adds one RSA verification of the
  certificate's signature);
- ``policy, EC issuer``: a certificate from an EC P-256 CA (decodes r and s of the ECDSA signature);
- ``verify``: ``signing.verify`` of the signed plastic-au-my Notification (8.7 KB), the policy included.

It prints medians in microseconds and the policy as a share of one verify. Numbers go into notes, never into
assertions.

Measured 2026-11-29 on the 2-core machine shared with four other test runs (cryptography 50, RSA-2048):

=====================  ==========  ===============
case                   median, us  share of verify
=====================  ==========  ===============
policy                 13          0.5 %
policy + issuer        82          3.4 %
policy, EC issuer      13          0.6 %
verify                 2 370       100 %
=====================  ==========  ===============

The policy is noise next to XML signature verification; a registered issuer costs one more RSA public-key
operation (about 70 us), still under 4 % of a verify.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from timing import per_call

from picexchange import codec, exchange, signing, testpki
from picexchange.models.envelope import Envelope
from picexchange.models.pic import Notification
from picexchange.trust import certificate_problems

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "messages" / "plastic-au-my-01-notification.xml"
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=200)
    options = parser.parse_args()

    start, end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
    pki = testpki.make_test_pki(["AU:DCCEEW", "MY:DOE"], not_before=start, not_after=end)
    certificate = pki["MY:DOE"].certificate
    ec_ca = testpki.make_ca(key=ec.generate_private_key(ec.SECP256R1()), not_before=start, not_after=end)
    from_ec = testpki.make_certificate(
        "MY:DOE",
        certificate.public_key(),  # type: ignore[arg-type]
        ca_key=ec_ca[0],
        ca_certificate=ec_ca[1],
        not_before=start,
        not_after=end,
    )
    document = codec.from_xml(SAMPLE.read_bytes(), Envelope).document
    assert isinstance(document, Notification)
    raw = exchange.seal(document, me=pki["AU:DCCEEW"].identity, to="MY:DOE", now=NOW).raw
    trust = pki.trust()
    cases: dict[str, Callable[[], object]] = {
        "policy": lambda: certificate_problems(certificate),
        "policy + issuer": lambda: certificate_problems(certificate, issuer=pki.ca_certificate),
        "policy, EC issuer": lambda: certificate_problems(from_ec),
        "verify": lambda: signing.verify(raw, trust=trust, now=NOW),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.rounds):
        for name, work in cases.items():
            times[name].append(per_call(work, options.number if name != "verify" else options.number // 10))
    verify = statistics.median(times["verify"])
    print(f"signed message {len(raw)} bytes, {options.rounds} rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:20s} {median:9.1f} us  {median / verify:6.1%} of one verify")


if __name__ == "__main__":
    main()
