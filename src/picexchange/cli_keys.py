"""The ``keys init``, ``sign`` and ``verify`` commands: test PKI, signing and checking signed envelopes.

Registered on the main ``picexchange`` app by :mod:`picexchange.cli`. Like the rest of the CLI, this is a
shell: it reads files and the clock, and leaves every decision to :mod:`picexchange.signing` and
:mod:`picexchange.trust`.

Exit codes: 0 success (genuine), 1 the message is not genuine, 2 usage or setup error.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from picexchange import codec, schemas, signing, testpki
from picexchange.cli_streams import STANDARD_STREAM, display_name, read_input, usage, write_output
from picexchange.errors import ConfigurationError, MessageError
from picexchange.files.registry import load_identity, load_trust
from picexchange.models.envelope import Envelope
from picexchange.trust import describe_certificate, is_participant_id

__all__ = ["keys_app", "keys_init_command", "register", "sign_command", "verify_command"]

EXIT_OK = 0
EXIT_NOT_GENUINE = 1
EXIT_USAGE = 2

_DSIG_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"

_out = Console(highlight=False, soft_wrap=True, emoji=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

keys_app = typer.Typer(
    name="keys",
    help="Make a TEST ONLY PKI for demos, samples and integration tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Algorithm(enum.StrEnum):
    """Signature algorithms offered for new signatures by short name, for ``sign --algorithm``.

    RSA-PSS is not among them (:data:`NOT_OFFERED`): picexchange verifies it, but signs with it only when a
    program asks :func:`picexchange.signing.sign` to.
    """

    RSA_SHA256 = "rsa-sha256"
    RSA_SHA384 = "rsa-sha384"
    RSA_SHA512 = "rsa-sha512"
    ECDSA_SHA256 = "ecdsa-sha256"
    ECDSA_SHA384 = "ecdsa-sha384"
    ECDSA_SHA512 = "ecdsa-sha512"

    @property
    def uri(self) -> signing.SignatureAlgorithm:
        """Return the XMLDSig algorithm."""
        return signing.SignatureAlgorithm[self.name]


#: Algorithms picexchange still verifies but no longer offers for new signatures (docs/signature-profile.md,
#: "Signature methods"): xmlsec1 1.2 and Apache Santuario 2.1, which many partners' gateways are built on,
#: cannot verify RSA-PSS, so a message signed with it would be refused there.
NOT_OFFERED = frozenset({"rsa-pss-sha256", "rsa-pss-sha384", "rsa-pss-sha512"})


def _algorithm(value: str) -> Algorithm:
    """Parse ``--algorithm``; refuse RSA-PSS saying why, and anything else unknown listing the choices."""
    name = value.strip().lower()
    if name in NOT_OFFERED:
        raise typer.BadParameter(
            f"{value} is not offered for new signatures: xmlsec1 1.2 and Apache Santuario 2.1 cannot verify "
            "RSA-PSS, so partners built on them would refuse the message. Use rsa-sha256 (or ecdsa-sha256 with "
            "an EC key); picexchange still verifies RSA-PSS signatures it receives (docs/signature-profile.md)."
        )
    try:
        return Algorithm(name)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(Algorithm)}") from None


def _usage(message: str) -> typer.Exit:
    _err.print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


def _write_new(path: Path, data: bytes, *, private: bool, force: bool) -> None:
    if path.exists() and not force:
        raise _usage(f"{path} exists; use --force to overwrite it")
    # Private keys are created 0600, never briefly readable by others.
    mode = 0o600 if private else 0o644
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as stream:
            if private and os.name != "nt":
                os.fchmod(stream.fileno(), 0o600)
            stream.write(data)
    except OSError as exc:
        raise _usage(f"{path}: cannot write: {exc.strerror}") from exc


_README = """# TEST ONLY keys

Everything in this folder was made by `picexchange keys init` for demos, samples and integration tests.
The private keys (`*.key.pem`, `ca.key.pem`) are published: anyone can sign as these participants.
Never register these certificates for real exchanges, and never use these keys for real messages.
Every certificate says TEST ONLY in its subject.

- `ca.cert.pem`, `ca.key.pem`: the test CA that issued the participants' certificates.
- `<CC>_<AUTHORITY>.key.pem`, `<CC>_<AUTHORITY>.cert.pem`: one key and certificate per participant
  (the `:` of the participant id becomes `_` in file names).
- `partners.toml`: a partner registry listing every participant with its certificate (and, with
  `--host`, the `[[me]]` entries of the participants a Single Window hosts).

