"""The validate, convert, send, serve and demo commands, run as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from picexchange.cli import app
from picexchange.gateway import BackofficeConfig, Credentials, GatewayConfig, PartnerConfig, build
from picexchange.testing import free_port, serve_in_thread
from picexchange.testpki import certificate_pem, make_test_pki, partners_toml, private_key_pem
from picexchange.trust import TrustStore

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "samples" / "messages"
INVALID = ROOT / "samples" / "invalid"


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def test_validate_exits_0_for_valid_files_and_names_each() -> None:
    code, out, _ = run("validate", MESSAGES / "plastic-au-my-01-notification.xml", MESSAGES / "max-export-data.xml")
    assert code == 0
    assert "plastic-au-my-01-notification.xml: valid Envelope (Notification)" in out
    assert "2 of 2 valid" in out


def test_validate_exits_1_and_prints_file_line_path_message() -> None:
    bad = INVALID / "unknown-y-code.xml"
    code, out, _ = run("validate", bad, MESSAGES / "plastic-au-my-01-notification.xml")
    assert code == 1
    expected = json.loads((INVALID / "expected.json").read_text())["unknown-y-code.xml"]["issues"][0]
    assert f"{bad}:{expected['line']}: {expected['path']}: " in out
    assert "'Y99' is not a Basel Annex I/II code" in out


def test_validate_walks_directories_and_reports_a_missing_path_as_usage_error(tmp_path: Path) -> None:
    code, out, _ = run("validate", "--quiet", MESSAGES)
    assert code == 0 and out == ""
    code, _, err = run("validate", tmp_path / "nowhere.xml")
    assert code == 2 and "no such file" in err
    code, _, err = run("validate", "--engine", "saxon", MESSAGES)
    assert code == 2 and "--engine" in err


def test_validate_with_xmlschema_agrees() -> None:
    code, out, _ = run("validate", "--engine", "xmlschema", INVALID / "unknown-y-code.xml")
    assert code == 1 and "'Y99' is not a Basel Annex I/II code" in out


def test_convert_to_json_and_back_gives_the_same_tree(tmp_path: Path) -> None:
    source = MESSAGES / "max-notification.xml"
    as_json = tmp_path / "n.json"
    back = tmp_path / "n.xml"
    assert run("convert", source, "--to", "json", "-o", as_json)[0] == 0
    assert json.loads(as_json.read_text())["Envelope"]["body"]["notification"]["notification_number"]
    assert run("convert", as_json, "--to", "xml", "-o", back)[0] == 0
    parser = etree.XMLParser(remove_blank_text=True)
    c14n = [etree.tostring(etree.parse(str(p), parser), method="c14n") for p in (source, back)]
    assert c14n[0] == c14n[1]


def test_convert_refuses_invalid_input_and_unknown_formats(tmp_path: Path) -> None:
    code, _, err = run("convert", INVALID / "unknown-y-code.xml", "--to", "json")
    assert code == 1 and "Y99" in err
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"Notification": {"notification_number": "X"}}')
    code, _, err = run("convert", bad_json, "--to", "xml")
    assert code == 1 and "required element ShipmentMode is missing" in err
    code, _, _ = run("convert", MESSAGES / "max-notification.xml", "--to", "yaml")
    assert code == 2


def test_every_command_has_help() -> None:
    for command in ("validate", "convert", "tour", "serve", "send", "demo", "keys", "sign", "verify", "token"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "Usage" in out, command


def test_help_paragraphs_flow_to_the_terminal_width_not_the_source_lines() -> None:
    """A command's later help paragraphs are wrapped by the terminal, not broken where the docstring's lines end
    (typer kept those breaks, so a wider or narrower terminal broke each line twice)."""
    result = CliRunner().invoke(app, ["send", "--help"], env={"COLUMNS": "300"}, terminal_width=300)
    assert result.exit_code == 0
    lines = [line.strip() for line in result.stdout.splitlines()]
    # Where the docstring's lines end ("sealed copy" / "beside the input", "which" / "the partner answers"), a wide
    # terminal's line goes on.
    assert any("kept in a sealed copy beside the input" in line for line in lines)
    assert any("unchanged, which the partner answers" in line for line in lines)
    assert any(
        line.startswith("Exit codes: 0 receipted") and line.endswith("refused by the partner.") for line in lines
    )


def test_send_signs_delivers_and_prints_the_receipt(tmp_path: Path) -> None:
    """`picexchange send` against a real gateway on loopback, configured from files as an operator does."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(
        ["AU:DCCEEW", "MY:DOE"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=9)
    )
    port = free_port()
    keys = tmp_path / "keys"
    keys.mkdir()
    for item in pki.participants:
        stem = item.id.replace(":", "_")
        (keys / f"{stem}.cert.pem").write_bytes(certificate_pem(item.certificate))
        key = keys / f"{stem}.key.pem"
        key.write_bytes(private_key_pem(item.private_key))
        key.chmod(0o600)
    registry = partners_toml(pki, me="AU:DCCEEW").replace(
        'endpoint = "https://my-doe.sw.test/ub/v1/messages"', f'endpoint = "http://127.0.0.1:{port}/ub/v1/messages"'
    )
    (keys / "partners.toml").write_text(registry)
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[gateway]\npartners = "keys/partners.toml"\nstore = "sqlite:au.db"\n'
        f'[partner]\nlisten = "127.0.0.1:{free_port()}"\n[backoffice]\nlisten = "127.0.0.1:0"\ntokens = "tokens.toml"\n'
    )
    receiver_trust = TrustStore.of(
        [dataclasses.replace(p.partner) for p in pki.participants], me=pki["MY:DOE"].identity
    )
    running = build(
        GatewayConfig(
            partners=tmp_path / "unused.toml",
            store=f"sqlite:///{tmp_path / 'my.db'}",
            partner=PartnerConfig(port=port),
            backoffice=BackofficeConfig(port=0),
        ),
        trust=receiver_trust,
        credentials=Credentials(),
    )
    notification = tmp_path / "notification.xml"  # the sealed copy is kept beside it, never in the samples
    notification.write_bytes((MESSAGES / "plastic-au-my-01-notification.xml").read_bytes())
    with serve_in_thread(running):
        code, out, err = run("send", notification, "--to", "MY:DOE", "--config", config)
        assert code == 0, err
        assert "receipted by MY:DOE" in out
        sent = out.split("digest sent", 1)[1].split()[0]
        receipted = out.split("digest receipted", 1)[1].split()[0]
        assert sent == receipted
        code, _, err = run("send", notification, "--to", "NZ:MFE", "--fresh", "--config", config)
        assert code == 2 and "NZ:MFE" in err


