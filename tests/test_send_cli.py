"""`picexchange send` a person can retry, `sign`'s refusals, `-` for the standard streams, and the exit codes.

The partner is a real gateway on loopback (picexchange.testing.gateway_pair); the sender is the command, run
with a gateway configuration and a partner registry written to files as an operator does.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import picexchange as px
from picexchange import client as client_module
from picexchange.cli import app
from picexchange.cli_streams import EXIT_INVALID, EXIT_OK, EXIT_REFUSED, EXIT_UNDELIVERED, EXIT_USAGE
from picexchange.errors import DeliveryError
from picexchange.testing import GatewayPair, gateway_pair
from picexchange.testpki import certificate_pem, make_test_pki, partners_toml, private_key_pem

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "samples" / "messages"
NOTIFICATION = MESSAGES / "plastic-au-my-01-notification.xml"
SAMPLE_ID = "56d89712-6e1e-528d-8649-04730e5db51a"  # the MessageId the sample carries


@dataclass(frozen=True)
class Sender:
    """AU:DCCEEW's side: a gateway configuration and registry on disk; MY:DOE's gateway is running."""

    pair: GatewayPair
    config: Path
    keys: Path
    folder: Path

    def run(self, *args: str | Path, stdin: bytes | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, [str(arg) for arg in args], input=stdin)
        return result.exit_code, result.stdout, result.stderr

    def send(self, path: str | Path, *extra: str | Path, stdin: bytes | None = None) -> tuple[int, str, str]:
        return self.run("send", path, "--config", self.config, *extra, stdin=stdin)

    def copy(self, source: Path, name: str = "notification.xml") -> Path:
        target = self.folder / name
        target.write_bytes(source.read_bytes())
        return target

    def received(self, message_id: str) -> int:
        """Return how many times MY:DOE's gateway stored ``message_id`` (its inbox log)."""
        entries = self.pair.importing.inbox(limit=100)["messages"]
        return sum(1 for entry in entries if entry["message_id"] == message_id)


@pytest.fixture(scope="module")
def sender(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sender]:
    folder = tmp_path_factory.mktemp("send")
    with gateway_pair(folder) as pair:
        keys = folder / "keys"
        keys.mkdir()
        for item in pair.pki.participants:
            stem = item.id.replace(":", "_")
            (keys / f"{stem}.cert.pem").write_bytes(certificate_pem(item.certificate))
            key = keys / f"{stem}.key.pem"
            key.write_bytes(private_key_pem(item.private_key))
            key.chmod(0o600)
        registry = partners_toml(pair.pki, me="AU:DCCEEW").replace(
            'endpoint = "https://my-doe.sw.test/ub/v1/messages"', f'endpoint = "{pair.importing.url}/ub/v1/messages"'
        )
        (keys / "partners.toml").write_text(registry)
        config = folder / "gateway.toml"
        config.write_text(
            '[gateway]\npartners = "keys/partners.toml"\nstore = "sqlite:au.db"\n[backoffice]\ntokens = "tokens.toml"\n'
        )
        yield Sender(pair=pair, config=config, keys=keys, folder=folder)


@pytest.fixture
def workdir(sender: Sender, tmp_path: Path) -> Sender:
    """The module's gateways with a fresh folder for this test's input files."""
    return Sender(pair=sender.pair, config=sender.config, keys=sender.keys, folder=tmp_path)


def _field(out: str, label: str) -> str:
    return out.split(label, 1)[1].split()[0]


