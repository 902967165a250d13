"""The partner registry: loading, validation with clear errors, lookups and the certificate policy."""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import os
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

import picexchange.files.registry
import picexchange.trust
from picexchange import testpki
from picexchange.errors import ConfigurationError
from picexchange.files.document import read_toml
from picexchange.files.registry import (
    CasePolicyTable,
    CertificateTable,
    FileContent,
    MeTable,
    PartnerTable,
    RegistryFile,
    load_identity,
    load_trust,
    parse_registry,
)
from picexchange.models.envelope import UtilityBlock
from picexchange.trust import (
    Identity,
    ParticipantRole,
    RegisteredCertificate,
    TrustStore,
    certificate_problems,
    participant_of,
)

VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VALID_TO = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pki() -> testpki.TestPki:
    return testpki.make_test_pki(["AU:DCCEEW", "MY:DOE", "MY:RMCD"], not_before=VALID_FROM, not_after=VALID_TO)


@pytest.fixture
def folder(tmp_path: Path, pki: testpki.TestPki) -> Path:
    """A folder with the test PKI's certificates and keys (0600) and its partners.toml."""
    for item in pki.participants:
        stem = testpki.file_stem(item.id)
        (tmp_path / f"{stem}.cert.pem").write_bytes(testpki.certificate_pem(item.certificate))
        key = tmp_path / f"{stem}.key.pem"
        key.write_bytes(testpki.private_key_pem(item.private_key))
        key.chmod(0o600)
    (tmp_path / "partners.toml").write_text(testpki.partners_toml(pki))
    return tmp_path


PARTNER = """
[[partner]]
id = "MY:DOE"
name = "Department of Environment Malaysia"
country = "MY"
role = "competent-authority"
utility_blocks = ["pic"]
endpoint = "https://my-doe.sw.test/ub/v1/messages"

[[partner.certificate]]
path = "MY_DOE.cert.pem"
"""


def registry(folder: Path, text: str) -> TrustStore:
    path = folder / "registry.toml"
    path.write_text(text)
    return load_trust(path)