def test_serve_reports_a_bad_configuration_as_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\npartners = "p.toml"\nstore = "sqlite:x.db"\ncolour = "blue"\n')
    code, _, err = run("serve", "--config", config)
    assert code == 2 and "gateway.colour: unknown field" in err
    code, _, err = run("serve", "--config", tmp_path / "missing.toml")
    assert code == 2 and "cannot read the gateway configuration" in err


@pytest.mark.timeout(120)
def test_the_demo_walks_the_case_and_exits_0() -> None:
    """The README's main job, as a subprocess: two Single Windows, five messages, all receipted; both hold the case.

    The messages come from the packaged flow plastic-au-my, not from the working directory.
    """
    result = subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "picexchange", "demo"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of 5 messages receipted for exactly the bytes sent" in result.stdout
    for kind in ("Notification", "Acknowledgement", "ConsentDecision", "MovementAnnouncement", "ExportData"):
        assert kind in result.stdout
    # Both Single Windows folded the same case from what they sent and received; the export data was not held.
    for side in ("AU:DCCEEW + AU:ABF", "MY:DOE + MY:RMCD"):
        assert (
            f"case AU2026-0107 at {side}: notified; MY consented; shipments 1 used, 2 left; 19.84 TNE exported; "
            "5 messages; nothing blocks a new shipment"
        ) in result.stdout
    assert "held automatically" not in result.stdout