Git does not keep file permissions: after a checkout, `chmod 600 *.key.pem` before signing with them
(`picexchange sign` refuses a private key that others can read).
"""


@keys_app.command("init")
def keys_init_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write the test PKI into (created if missing).")],
    participant: Annotated[
        list[str], typer.Option("--participant", "-p", help="A participant id (CC:AUTHORITY); repeat for several.")
    ],
    key_type: Annotated[testpki.KeyType, typer.Option("--key-type", help="Key type of the CA and participants.")] = (
        testpki.KeyType.RSA_2048
    ),
    days: Annotated[int, typer.Option(help="Validity in days from now (ignored with --until).")] = 3650,
    until: Annotated[
        str | None, typer.Option(help="Last day of validity (YYYY-MM-DD), e.g. 2036-12-31 for committed samples.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First day of validity (YYYY-MM-DD); by default an hour ago.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="A participant the Single Window hosts ([[me]] in partners.toml): one of --participant, all of "
            "one country; repeat for its competent authority and its Customs.",
        ),
    ] = None,
) -> None:
    """Write a TEST ONLY CA, a key and certificate per participant, and a partners.toml listing them all."""
    for item in participant:
        if not is_participant_id(item):
            raise _usage(f"{item!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
    hosts = list(dict.fromkeys(host or []))
    for item in hosts:
        if item not in participant:
            raise _usage(f"--host {item} is not one of the --participant ids")
    if len({item.partition(":")[0] for item in hosts}) > 1:
        raise _usage(f"--host {', '.join(hosts)}: a Single Window hosts the participants of one country")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_before = now - dt.timedelta(hours=1)  # tolerate a little clock skew between machines
    if since is not None:
        try:
            not_before = dt.datetime.combine(dt.date.fromisoformat(since), dt.time(0, 0), tzinfo=dt.UTC)
        except ValueError:
            raise _usage(f"--since {since!r} is not a date (YYYY-MM-DD)") from None
    if until is not None:
        try:
            last = dt.date.fromisoformat(until)
        except ValueError:
            raise _usage(f"--until {until!r} is not a date (YYYY-MM-DD)") from None
        not_after = dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.UTC)
    else:
        if days < 1:
            raise _usage("--days must be at least 1")
        not_after = now + dt.timedelta(days=days)
    if not_after <= not_before:
        raise _usage("the validity must end in the future")
    try:
        pki = testpki.make_test_pki(participant, not_before=not_before, not_after=not_after, key_type=key_type)
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _usage(f"{directory}: cannot create: {exc.strerror}") from exc
    _write_new(directory / "ca.key.pem", testpki.private_key_pem(pki.ca_key), private=True, force=force)
    _write_new(directory / "ca.cert.pem", testpki.certificate_pem(pki.ca_certificate), private=False, force=force)
    for member in pki.participants:
        stem = testpki.file_stem(member.id)
        _write_new(
            directory / f"{stem}.key.pem", testpki.private_key_pem(member.private_key), private=True, force=force
        )
        _write_new(
            directory / f"{stem}.cert.pem", testpki.certificate_pem(member.certificate), private=False, force=force
        )
    registry = testpki.partners_toml(pki, hosts=hosts)
    _write_new(directory / "partners.toml", registry.encode(), private=False, force=force)
    _write_new(directory / "README.md", _README.encode(), private=False, force=force)
    _out.print(
        f"wrote a TEST ONLY PKI for {', '.join(participant)} to {directory} "
        f"({key_type.value}, valid until {not_after.date().isoformat()})",
        markup=False,
    )


def sign_command(
    path: Annotated[Path, typer.Argument(help="The envelope to sign (XML); - reads standard input.")],
    key: Annotated[Path, typer.Option("--key", help="Private key (PEM, readable only by you).")],
    cert: Annotated[Path, typer.Option("--cert", help="Its certificate (PEM).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout (- is stdout).")
    ] = None,
    participant: Annotated[
        str | None, typer.Option(help="Our participant id; by default the one the certificate names.")
    ] = None,
    algorithm: Annotated[
        Algorithm | None,
        typer.Option(
            parser=_algorithm,
            metavar="[" + "|".join(Algorithm) + "]",
            help="Signature algorithm; by default rsa-sha256, or ECDSA with the curve's hash for an EC key "
            "(RSA-PSS is not offered: xmlsec1 1.2 and Santuario 2.1 cannot verify it).",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Sign it as a new message: a new MessageId and Created now (e.g. a sample)."),
    ] = False,
    resign: Annotated[
        bool, typer.Option("--resign", help="Replace the signature of an envelope that is already signed.")
    ] = False,
) -> None:
    """Sign an envelope with an enveloped XML signature over the whole envelope.

    The envelope must be valid (schema and rules; every problem is printed, exit 1). An envelope that is
    already signed is refused unless ``--resign`` replaces its signature; ``--fresh`` signs it as a new
    message (a new MessageId and Created now), for a sample older than the partner's freshness window
    (30 days by default).
    """
    raw = read_input(path)
    name = display_name(path)
    report = schemas.validate(raw)
    if not report.ok or not isinstance(report.document, Envelope):
        for line in report.lines(name):
            _err.print(line, markup=False)
        if report.ok:
            _err.print(f"{name}: only an Envelope can be signed, not a bare {type(report.document).__name__}")
        raise typer.Exit(EXIT_NOT_GENUINE)
    envelope = report.document
    signed_already = codec.parse(raw).find(_DSIG_SIGNATURE) is not None
    if signed_already and not (resign or fresh):
        _err.print(f"{name}: is already signed; give --resign to replace its signature", markup=False)
        raise typer.Exit(EXIT_NOT_GENUINE)
    try:
        identity = load_identity(key=key, certificate=cert, participant=participant)
    except ConfigurationError as exc:
        raise usage(str(exc)) from exc
    source: Envelope | bytes = raw
    if fresh:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        header = envelope.header.model_copy(update={"message_id": uuid.uuid4(), "created": now})
        source = envelope.model_copy(update={"header": header})
        _err.print(f"--fresh: new MessageId {header.message_id}, Created {now.isoformat()}", markup=False)
    elif signed_already:
        source = envelope  # the model holds no signature: signed again, everything else as it was
    try:
        signed = signing.sign(source, identity, algorithm=algorithm.uri if algorithm is not None else None)
    except ConfigurationError as exc:
        raise usage(str(exc)) from exc
    except MessageError as exc:
        _err.print(f"{name}: cannot sign ({exc.code}): {exc}", markup=False)
        raise typer.Exit(EXIT_NOT_GENUINE) from exc
    write_output(output, signed)
    if output is not None and str(output) != STANDARD_STREAM:
        _err.print(f"signed {name} as {identity.participant} -> {output}", markup=False)


def verify_command(
    path: Annotated[Path, typer.Argument(help="The signed envelope (XML); - reads standard input.")],
    partners: Annotated[Path, typer.Option("--partners", help="Partner registry (TOML).")],
    as_: Annotated[
        str | None, typer.Option("--as", help="Our participant id: the envelope's Receiver must be it.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Check certificates at this time (ISO 8601 with zone) instead of now.")
    ] = None,
) -> None:
    """Check that a signed envelope is genuine: signed as a whole by the registered key of its Sender."""
    raw = read_input(path)
    name = display_name(path)
    try:
        trust = load_trust(partners)
    except ConfigurationError as exc:
        raise _usage(str(exc)) from exc
    if as_ is not None and not is_participant_id(as_):
        raise _usage(f"--as {as_!r} is not a participant id (CC:AUTHORITY, e.g. MY:DOE)")
    now = dt.datetime.now(dt.UTC)
    if at is not None:
        try:
            now = dt.datetime.fromisoformat(at)
        except ValueError:
            raise _usage(f"--at {at!r} is not an ISO 8601 date and time") from None
        if now.tzinfo is None:
            raise _usage("--at needs a time zone (e.g. 2030-01-01T00:00:00Z)")
    try:
        verified = signing.verify(raw, trust=trust, now=now, receiver=as_)
    except MessageError as exc:
        where = f" at {exc.path}" if exc.path else ""
        line = f" (line {exc.line})" if exc.line else ""
        _out.print(f"{name}: NOT genuine [{exc.code}]{where}{line}: {exc.text}", markup=False)
        raise typer.Exit(EXIT_NOT_GENUINE) from exc
    header = verified.envelope.header
    _out.print(
        f"{name}: genuine {header.message_type.value} {header.message_id} from {header.sender} to "
        f"{header.receiver}, signed by {verified.signer.id} ({verified.signer.name}) with "
        f"{describe_certificate(verified.certificate)}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``keys init``, ``sign`` and ``verify`` to the main ``picexchange`` app."""
    app.add_typer(keys_app, name="keys")
    app.command("sign")(sign_command)
    app.command("verify")(verify_command)
