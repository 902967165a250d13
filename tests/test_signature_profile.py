"""docs/signature-profile.md is held to the code: every refusal its table lists happens, with its code and rule.

Each row of the page's refusal table names a case; here each case is a signature made for real — by xmlsec1
from the page's own template (tests/signature_recipes.py), changed the way a tutorial or a library default
would have it, or by signxml where xmlsec1 will not make it (SHA-1, Id references) — and
:func:`picexchange.signing.verify` must refuse it with exactly the error code and rule id the row gives. The
rule tables must list every :class:`~picexchange.signing.SignatureRule` and
:class:`~picexchange.signing.TrustReason`, and a row without a case here (or a case without a row) fails.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from picexchange import codec, errors, signing, testpki
from picexchange.errors import CodedError
from picexchange.files.registry import load_trust
from picexchange.trust import Identity, TrustStore
from signature_recipes import PROFILE, SAMPLES, recipes, sample_key
from system_tools import require

NOTIFICATION = SAMPLES / "messages" / "plastic-au-my-01-notification.xml"
SENDER, RECEIVER = "AU:DCCEEW", "MY:DOE"
CREATED = dt.datetime(2026, 1, 20, 22, 15, tzinfo=dt.UTC)  # the sample's 2026-01-21T09:15:00+11:00
RECEIVED = CREATED + dt.timedelta(hours=1)
NS = {"env": "urn:picexchange:envelope:1", "ds": "http://www.w3.org/2000/09/xmldsig#"}
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
PAGE = PROFILE.read_text(encoding="utf-8")


def _table(header: str) -> list[list[str]]:
    """Return the rows of the page's table whose header line is ``header``, cells stripped of backquotes."""
    start = PAGE.index(header + "\n")
    rows = []
    for line in PAGE[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    return rows


REFUSALS = {row[0]: (row[2], row[3]) for row in _table("| Case | What was signed | Code | Rule |")}


# ------------------------------------------------------------------------------------------------ signing the cases

Made = tuple[bytes, TrustStore, dt.datetime]


def _sample_trust() -> TrustStore:
    return load_trust(SAMPLES / "keys" / "partners.toml")


def _identity(participant: str, *, posing_as: str | None = None) -> Identity:
    key, certificate = sample_key(participant)
    private_key = load_pem_private_key(key.read_bytes(), None)
    return Identity(
        participant=posing_as or participant,
        private_key=private_key,  # type: ignore[arg-type]
        certificate=load_pem_x509_certificate(certificate.read_bytes()),
    )


def _template() -> str:
    return recipes()["signature-template.xml"]


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def xmlsec1_signed(
    template: str | None = None,
    *,
    before: str = "</env:Envelope>",
    envelope: Callable[[str], str] = lambda text: text,
    chain: bool = False,
) -> bytes:
    """Sign the sample notification with xmlsec1 and the sender's sample key, the template put in before ``before``."""
    xmlsec1 = require("xmlsec1")
    source = envelope(NOTIFICATION.read_text(encoding="utf-8"))
    to_sign = _replace(source, before, (template or _template()) + before)
    key, certificate = sample_key(SENDER)
    keys = f"{key},{certificate}" + (f",{SAMPLES / 'keys' / 'ca.cert.pem'}" if chain else "")
    done = subprocess.run(  # noqa: S603
        [xmlsec1, "--sign", "--privkey-pem:AU_DCCEEW", keys, "-"],
        input=to_sign.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


class _Sha1Signer(XMLSigner):
    """signxml told to allow SHA-1, as old peers are (xmlsec1 with OpenSSL 3 will not sign with it)."""

    def check_deprecated_methods(self) -> None:
        return None


def signxml_signed(root: etree._Element | None = None, **options: object) -> bytes:
    """Sign with signxml directly, the way a library default would; exclusive C14N unless told otherwise."""
    signer = _Sha1Signer(
        signature_algorithm=options.pop("algorithm", SignatureMethod.RSA_SHA256),
        digest_algorithm=options.pop("digest", DigestAlgorithm.SHA256),
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    identity = _identity(SENDER)
    data = root if root is not None else codec.parse(NOTIFICATION.read_bytes())
    signed = signer.sign(data, key=identity.private_key, cert=[identity.certificate], **options)
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def _with_ids(*names: str) -> etree._Element:
    root = codec.parse(NOTIFICATION.read_bytes())
    for name in names:
        element = root.find(f"env:{name}", NS)
        assert element is not None
        element.set("Id", name.lower())
    return root


def _sample(raw: bytes) -> Made:
    return raw, _sample_trust(), RECEIVED


def _second_signature() -> Made:
    root = codec.parse(xmlsec1_signed())
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    root.append(copy.deepcopy(signature))
    return _sample(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _doctype() -> Made:
    head, _, rest = xmlsec1_signed().partition(b"?>")
    return _sample(head + b'?>\n<!DOCTYPE env:Envelope [<!ENTITY x "AU:ABF">]>' + rest)


def _signature_value_with(junk: bytes) -> bytes:
    """A genuine xmlsec1 signature with ``junk`` put into its SignatureValue (a lax base64 decoder skips it)."""
    raw = xmlsec1_signed()
    start = raw.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    return raw[: start + 8] + junk + raw[start + 8 :]


def _unregistered() -> Made:
    # A key and certificate made by someone else's CA, naming the Sender: not what the Sender registered.
    impostor = testpki.make_test_pki(
        [SENDER], not_before=CREATED - dt.timedelta(days=1), not_after=CREATED + dt.timedelta(days=365)
    )
    return _sample(signing.sign(NOTIFICATION.read_bytes(), impostor[SENDER].identity))


CASES: dict[str, Callable[[], Made]] = {
    "inclusive-c14n": lambda: _sample(
        xmlsec1_signed(
            _replace(
                _template(),
                f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>',
                '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>',
            )
        )
    ),
    "c14n-with-comments": lambda: _sample(
        xmlsec1_signed(
            _replace(
                _template(),
                f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>',
                f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}WithComments"/>',
            )
        )
    ),
    "no-c14n-transform": lambda: _sample(
        xmlsec1_signed(_replace(_template(), f'<ds:Transform Algorithm="{EXC_C14N}"/>', ""))
    ),
    "inclusive-namespaces": lambda: _sample(
        xmlsec1_signed(
            _replace(
                _template(),
                f'<ds:Transform Algorithm="{EXC_C14N}"/>',
                f'<ds:Transform Algorithm="{EXC_C14N}">'
                f'<ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="env pic"/></ds:Transform>',
            )
        )
    ),
    "key-value": lambda: _sample(xmlsec1_signed(_replace(_template(), "<ds:X509Data>", "<ds:KeyValue/><ds:X509Data>"))),
    "key-name": lambda: _sample(xmlsec1_signed(_replace(_template(), "<ds:X509Data>", "<ds:KeyName/><ds:X509Data>"))),
    "certificate-chain": lambda: _sample(xmlsec1_signed(chain=True)),
    "issuer-serial": lambda: _sample(
        xmlsec1_signed(_replace(_template(), "<ds:X509Certificate/>", "<ds:X509IssuerSerial/><ds:X509Certificate/>"))
    ),
    "rsa-sha1": lambda: _sample(signxml_signed(algorithm=SignatureMethod.RSA_SHA1)),
    "sha1-digest": lambda: _sample(signxml_signed(digest=DigestAlgorithm.SHA1)),
    "signature-first": lambda: _sample(xmlsec1_signed(before="<env:Header>")),
    "signature-in-header": lambda: _sample(xmlsec1_signed(before="</env:Header>")),
    "xpointer-uri": lambda: _sample(xmlsec1_signed(_replace(_template(), 'URI=""', 'URI="#xpointer(/)"'))),
    "id-reference": lambda: _sample(signxml_signed(_with_ids("Body"), reference_uri="#body")),
    "two-references": lambda: _sample(signxml_signed(_with_ids("Header", "Body"), reference_uri=["#header", "#body"])),
    "envelope-id": lambda: _sample(
        xmlsec1_signed(envelope=lambda text: _replace(text, "<env:Envelope ", '<env:Envelope Id="envelope" '))
    ),
    "ds-object": lambda: _sample(
        xmlsec1_signed(_replace(_template(), "</ds:KeyInfo>", "</ds:KeyInfo><ds:Object>AU:ABF</ds:Object>"))
    ),
    "two-signatures": _second_signature,
    "unsigned": lambda: _sample(NOTIFICATION.read_bytes()),
    "doctype": _doctype,
    "stylesheet-pi": lambda: _sample(
        xmlsec1_signed(
            envelope=lambda text: _replace(
                text, "<env:Envelope", '<?xml-stylesheet type="text/xsl" href="notification.xsl"?>\n<env:Envelope'
            )
        )
    ),
    "signature-value-not-base64": lambda: _sample(_signature_value_with(b"!")),
    "changed-after-signing": lambda: _sample(
        xmlsec1_signed().replace(b"<cmn:City>Dandenong South<", b"<cmn:City>Dandenong North<")
    ),
    "unregistered-certificate": _unregistered,
    "other-partners-certificate": lambda: _sample(
        signing.sign(NOTIFICATION.read_bytes(), _identity("AU:ABF", posing_as=SENDER))
    ),
    "expired-certificate": lambda: (xmlsec1_signed(), _sample_trust(), dt.datetime(2037, 1, 2, tzinfo=dt.UTC)),
    "created-too-old": lambda: (xmlsec1_signed(), _sample_trust(), CREATED + dt.timedelta(days=31)),
}


# ------------------------------------------------------------------------------------------------ the table


def test_every_row_of_the_refusal_table_has_a_case_here_and_every_case_a_row() -> None:
    """The page lists exactly the refusals this file proves."""
    assert sorted(REFUSALS) == sorted(CASES)


def test_the_issue_lists_tutorial_defaults_are_all_in_the_table() -> None:
    """The defaults vendors meet first are rows of the table (issue 12)."""
    assert {
        "inclusive-c14n",
        "no-c14n-transform",
        "inclusive-namespaces",
        "key-value",
        "key-name",
        "certificate-chain",
        "issuer-serial",
        "rsa-sha1",
        "signature-first",
        "xpointer-uri",
        "envelope-id",
    } <= set(REFUSALS)


def _codes() -> set[str]:
    return {
        item.code
        for item in vars(errors).values()
        if isinstance(item, type) and issubclass(item, CodedError) and item is not CodedError
    }


def test_every_code_and_rule_in_the_table_exists() -> None:
    """Codes are CodedError codes; rules are SignatureRule or TrustReason values, `xsd`, or none (—)."""
    rules = {item.value for item in signing.SignatureRule} | {item.value for item in signing.TrustReason}
    for case, (code, rule) in REFUSALS.items():
        assert code in _codes(), case
        assert rule in rules | {"xsd", "—"}, case


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_refusal_is_the_one_the_table_gives(case: str) -> None:
    """Verify refuses the signature with the row's error code and rule id (the rule of its first issue)."""
    raw, trust, now = CASES[case]()
    with pytest.raises(CodedError) as caught:
        signing.verify(raw, trust=trust, now=now, receiver=RECEIVER, freshness=signing.DEFAULT_FRESHNESS)
    assert (caught.value.code, caught.value.issues[0].rule_id or "—") == REFUSALS[case], caught.value


def test_the_genuine_xmlsec1_signature_the_cases_start_from_is_accepted() -> None:
    """Every xmlsec1 case is the page's template changed in one way: unchanged, it verifies."""
    verified = signing.verify(
        xmlsec1_signed(), trust=_sample_trust(), now=RECEIVED, receiver=RECEIVER, freshness=signing.DEFAULT_FRESHNESS
    )
    assert verified.signer.id == SENDER


def test_the_rule_tables_list_every_signature_rule_and_trust_reason() -> None:
    """The page's rule tables are the SignatureRule and TrustReason enums, value for value."""
    signature_rules = [row[0] for row in _table("| Rule | Refused |")]
    assert signature_rules == [item.value for item in signing.SignatureRule]
    second = PAGE.index("| Rule | Refused |", PAGE.index("| Rule | Refused |") + 1)
    trust_rules = re.findall(r"^\| `([a-z-]+)` \|", PAGE[second:].split("\n\n", 1)[0], flags=re.MULTILINE)
    assert trust_rules == [item.value for item in signing.TrustReason]


def test_the_algorithm_uris_of_the_page_are_the_accepted_ones() -> None:
    """Section 4 names each accepted signature method; the recommended two come first."""
    section = PAGE.split("## 4. Signature methods", 1)[1].split("\n## ", 1)[0]
    for algorithm in signing.SignatureAlgorithm:
        fragment = algorithm.value.rsplit("#", 1)[1]
        assert fragment in section, algorithm.name
    rows = [line for line in section.splitlines() if line.startswith("| `http")]
    assert "rsa-sha256" in rows[0] and "ecdsa-sha256" in rows[1]
    assert "MUST NOT" in next(row for row in rows if "rsa-MGF1" in row)


def test_the_freshness_window_of_the_page_is_the_default() -> None:
    """Section 7 gives the defaults of AcceptPolicy: 5 minutes of clock skew, 30 days of age."""
    assert signing.DEFAULT_FRESHNESS.max_clock_skew == dt.timedelta(minutes=5)
    assert signing.DEFAULT_FRESHNESS.max_age == dt.timedelta(days=30)
    assert "**5 minutes**" in PAGE and "**30 days**" in PAGE


def test_the_recipes_exist() -> None:
    """The recipes the interop tests run are on the page."""
    assert set(recipes()) == {
        "signature-template.xml",
        "xmlsec1-sign.sh",
        "xmlsec1-verify.sh",
        "java-sign.sh",
        "PicSign.java",
        "java-verify.sh",
        "PicVerify.java",
    }


def test_the_page_is_linked_from_the_readme_and_the_vendor_guide() -> None:
    """A vendor finds the profile from the two pages it starts from."""
    root = Path(__file__).resolve().parent.parent
    for page in ("README.md", "docs/vendor-guide.md"):
        assert "signature-profile.md" in (root / page).read_text(encoding="utf-8"), page


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_processing_instruction_added_around_our_own_signature_is_refused_by_name(where: str) -> None:
    """A stylesheet PI put before or after a picexchange-signed envelope (which signed the root only) is refused as
    outside-root, at its line, not accepted by one library and refused as a digest mismatch by another."""
    signed = signing.sign(NOTIFICATION.read_bytes(), _identity(SENDER))
    declaration, _, rest = signed.partition(b"?>")
    pi = b'<?xml-stylesheet type="text/xsl" href="view.xsl"?>'
    raw = declaration + b"?>\n" + pi + rest if where == "before" else signed + b"\n" + pi
    trust, now = _sample_trust(), RECEIVED
    with pytest.raises(errors.SignatureError) as caught:
        signing.verify(raw, trust=trust, now=now)
    assert caught.value.rule_id == signing.SignatureRule.OUTSIDE_ROOT.value
    assert caught.value.line == (2 if where == "before" else raw.count(b"\n") + 1)
    assert signing.verify(signed, trust=trust, now=now).signer.id == SENDER
