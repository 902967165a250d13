"""The gateway's commands as an operator runs them: `picexchange token new` and `picexchange serve`."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
from pathlib import Path

from picexchange.gateway import Credentials, token_sha256
from picexchange.testpki import certificate_pem, make_test_pki, partners_toml, private_key_pem

CLI = Path(sys.executable).parent / "picexchange"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_token_new_prints_the_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    made = _run("token", "new", "--client", "customs", "--as", "MY:RMCD", "--expires", "2099-01-01", "--file", file)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("pxb_") and token not in file.read_text()
    second = _run("token", "new", "--client", "erp", "--as", "MY:DOE", "--as", "MY:RMCD", "--file", file)
    credentials = Credentials.from_toml_text(file.read_text(), source=str(file))
    assert [g.sha256 for g in credentials.tokens][0] == token_sha256(token)
    assert credentials.tokens[0].expires == dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    assert credentials.tokens[1].participants == {"MY:DOE", "MY:RMCD"} and second.returncode == 0
    now = dt.datetime.now(dt.UTC)
    assert credentials.authenticate(bearer=token, certificate=None, now=now).participants == {"MY:RMCD"}


def test_token_new_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    for args in (
        ["--as", "nobody"],
        ["--as", "MY:DOE", "--expires", "2001-01-01"],
        ["--as", "MY:DOE", "--expires", "soon"],
    ):
        result = _run("token", "new", "--client", "erp", *args, "--file", file)
        assert result.returncode == 2 and result.stdout == "" and not file.exists(), result.stderr
    file.write_text("not [toml")
    assert _run("token", "new", "--client", "erp", "--as", "MY:DOE", "--file", file).returncode == 2
    assert file.read_text() == "not [toml"


def _site(tmp_path: Path, *, backoffice: str) -> Path:
    now = dt.datetime.now(dt.UTC)
    pki = make_test_pki(["MY:DOE"], not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=2))
    item = pki["MY:DOE"]
    (tmp_path / "MY_DOE.cert.pem").write_bytes(certificate_pem(item.certificate))
    key = tmp_path / "MY_DOE.key.pem"
    key.write_bytes(private_key_pem(item.private_key))
    key.chmod(0o600)
    (tmp_path / "partners.toml").write_text(partners_toml(pki, me="MY:DOE"))
    (tmp_path / "tokens.toml").write_text("")
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[gateway]\npartners = "partners.toml"\nstore = "sqlite:gw.db"\n[partner]\nlisten = "127.0.0.1:0"\n'
        f'[backoffice]\nlisten = "{backoffice}"\ntokens = "tokens.toml"\n'
    )
    return config


def test_serve_reports_a_busy_port_once_and_never_says_it_started(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _site(tmp_path, backoffice=f"127.0.0.1:{taken.getsockname()[1]}")
        result = _run("serve", "--config", config)
    assert result.returncode == 2
    assert result.stderr.count("cannot listen on 127.0.0.1") == 1 and "backoffice.listen" in result.stderr
    assert "gateway started" not in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_back_office_beyond_loopback_without_tls(tmp_path: Path) -> None:
    result = _run("serve", "--config", _site(tmp_path, backoffice="0.0.0.0:8081"))  # noqa: S104
    assert result.returncode == 2 and "without TLS" in result.stderr and "Traceback" not in result.stderr


def test_serve_names_a_missing_tls_file_and_its_setting(tmp_path: Path) -> None:
    config = _site(tmp_path, backoffice="127.0.0.1:0")
    config.write_text(config.read_text() + "[partner.tls]\ncertificate = 'tls/server.pem'\nkey = 'tls/server.key'\n")
    result = _run("serve", "--config", config)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "partner.tls.certificate" in result.stderr and "tls/server.pem" in result.stderr


def test_serve_names_a_missing_tokens_file(tmp_path: Path) -> None:
    config = _site(tmp_path, backoffice="127.0.0.1:0")
    (tmp_path / "tokens.toml").unlink()
    result = _run("serve", "--config", config)
    assert result.returncode == 2 and "backoffice.tokens" in result.stderr and "tokens.toml" in result.stderr


def test_serve_reads_tokens_from_the_environment_variable_the_configuration_names(tmp_path: Path) -> None:
    config = _site(tmp_path, backoffice="127.0.0.1:0")
    config.write_text(config.read_text().replace('tokens = "tokens.toml"', 'tokens_env = "PX_TEST_TOKENS"'))
    result = _run("serve", "--config", config)
    assert result.returncode == 2 and "PX_TEST_TOKENS" in result.stderr and "backoffice.tokens_env" in result.stderr