def _lose_the_receipt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliver for real, then fail as a timeout would: the partner stored the message, we never saw the receipt."""
    send = client_module.Client.send

    def delivered_but_unanswered(self: client_module.Client, sealed: px.Sealed, **options: object) -> px.Receipted:
        send(self, sealed)
        raise DeliveryError(f"timed out sending {sealed.message_id}")

    monkeypatch.setattr(client_module.Client, "send", delivered_but_unanswered)


def test_running_the_same_command_after_a_lost_receipt_is_a_redelivery(
    workdir: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3, then the same command resends the sealed copy; the partner stores the message once."""
    notification = workdir.copy(NOTIFICATION)
    with monkeypatch.context() as patched:
        _lose_the_receipt(patched)
        code, _, err = workdir.send(notification, "--fresh")
    assert code == EXIT_UNDELIVERED, err
    assert "run the same command again" in err
    sealed_copy = workdir.folder / "notification.sealed.xml"
    first = sealed_copy.read_bytes()
    message_id = re.search(r"new MessageId ([0-9a-f-]+)", err)
    assert message_id is not None
    assert workdir.received(message_id.group(1)) == 1

    code, out, err = workdir.send(notification, "--fresh")  # the same command: the same bytes, not a new message
    assert code == EXIT_OK, err
    assert "resending" in err and "a redelivery" in err
    assert _field(out, "message") == message_id.group(1)
    assert (
        _field(out, "digest sent") == _field(out, "digest receipted") == px.reopen(first, trust=_trust(workdir)).digest
    )
    assert sealed_copy.read_bytes() == first
    assert workdir.received(message_id.group(1)) == 1