def refused(folder: Path, text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        registry(folder, text)
    return caught.value


# ------------------------------------------------------------------------------------------------ loading


def test_the_test_pki_registry_loads_with_every_participant(folder: Path, pki: testpki.TestPki) -> None:
    """partners.toml from the test PKI lists each participant with its certificate, role and blocks."""
    trust = load_trust(folder / "partners.toml")
    assert sorted(partner.id for partner in trust) == ["AU:DCCEEW", "MY:DOE", "MY:RMCD"]
    doe = trust.partner("MY:DOE")
    assert doe is not None
    assert doe.name == "Department of Environment Malaysia"
    assert doe.country == "MY"
    assert doe.role is ParticipantRole.COMPETENT_AUTHORITY
    assert doe.utility_blocks == {UtilityBlock.PIC, UtilityBlock.EXPORT}
    assert doe.endpoint == "https://my-doe.sw.test/ub/v1/messages"
    assert [item.certificate for item in doe.certificates] == [pki["MY:DOE"].certificate]
    rmcd = trust.partner("MY:RMCD")
    assert rmcd is not None and rmcd.role is ParticipantRole.CUSTOMS and rmcd.utility_blocks == {UtilityBlock.EXPORT}
    assert trust.me is None
    assert trust.partner("SG:NEA") is None and "MY:DOE" in trust and len(trust) == 3


def test_lookups_find_the_owner_of_a_certificate(folder: Path, pki: testpki.TestPki) -> None:
    """A certificate maps back to the one partner that registered it."""
    trust = load_trust(folder / "partners.toml")
    owner = trust.owner_of(pki["MY:RMCD"].certificate)
    assert owner is not None and owner.id == "MY:RMCD"
    stranger = testpki.make_test_pki(["MY:DOE"], not_before=VALID_FROM, not_after=VALID_TO)["MY:DOE"]
    assert trust.owner_of(stranger.certificate) is None
    doe = trust.partner("MY:DOE")
    assert doe is not None and doe.registered(stranger.certificate) is None


def test_our_identity_loads_with_its_key_once(folder: Path, pki: testpki.TestPki) -> None:
    """[me] gives a loaded private key object and our certificate; the key is not in the repr."""
    path = folder / "partners.toml"
    path.write_text(testpki.partners_toml(pki, me="AU:DCCEEW"))
    me = load_trust(path).me
    assert me is not None
    assert me.participant == "AU:DCCEEW"
    assert isinstance(me.private_key, rsa.RSAPrivateKey)
    assert me.certificate == pki["AU:DCCEEW"].certificate
    assert "private_key" not in repr(me)


def test_an_inline_pem_certificate_is_accepted_with_a_registered_period(folder: Path) -> None:
    """Certificates can be given inline, with the period we accept them (several for rollover)."""
    new = testpki.make_test_pki(["MY:DOE"], not_before=VALID_FROM, not_after=VALID_TO)["MY:DOE"]
    pem = testpki.certificate_pem(new.certificate).decode()
    trust = registry(
        folder, PARTNER + f'\n[[partner.certificate]]\npem = """{pem}"""\nnot_before = 2026-03-01T00:00:00Z\n'
    )
    doe = trust.partner("MY:DOE")
    assert doe is not None and len(doe.certificates) == 2
    second = doe.certificates[1]
    assert second.certificate == new.certificate
    assert second.not_before == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert second.not_after == VALID_TO
    assert not second.valid_at(dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    assert second.valid_at(dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert doe.valid_certificates(dt.datetime(2026, 2, 1, tzinfo=dt.UTC)) == doe.certificates[:1]


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        (("", "colour = 'blue'\n"), "colour", "unknown field"),
        (('name = "Department', 'nickname = "x"\nname = "Department'), "partner[1].nickname", "unknown field"),
        (('path = "MY_DOE', 'bogus = 1\npath = "MY_DOE'), "partner[1].certificate[1].bogus", "unknown field"),
        (('id = "MY:DOE"', 'id = "MYDOE"'), "partner[1].id", "not a participant id"),
        (('country = "MY"', 'country = "SG"'), "partner[1].country", "SG is not the country of MY:DOE"),
        (('country = "MY"', 'country = "XX"'), "partner[1].country", "not an ISO 3166-1"),
        (('role = "competent-authority"', 'role = "ministry"'), "partner[1].role", "not a role"),
        (('["pic"]', '["pic", "waste"]'), "partner[1].utility_blocks[2]", "not a Utility Block"),
        (('["pic"]', "[]"), "partner[1].utility_blocks", "at least one"),
        (('endpoint = "https://', 'endpoint = "ftp://'), "partner[1].endpoint", "not an http(s) URL"),
        (('name = "Department of Environment Malaysia"\n', ""), "partner[1].name", "is required"),
        (('path = "MY_DOE.cert.pem"', 'path = "missing.pem"'), "partner[1].certificate[1].path", "cannot read"),
        (('path = "MY_DOE.cert.pem"', 'path = "registry.toml"'), "partner[1].certificate[1].path", "not a PEM"),
        (
            ('path = "MY_DOE.cert.pem"', 'path = "MY_DOE.cert.pem"\nnot_after = 2026-06-01T00:00:00'),
            "partner[1].certificate[1].not_after",
            "needs a time zone",
        ),
        (
            ('path = "MY_DOE.cert.pem"', 'path = "MY_DOE.cert.pem"\nnot_before = 2030-01-01T00:00:00Z'),
            "partner[1].certificate[1].not_after",
            "must be later than not_before",
        ),
        (
            (
                'path = "MY_DOE.cert.pem"',
                'path = "MY_DOE.cert.pem"\nnot_before = 2024-01-01T00:00:00Z\nnot_after = 2025-06-01T00:00:00Z',
            ),
            "partner[1].certificate[1].path",
            "does not overlap",
        ),
        (
            ('path = "MY_DOE.cert.pem"', 'path = "MY_DOE.cert.pem"\npem = "x"'),
            "partner[1].certificate[1]",
            "exactly one of path or pem",
        ),
        (
            ('path = "MY_DOE.cert.pem"', 'path = "MY_RMCD.cert.pem"'),
            "partner[1].certificate[1].path",
            "names participant MY:RMCD",
        ),
    ],
    ids=[
        "unknown-top",
        "unknown-partner",
        "unknown-certificate",
        "bad-id",
        "country-mismatch",
        "bad-country",
        "bad-role",
        "bad-block",
        "no-block",
        "bad-endpoint",
        "missing-name",
        "missing-file",
        "not-pem",
        "naive-date",
        "empty-period",
        "period-outside-validity",
        "path-and-pem",
        "certificate-of-another-participant",
    ],
)
def test_a_broken_registry_is_refused_with_the_file_and_field(
    folder: Path, change: tuple[str, str], field: str, text: str
) -> None:
    """Each mistake names the file, the field path and what is wrong."""
    old, new = change
    source = new + PARTNER if old == "" else PARTNER.replace(old, new, 1)
    assert source != PARTNER
    error = refused(folder, source)
    assert error.field == field
    assert text in error.text
    assert error.source == str(folder / "registry.toml")
    assert str(error).startswith(f"{folder / 'registry.toml'}: {field}: ")


def test_a_registry_that_is_not_toml_is_refused(folder: Path) -> None:
    """TOML syntax errors name the file and the line."""
    error = refused(folder, PARTNER + "\n[[partner]\n")
    assert "not valid TOML" in error.text and "line" in error.text


def test_a_partner_listed_twice_is_refused(folder: Path) -> None:
    """Ids are unique."""
    error = refused(folder, PARTNER + PARTNER.replace("MY_DOE.cert.pem", "MY_DOE.cert.pem"))
    assert error.field == "partner[2].id" and "already listed at partner[1]" in error.text


def test_one_certificate_for_two_partners_is_refused(folder: Path) -> None:
    """A certificate identifies one partner only."""
    key = ec.generate_private_key(ec.SECP256R1())
    anonymous = _certificate(key)
    (folder / "anon.pem").write_bytes(anonymous.public_bytes(serialization.Encoding.PEM))
    first = PARTNER.replace("MY_DOE.cert.pem", "anon.pem")
    second = first.replace('"MY:DOE"', '"MY:OTHER"')
    error = refused(folder, first + second)
    assert "registered for both MY:DOE and MY:OTHER" in error.text


def test_a_weak_or_ca_certificate_is_refused_at_load(folder: Path) -> None:
    """The certificate policy applies when the registry is loaded, not only when a message arrives."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (folder / "weak.pem").write_bytes(_certificate(weak).public_bytes(serialization.Encoding.PEM))
    error = refused(folder, PARTNER.replace("MY_DOE.cert.pem", "weak.pem"))
    assert "RSA key of 1024 bits is too small" in error.text
    ca_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "ca.pem").write_bytes(_certificate(ca_key, ca=True).public_bytes(serialization.Encoding.PEM))
    error = refused(folder, PARTNER.replace("MY_DOE.cert.pem", "ca.pem"))
    assert "CA certificate" in error.text


def test_two_certificates_in_one_entry_are_refused(folder: Path) -> None:
    """One certificate per entry: a chain file is ambiguous."""
    chain = (folder / "MY_DOE.cert.pem").read_bytes() + (folder / "MY_RMCD.cert.pem").read_bytes()
    (folder / "chain.pem").write_bytes(chain)
    error = refused(folder, PARTNER.replace("MY_DOE.cert.pem", "chain.pem"))
    assert "holds 2 certificates" in error.text


@pytest.mark.skipif(os.name == "nt", reason="no POSIX permissions")
def test_a_private_key_others_can_read_is_refused(folder: Path, pki: testpki.TestPki) -> None:
    """Our key must be readable by us only; the error says how to fix it."""
    (folder / "AU_DCCEEW.key.pem").chmod(0o644)
    error = refused(folder, testpki.partners_toml(pki, me="AU:DCCEEW"))
    assert error.field == "me.key"
    assert "can be read by other users (mode 644)" in error.text and "chmod 600" in error.text


def test_a_private_key_of_another_certificate_is_refused(folder: Path, pki: testpki.TestPki) -> None:
    """Key and certificate must be a pair."""
    text = testpki.partners_toml(pki, me="AU:DCCEEW").replace('key = "AU_DCCEEW.key.pem"', 'key = "MY_DOE.key.pem"')
    error = refused(folder, text)
    assert "does not belong to its certificate" in error.text


def test_an_encrypted_or_missing_private_key_is_refused(folder: Path, pki: testpki.TestPki) -> None:
    """Unreadable keys give a clear error, never a cryptography exception."""
    encrypted = pki["AU:DCCEEW"].private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (folder / "AU_DCCEEW.key.pem").write_bytes(encrypted)
    assert "is encrypted" in refused(folder, testpki.partners_toml(pki, me="AU:DCCEEW")).text
    (folder / "AU_DCCEEW.key.pem").unlink()
    error = refused(folder, testpki.partners_toml(pki, me="AU:DCCEEW"))
    assert error.field == "me.key" and "cannot read" in error.text


def test_the_parser_reads_files_only_through_the_reader_it_is_given(pki: testpki.TestPki) -> None:
    """parse_registry reads the files it names only through the reader passed in."""
    files = {"MY_DOE.cert.pem": testpki.certificate_pem(pki["MY:DOE"].certificate)}
    asked: list[str] = []

    def read(name: str) -> FileContent:
        asked.append(name)
        return FileContent(data=files[name], name=name)

    trust = parse_registry(PARTNER, read=read, source="memory")
    assert asked == ["MY_DOE.cert.pem"] and "MY:DOE" in trust


# ----------------------------------------------------------------------------------- pydantic's errors in sentences


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        (('name = "Department of Environment Malaysia"', "name = 3"), "partner[1].name", "must be a string, not 3"),
        (('name = "Department of Environment Malaysia"', 'name = "  "'), "partner[1].name", "must not be empty"),
        (('["pic"]', '"pic"'), "partner[1].utility_blocks", "must be a list, not the string 'pic'"),
        (
            ('role = "competent-authority"', "role = 1"),
            "partner[1].role",
            "1 is not a role (competent-authority, customs)",
        ),
        (
            ('["pic"]', '["pic", "waste"]'),
            "partner[1].utility_blocks[2]",
            "'waste' is not a Utility Block (pic, export)",
        ),
        (
            ('path = "MY_DOE.cert.pem"', 'path = "MY_DOE.cert.pem"\nnot_before = 2026-01-01'),
            "partner[1].certificate[1].not_before",
            "must be a date-time with time zone (e.g. 2026-01-01T00:00:00Z), not a date",
        ),
        (
            ('path = "MY_DOE.cert.pem"', 'path = "MY_DOE.cert.pem"\nnot_after = 2026-06-01T00:00:00'),
            "partner[1].certificate[1].not_after",
            "needs a time zone (e.g. 2026-01-01T00:00:00Z)",
        ),
        (("", 'me = "AU:DCCEEW"\n'), "me", "must be a table, not the string 'AU:DCCEEW'"),
        (
            ('[[partner.certificate]]\npath = "MY_DOE.cert.pem"\n', "certificate = []\n"),
            "partner[1].certificate",
            "must list at least one entry",
        ),
        (
            ("[[partner.certificate]]", "[partner.certificate]"),
            "partner[1].certificate",
            "must be an array of tables: write [[partner.certificate]], not [partner.certificate]",
        ),
        (
            ("", "[me]\n"),
            "me.id",
            "is required (and 2 more: me.key: is required; me.certificate: is required)",
        ),
        (
            ('name = "Department', 'nmae = "x"\nname = "Department'),
            "partner[1].nmae",
            "unknown field (allowed here: certificate, country, deemed_consent_days, endpoint, id, name, role, "
            "utility_blocks); "
            "did you mean name?",
        ),
        (
            ('id = "MY:DOE"', 'id = "{id}"'),
            "partner[1].id",
            "'{id}' is not a participant id (CC:AUTHORITY, e.g. MY:DOE)",
        ),
    ],
    ids=[
        "string-type",
        "string-too-short",
        "list-type",
        "enum-not-a-string",
        "enum-item",
        "datetime-type",
        "timezone-aware",
        "model-type",
        "empty-array-of-tables",
        "one-table-for-an-array-of-tables",
        "missing-in-a-table",
        "extra-forbidden-close-match",
        "rule-text-with-braces",
    ],
)
def test_each_kind_of_pydantic_error_is_a_sentence_at_its_key_path(
    folder: Path, change: tuple[str, str], field: str, text: str
) -> None:
    """Wrong types, missing and unknown keys, enum values and time zones read as sentences, never pydantic's text."""
    old, new = change
    source = new + PARTNER if old == "" else PARTNER.replace(old, new, 1)
    assert source != PARTNER
    error = refused(folder, source)
    assert (error.field, error.text) == (field, text)
    assert str(error) == f"{folder / 'registry.toml'}: {field}: {text}"


def test_every_problem_of_the_files_shape_is_reported_at_once(folder: Path) -> None:
    """The first problem is the error's field; the others follow it in the text, each with its key path."""
    source = PARTNER.replace('role = "competent-authority"', 'role = "ministry"').replace('"MY:DOE"', '"MYDOE"')
    error = refused(folder, "colour = 1\n" + source)
    assert error.field == "partner[1].id"
    assert error.text == (
        "'MYDOE' is not a participant id (CC:AUTHORITY, e.g. MY:DOE) (and 2 more: "
        "partner[1].role: 'ministry' is not a role (competent-authority, customs); "
        "colour: unknown field (allowed here: cases, me, partner))"
    )


def test_no_file_is_read_until_the_whole_registry_has_its_shape(pki: testpki.TestPki) -> None:
    """A mistake in the second partner is found before the first partner's certificate file is opened."""
    asked: list[str] = []

    def read(name: str) -> FileContent:
        asked.append(name)
        return FileContent(data=testpki.certificate_pem(pki["MY:DOE"].certificate), name=name)

    second = PARTNER.replace('"MY:DOE"', '"MY:RMCD"').replace('role = "competent-authority"', "role = true")
    with pytest.raises(ConfigurationError) as caught:
        parse_registry(PARTNER + second, read=read, source="memory")
    assert caught.value.field == "partner[2].role" and asked == []


def test_the_trust_package_reads_no_file() -> None:
    """Certificate policy and registry values are pure: no file, path or TOML module, no read call."""
    package = Path(picexchange.trust.__file__).parent
    offences = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offences += [f"{path.name}: import {n}" for n in names if n.split(".")[0] in _FILE_MODULES]
                offences += [f"{path.name}: import {n}" for n in names if n.startswith("picexchange.files")]
            if isinstance(node, ast.Attribute) and node.attr in _FILE_CALLS:
                offences.append(f"{path.name}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                offences.append(f"{path.name}:{node.lineno}: open()")
    assert offences == []


_FILE_MODULES = {"os", "pathlib", "tomllib", "stat", "io", "shutil"}
_FILE_CALLS = {"read_text", "read_bytes", "write_text", "write_bytes", "open", "stat"}


def _registry_examples() -> dict[str, str]:
    module = picexchange.files.registry.__doc__ or ""
    # The example is the indented block after "::", blank lines included, up to the prose that follows it.
    lines = module.split("The registry is a TOML file::\n", 1)[1].splitlines()
    block = itertools.takewhile(lambda line: line.startswith("    ") or not line.strip(), lines)
    in_module = "\n".join(line[4:] for line in block)
    guide = (Path(__file__).resolve().parent.parent / "docs" / "gateway.md").read_text()
    in_guide = next(block for block in guide.split("```toml\n")[1:] if "[[partner]]" in block).split("```", 1)[0]
    return {"module docstring": in_module, "docs/gateway.md": in_guide}


@pytest.mark.parametrize("where", ["module docstring", "docs/gateway.md"])
def test_the_documented_registry_example_has_the_shape_of_the_file(where: str) -> None:
    """The example a reader copies validates as RegistryFile: no key the code does not know."""
    document = read_toml(_registry_examples()[where], RegistryFile, source=where)
    assert document.me is not None and document.partner[0].certificate[0].path == "MY_DOE.cert.pem"


def test_the_module_docstring_example_shows_every_key() -> None:
    """Every key of every table of RegistryFile appears in the module docstring's example."""
    example = _registry_examples()["module docstring"]
    tables = [RegistryFile, MeTable, CasePolicyTable, PartnerTable, CertificateTable]
    missing = [
        f"{table.__name__}.{key}"
        for table in tables
        for key in table.model_fields
        if not re.search(rf"(^|\s){key} = |\[+(partner\.)?{key}\]+", example, re.MULTILINE)
    ]
    assert missing == []


# ------------------------------------------------------------------------------------------------ identity


def test_load_identity_takes_the_participant_from_the_certificate(folder: Path) -> None:
    """The test PKI names the participant in the certificate; an explicit id must agree with it."""
    identity = load_identity(key=folder / "MY_DOE.key.pem", certificate=folder / "MY_DOE.cert.pem")
    assert identity.participant == "MY:DOE"
    with pytest.raises(ConfigurationError, match="names participant MY:DOE, not MY:RMCD"):
        load_identity(key=folder / "MY_DOE.key.pem", certificate=folder / "MY_DOE.cert.pem", participant="MY:RMCD")


@pytest.mark.skipif(os.name == "nt", reason="no POSIX permissions")
def test_load_identity_refuses_a_key_others_can_read(folder: Path) -> None:
    """The same permission rule as for [me]."""
    (folder / "MY_DOE.key.pem").chmod(0o640)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_identity(key=folder / "MY_DOE.key.pem", certificate=folder / "MY_DOE.cert.pem")


def test_an_identity_checks_its_key_matches_its_certificate(pki: testpki.TestPki) -> None:
    """Identity refuses a key that is not the certificate's."""
    with pytest.raises(ConfigurationError, match="does not belong"):
        Identity(participant="MY:DOE", private_key=pki["MY:RMCD"].private_key, certificate=pki["MY:DOE"].certificate)


# ------------------------------------------------------------------------------------------------ policy


def _certificate(key: object, *, ca: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST ONLY")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_TO)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())  # type: ignore[arg-type]


def test_the_certificate_policy() -> None:
    """RSA >= 2048 and EC P-256+ pass; small RSA, Ed25519 (not in XMLDSig via signxml) and CA certificates fail."""
    assert certificate_problems(_certificate(ec.generate_private_key(ec.SECP256R1()))) == ()
    assert certificate_problems(_certificate(ec.generate_private_key(ec.SECP521R1()))) == ()
    assert certificate_problems(_certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048))) == ()
    small = certificate_problems(_certificate(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    assert small == ("RSA key of 1024 bits is too small (at least 2048)",)
    assert "not supported" in certificate_problems(_certificate(ed25519.Ed25519PrivateKey.generate()))[0]
    assert certificate_problems(_certificate(ec.generate_private_key(ec.SECP256R1()), ca=True)) == (
        "it is a CA certificate, not a signing certificate",
    )


def test_a_registered_period_is_the_overlap_with_the_certificates_validity(pki: testpki.TestPki) -> None:
    """valid_at is true only where both the registry and the certificate allow it."""
    entry = RegisteredCertificate.of(
        pki["MY:DOE"].certificate,
        not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
    )
    assert entry.start == VALID_FROM and entry.end == dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    assert not entry.valid_at(dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert entry.valid_at(dt.datetime(2026, 6, 30, tzinfo=dt.UTC))
    assert "expired on 2026-07-01" in (entry.validity_problem(dt.datetime(2026, 8, 1, tzinfo=dt.UTC)) or "")


def test_test_pki_certificates_name_their_participant_and_say_test_only(pki: testpki.TestPki) -> None:
    """Every certificate of the test PKI says TEST ONLY; each names its participant."""
    for item in pki.participants:
        assert "TEST ONLY" in item.certificate.subject.rfc4514_string()
        assert participant_of(item.certificate) == item.id
    assert "TEST ONLY" in pki.ca_certificate.subject.rfc4514_string()