def test_a_retry_of_an_envelope_keeps_its_message_id_and_bytes(
    workdir: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --fresh: the envelope's own MessageId, and the retry resends the sealed copy (not a conflict)."""
    envelope = px.from_xml(NOTIFICATION.read_bytes(), px.Envelope)
    own_id = uuid.uuid4()
    notification = workdir.folder / "notification.xml"
    header = envelope.header.model_copy(update={"message_id": own_id})
    notification.write_bytes(px.to_xml(envelope.model_copy(update={"header": header})))
    with monkeypatch.context() as patched:
        _lose_the_receipt(patched)
        assert workdir.send(notification)[0] == EXIT_UNDELIVERED
    code, out, err = workdir.send(notification)
    assert code == EXIT_OK, err
    assert "a redelivery" in err and _field(out, "message") == str(own_id)
    assert workdir.received(str(own_id)) == 1


def _trust(sender: Sender) -> px.TrustStore:
    return px.load_trust(sender.keys / "partners.toml")


def test_a_bare_json_document_needs_to_and_gets_a_new_message_id(workdir: Sender) -> None:
    """A business document names no Receiver: --to is required; its sealed copy is NAME.sealed.xml."""
    document = workdir.folder / "notification.json"
    document.write_bytes(px.to_json(px.from_xml(NOTIFICATION.read_bytes(), px.Envelope).document))
    code, _, err = workdir.send(document)
    assert code == EXIT_USAGE and "--to is needed for a bare business document" in err
    code, out, err = workdir.send(document, "--to", "MY:DOE")
    assert code == EXIT_OK, err
    kept = px.reopen((workdir.folder / "notification.sealed.xml").read_bytes(), trust=_trust(workdir))
    assert str(kept.message_id) == _field(out, "message") != SAMPLE_ID


def test_message_id_option_names_the_message_id(workdir: Sender) -> None:
    """--message-id signs with the id given; a bad one is a usage error."""
    chosen = str(uuid.uuid4())
    code, out, err = workdir.send(workdir.copy(NOTIFICATION), "--message-id", chosen)
    assert code == EXIT_OK, err
    assert _field(out, "message") == chosen
    code, _, err = workdir.send(workdir.copy(NOTIFICATION), "--message-id", "not-a-uuid")
    assert code == EXIT_USAGE and "--message-id 'not-a-uuid' is not a UUID" in err


def test_a_signed_envelope_of_ours_is_sent_unchanged(workdir: Sender) -> None:
    """The sealed copy sent again by name: same bytes, the partner answers the original receipt."""
    code, out, err = workdir.send(workdir.copy(NOTIFICATION), "--fresh")
    assert code == EXIT_OK, err
    message_id = _field(out, "message")
    sealed_copy = workdir.folder / "notification.sealed.xml"
    before = sealed_copy.read_bytes()
    code, out, err = workdir.send(sealed_copy)
    assert code == EXIT_OK, err
    assert "unchanged" in err
    assert _field(out, "message") == message_id
    assert sealed_copy.read_bytes() == before
    assert not (workdir.folder / "notification.sealed.sealed.xml").exists()
    assert workdir.received(message_id) == 1


def test_a_signature_is_replaced_only_with_resign_and_a_conflict_exits_4(workdir: Sender) -> None:
    """A signed envelope with --resign keeps its MessageId; new bytes under a delivered id are refused (409)."""
    code, out, err = workdir.send(workdir.copy(NOTIFICATION), "--fresh")
    assert code == EXIT_OK, err
    sealed_copy = workdir.folder / "notification.sealed.xml"
    code, _, err = workdir.send(sealed_copy, "--resign")
    assert code == EXIT_REFUSED, err
    assert "refused by MY:DOE (conflict)" in err and "--fresh" in err


def test_an_envelope_signed_by_another_key_is_refused_unless_resigned(workdir: Sender) -> None:
    """Signed as AU:DCCEEW but with a key that is not ours: exit 1 naming --resign; with --resign it goes."""
    now = dt.datetime.now(dt.UTC)
    other = make_test_pki(["AU:DCCEEW"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=9))
    envelope = px.from_xml(NOTIFICATION.read_bytes(), px.Envelope)
    header = envelope.header.model_copy(update={"message_id": uuid.uuid4(), "created": now})
    foreign = workdir.folder / "foreign.xml"
    foreign.write_bytes(px.sign(envelope.model_copy(update={"header": header}), other["AU:DCCEEW"].identity))
    code, _, err = workdir.send(foreign)
    assert code == EXIT_INVALID
    assert "not a genuine envelope of ours" in err and "--resign" in err
    code, out, err = workdir.send(foreign, "--resign")
    assert code == EXIT_OK, err
    assert _field(out, "message") == str(header.message_id)


def test_fresh_gives_a_sample_a_new_id_and_says_so(workdir: Sender) -> None:
    """The samples are older than the 30-day window; --fresh posts one as a new message and names its id."""
    code, out, err = workdir.send(workdir.copy(NOTIFICATION), "--fresh")
    assert code == EXIT_OK, err
    fresh = re.search(r"--fresh: new MessageId ([0-9a-f-]+), Created (\S+)", err)
    assert fresh is not None and fresh.group(1) != SAMPLE_ID
    assert _field(out, "message") == fresh.group(1)


def test_send_reads_standard_input_and_keeps_the_sealed_copy_where_told(workdir: Sender) -> None:
    """`send -` reads the message from stdin; without --sealed-out it warns that no copy is kept."""
    code, out, err = workdir.send("-", "--fresh", stdin=NOTIFICATION.read_bytes())
    assert code == EXIT_OK, err
    assert "no sealed copy kept" in err
    kept = workdir.folder / "kept.xml"
    code, out, err = workdir.send("-", "--fresh", "--sealed-out", kept, stdin=NOTIFICATION.read_bytes())
    assert code == EXIT_OK, err
    assert px.reopen(kept.read_bytes(), trust=_trust(workdir)).message_id == uuid.UUID(_field(out, "message"))


def test_send_exit_codes_for_invalid_input_usage_and_undelivered(
    workdir: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 an invalid message (nothing sent), 2 a directory or a missing file, 3 no receipt and no refusal."""
    code, _, err = workdir.send(ROOT / "samples" / "invalid" / "unknown-y-code.xml", "--to", "MY:DOE")
    assert code == EXIT_INVALID and "'Y99' is not a Basel Annex I/II code" in err
    code, _, err = workdir.send(workdir.folder)
    assert code == EXIT_USAGE and f"{workdir.folder} is a directory: give a file" in err
    code, _, err = workdir.send(workdir.folder / "missing.xml")
    assert code == EXIT_USAGE and "missing.xml: no such file" in err

    def unreachable(self: client_module.Client, sealed: px.Sealed, **options: object) -> px.Receipted:
        raise DeliveryError(f"cannot reach MY:DOE for {sealed.message_id}")

    monkeypatch.setattr(client_module.Client, "send", unreachable)
    code, _, err = workdir.send(workdir.copy(NOTIFICATION), "--fresh")
    assert code == EXIT_UNDELIVERED and "not delivered: cannot reach MY:DOE" in err


# ------------------------------------------------------------------------------------------------ sign


def _sign(workdir: Sender, path: str | Path, *extra: str | Path, stdin: bytes | None = None) -> tuple[int, str, str]:
    keys = workdir.keys
    return workdir.run(
        "sign", path, "--key", keys / "AU_DCCEEW.key.pem", "--cert", keys / "AU_DCCEEW.cert.pem", *extra, stdin=stdin
    )


def test_sign_refuses_an_invalid_envelope_with_its_problems(workdir: Sender) -> None:
    """Stage not ok: every problem printed as file:line: path: text, exit 1, nothing written."""
    code, out, err = _sign(workdir, ROOT / "samples" / "invalid" / "unknown-y-code.xml")
    assert code == EXIT_INVALID and out == ""
    assert "'Y99' is not a Basel Annex I/II code" in err


def test_sign_reads_stdin_writes_stdout_and_fresh_makes_a_new_message(workdir: Sender) -> None:
    """`sign - -o -` is a filter; --fresh gives a new MessageId and Created now, which a partner accepts."""
    code, out, err = _sign(workdir, "-", "-o", "-", "--fresh", stdin=NOTIFICATION.read_bytes())
    assert code == EXIT_OK, err
    fresh = re.search(r"--fresh: new MessageId ([0-9a-f-]+)", err)
    assert fresh is not None
    signed = out.encode("utf-8")
    verified = px.verify(signed, trust=_trust(workdir), freshness=px.Freshness())
    assert str(verified.envelope.header.message_id) == fresh.group(1) != SAMPLE_ID


def test_sign_refuses_to_replace_a_signature_unless_resign(workdir: Sender) -> None:
    """An envelope already signed: exit 1 naming --resign; with it, signed again with the same MessageId."""
    signed = workdir.folder / "signed.xml"
    assert _sign(workdir, NOTIFICATION, "-o", signed)[0] == EXIT_OK
    code, _, err = _sign(workdir, signed)
    assert code == EXIT_INVALID and "already signed; give --resign" in err
    again = workdir.folder / "again.xml"
    code, _, err = _sign(workdir, signed, "--resign", "-o", again)
    assert code == EXIT_OK, err
    assert px.from_xml(again.read_bytes()).header.message_id == uuid.UUID(SAMPLE_ID)


# ------------------------------------------------------------------------------------------- streams


def test_validate_and_convert_use_the_standard_streams(workdir: Sender) -> None:
    """`validate -` reads stdin (named <stdin>); `convert - --to json -o -` writes stdout."""
    code, out, _ = workdir.run("validate", "-", stdin=NOTIFICATION.read_bytes())
    assert code == EXIT_OK and "<stdin>: valid Envelope (Notification)" in out
    code, out, _ = workdir.run("convert", "-", "--to", "json", "-o", "-", stdin=NOTIFICATION.read_bytes())
    assert code == EXIT_OK and out.startswith('{\n  "Envelope"')


def test_a_directory_where_a_file_is_expected_is_named(workdir: Sender) -> None:
    """convert, sign and verify say the path is a directory (exit 2), never a traceback."""
    for args in (
        ("convert", workdir.folder, "--to", "json"),
        ("verify", workdir.folder, "--partners", workdir.keys / "partners.toml"),
    ):
        code, _, err = workdir.run(*args)
        assert code == EXIT_USAGE and "is a directory: give a file" in err, args
    code, _, err = _sign(workdir, workdir.folder)
    assert code == EXIT_USAGE and "is a directory: give a file" in err


def test_a_size_error_names_no_line_0(tmp_path: Path) -> None:
    """A file over the size bound is reported as file: /: text, without a line it does not have."""
    report = px.validate(NOTIFICATION.read_bytes(), limits=px.Limits(max_bytes=100))
    assert report.stage == "parse"
    (line,) = report.lines("big.xml")
    assert line.startswith("big.xml: /: document of ") and ":0:" not in line
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (px.DEFAULT_LIMITS.max_bytes + 1))
    result = CliRunner().invoke(app, ["convert", str(big), "--to", "xml"])
    assert result.exit_code == EXIT_INVALID
    assert f"{big}: /: document of" in result.stderr and ":0:" not in result.stderr
